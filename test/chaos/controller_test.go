//go:build e2e

package chaos

import (
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/ironlb/ironlb/test/testenv"
)

// controllers runs the controller binary against env, one process at a
// time; restart SIGKILLs the running one first. The last one is killed
// when the test ends.
type controllers struct {
	t   *testing.T
	env *testenv.Env

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
	out  *strings.Builder
	outM *sync.Mutex
}

func (c *controllers) restart() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cmd == nil {
		c.t.Cleanup(c.kill)
	} else {
		c.killLocked()
	}
	out := &lockedBuilder{}
	cmd := exec.Command(controllerBin, "--kubeconfig", c.env.Kubeconfig, "--namespace", "metallb-system",
		"--port", "0", "--health-probe-port", "0", "--webhook-mode", "disabled", "--log-level", "error")
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		c.t.Errorf("starting the controller: %v", err)
		return
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	c.cmd, c.done, c.out, c.outM = cmd, done, &out.b, &out.mu
}

func (c *controllers) kill() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.killLocked()
}

func (c *controllers) killLocked() {
	if c.cmd == nil {
		return
	}
	_ = c.cmd.Process.Signal(syscall.SIGKILL)
	<-c.done
}

// output is what the running controller printed.
func (c *controllers) output() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.out == nil {
		return ""
	}
	c.outM.Lock()
	defer c.outM.Unlock()
	return c.out.String()
}

type lockedBuilder struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuilder) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}
