// Package proc supervises the child processes the test harness starts (the
// controller and speaker binaries, helpers in namespaces): started with
// their output kept, killed with the process that started them, and waited
// for exactly once, so every caller can ask whether and how one ended.
package proc

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Proc is a started child process.
type Proc struct {
	Name    string
	Cmd     *exec.Cmd
	Started time.Time

	mu  sync.Mutex
	out strings.Builder

	done    chan struct{}
	waitErr error // set before done closes
}

// Start starts cmd. Its stdout and stderr go to the Proc (Output) unless
// the caller set them. The child gets SIGKILL when the starting thread's
// process dies, so a test killed before its cleanup ran leaves nothing
// behind.
func Start(name string, cmd *exec.Cmd) (*Proc, error) {
	p := &Proc{Name: name, Cmd: cmd, done: make(chan struct{})}
	if cmd.Stdout == nil {
		cmd.Stdout = p
	}
	if cmd.Stderr == nil {
		cmd.Stderr = p
	}
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	if cmd.WaitDelay == 0 {
		// A grandchild that inherited the output pipe would otherwise keep
		// Wait (and Exited) waiting after the process itself has ended.
		cmd.WaitDelay = time.Second
	}
	p.Started = time.Now()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	go func() {
		p.waitErr = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// Write keeps what the process prints.
func (p *Proc) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.Write(b)
}

// All returns everything the process printed so far.
func (p *Proc) All() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

// Output returns the last lines the process printed.
func (p *Proc) Output(lines int) string { return LastLines(p.All(), lines) }

// LastLines is the last n lines of text.
func LastLines(text string, n int) string {
	all := strings.Split(strings.TrimRight(text, "\n"), "\n")
	if len(all) > n {
		all = all[len(all)-n:]
	}
	return strings.Join(all, "\n")
}

// Exited is closed once the process has exited.
func (p *Proc) Exited() <-chan struct{} { return p.done }

// Running reports whether the process still runs.
func (p *Proc) Running() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// Err is how the process ended (nil: exit status 0); only meaningful
// once Exited is closed.
func (p *Proc) Err() error {
	<-p.done
	return p.waitErr
}

// Signal sends sig; a process that has exited is not an error.
func (p *Proc) Signal(sig syscall.Signal) error {
	if err := p.Cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("signalling %s: %w", p.Name, err)
	}
	return nil
}

// Kill sends SIGKILL and waits until the process has exited.
func (p *Proc) Kill() {
	_ = p.Cmd.Process.Kill()
	<-p.done
}

// Stop sends sig and waits at most limit for the process to exit; it
// reports whether it did, and how.
func (p *Proc) Stop(sig syscall.Signal, limit time.Duration) (exited bool, err error) {
	if err := p.Signal(sig); err != nil {
		return false, err
	}
	t := time.NewTimer(limit)
	defer t.Stop()
	select {
	case <-p.done:
		return true, p.waitErr
	case <-t.C:
		return false, nil
	}
}
