package proc

import (
	"errors"
	"os/exec"
	"syscall"
	"testing"
	"time"
)

func TestOutputAndExitStatus(t *testing.T) {
	p, err := Start("sh", exec.Command("sh", "-c", "echo one; echo two >&2; echo three; exit 3"))
	if err != nil {
		t.Fatal(err)
	}
	<-p.Exited()
	var exit *exec.ExitError
	if err := p.Err(); !errors.As(err, &exit) || exit.ExitCode() != 3 {
		t.Errorf("Err() = %v, want exit status 3", err)
	}
	if got := p.Output(2); got != "two\nthree" {
		t.Errorf("Output(2) = %q, want the last two lines", got)
	}
	if p.Running() {
		t.Error("Running after exit")
	}
	if err := p.Signal(syscall.SIGTERM); err != nil {
		t.Errorf("signalling an exited process: %v", err)
	}
}

func TestStopAndKill(t *testing.T) {
	p, err := Start("sleep", exec.Command("sleep", "60"))
	if err != nil {
		t.Fatal(err)
	}
	if !p.Running() {
		t.Fatal("not running")
	}
	exited, err := p.Stop(syscall.SIGTERM, 5*time.Second)
	var exit *exec.ExitError
	if !exited || !errors.As(err, &exit) || exit.ProcessState.Sys().(syscall.WaitStatus).Signal() != syscall.SIGTERM {
		t.Errorf("Stop = %t, %v; want exited by SIGTERM", exited, err)
	}

	// A process that ignores SIGTERM outlives Stop's limit; Kill ends it.
	p, err = Start("stubborn", exec.Command("sh", "-c", "trap '' TERM; echo ready; while :; do sleep 0.05; done"))
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); p.All() == ""; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the shell never got ready")
		}
	}
	if exited, _ := p.Stop(syscall.SIGTERM, 100*time.Millisecond); exited {
		t.Fatal("a process ignoring SIGTERM exited")
	}
	p.Kill()
	if p.Running() {
		t.Error("running after Kill")
	}
}
