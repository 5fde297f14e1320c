package main

import (
	"bufio"
	"errors"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// helperEnv makes the test binary act as pause (see TestMain), so the test
// exercises the real process: signals, subreaper and all.
const helperEnv = "IRONLB_PAUSE_HELPER"

func TestMain(m *testing.M) {
	switch os.Getenv(helperEnv) {
	case "":
		os.Exit(m.Run())
	case "zombie":
		// A child that exits at once and that nobody waits for but pause.
		c := exec.Command("/bin/true")
		if err := c.Start(); err != nil {
			panic(err)
		}
		os.Stdout.WriteString(strconv.Itoa(c.Process.Pid) + "\n")
		// The child may exit before run installs its handlers: run must
		// collect it anyway.
	}
	os.Exit(run(func() { os.Stdout.WriteString("ready\n") }))
}

func startPause(t *testing.T, mode string) (*exec.Cmd, *bufio.Reader) {
	t.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), helperEnv+"="+mode)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	return cmd, bufio.NewReader(out)
}

func TestPauseExitsZeroOnSignal(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			cmd, out := startPause(t, "plain")
			// A signal before the handlers are in would kill it with the
			// default action instead of testing the exit code.
			if line, err := out.ReadString('\n'); line != "ready\n" {
				t.Fatalf("pause did not get ready: %q, %v", line, err)
			}
			if err := cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("pause after %v: %v, want exit 0", sig, err)
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("pause still running 10 s after %v", sig)
			}
		})
	}
}

func TestPauseReapsChildren(t *testing.T) {
	_, out := startPause(t, "zombie")
	line, err := out.ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	child := strings.TrimSpace(line)
	deadline := time.Now().Add(10 * time.Second)
	for {
		// A zombie keeps its /proc entry until its parent waits for it.
		_, err := os.Stat("/proc/" + child)
		if errors.Is(err, os.ErrNotExist) {
			return
		}
		if time.Now().After(deadline) {
			stat, _ := os.ReadFile("/proc/" + child + "/stat")
			t.Fatalf("child %s not reaped after 10 s: %s", child, stat)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
