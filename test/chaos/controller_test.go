//go:build e2e

package chaos

import (
	"os/exec"
	"sync"
	"testing"

	"github.com/ironlb/ironlb/test/proc"
	"github.com/ironlb/ironlb/test/testenv"
)

// controllers runs the controller binary against env, one process at a
// time; restart SIGKILLs the running one first. The last one is killed
// when the test ends.
type controllers struct {
	t   *testing.T
	env *testenv.Env

	mu      sync.Mutex
	running *proc.Proc
}

func (c *controllers) restart() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.running == nil {
		c.t.Cleanup(c.kill)
	} else {
		c.running.Kill()
	}
	p, err := proc.Start("controller", exec.Command(controllerBin, "--kubeconfig", c.env.Kubeconfig, "--namespace", "metallb-system",
		"--port", "0", "--health-probe-port", "0", "--webhook-mode", "disabled", "--log-level", "error"))
	if err != nil {
		c.t.Errorf("%v", err)
		return
	}
	c.running = p
}

func (c *controllers) kill() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.running != nil {
		c.running.Kill()
	}
}

// output is what the running controller printed.
func (c *controllers) output() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.running == nil {
		return ""
	}
	return c.running.All()
}
