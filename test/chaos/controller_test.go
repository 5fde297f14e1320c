//go:build e2e

package chaos

import (
	"context"
	"fmt"
	"os/exec"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/ironlb/ironlb/test/proc"
	"github.com/ironlb/ironlb/test/testenv"
)

// controllerReplicas is how many controller processes run at once, as the
// chart installs them: they take turns through the Lease.
const controllerReplicas = 2

// leaderWait bounds how long killLeader waits for a live replica to lead:
// the Lease of a killed leader expires after 5 s, and a standby notices
// within about 2.4 s more.
const leaderWait = 30 * time.Second

// controllers runs controller replicas against env with leader election,
// as the chart does. killLeader SIGKILLs the one leading and starts a
// replacement under a new name, as a Deployment replaces a lost pod; the
// rest are killed when the test ends.
type controllers struct {
	t   *testing.T
	env *testenv.Env
	cs  kubernetes.Interface

	mu      sync.Mutex
	running map[string]*proc.Proc
	started int
}

func newControllers(t *testing.T, env *testenv.Env, cs kubernetes.Interface) *controllers {
	c := &controllers{t: t, env: env, cs: cs, running: map[string]*proc.Proc{}}
	t.Cleanup(c.killAll)
	for range controllerReplicas {
		c.start()
	}
	return c
}

// start runs one more replica.
func (c *controllers) start() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.started++
	name := fmt.Sprintf("controller-%d", c.started)
	p, err := proc.Start(name, exec.Command(controllerBin, "--kubeconfig", c.env.Kubeconfig, "--namespace", "metallb-system",
		"--port", "0", "--health-probe-port", "0", "--webhook-mode", "disabled", "--log-level", "error",
		"--leader-elect", "--pod-name", name))
	if err != nil {
		c.t.Errorf("%v", err)
		return
	}
	c.running[name] = p
}

// leader is the replica the Lease names, if it is one of the running ones.
func (c *controllers) leader(ctx context.Context) (string, bool) {
	l, err := c.cs.CoordinationV1().Leases("metallb-system").Get(ctx, "ironlb-controller", metav1.GetOptions{})
	if err != nil || l.Spec.HolderIdentity == nil {
		return "", false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.running[*l.Spec.HolderIdentity]
	return *l.Spec.HolderIdentity, ok
}

// waitLeader waits until a running replica leads and returns its name.
func (c *controllers) waitLeader() (string, bool) {
	ctx := context.Background()
	deadline := time.Now().Add(leaderWait)
	name, ok := c.leader(ctx)
	for !ok && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
		name, ok = c.leader(ctx)
	}
	if !ok {
		c.t.Errorf("no running controller replica led within %s (the Lease names %q)", leaderWait, name)
	}
	return name, ok
}

// killLeader waits until a running replica leads, SIGKILLs it and starts
// its replacement. Every call is thus one leader change. It returns when
// the kill was sent.
func (c *controllers) killLeader() time.Time {
	name, ok := c.waitLeader()
	if !ok {
		return time.Time{}
	}
	killed := time.Now()
	c.mu.Lock()
	c.running[name].Kill()
	delete(c.running, name)
	c.mu.Unlock()
	c.start()
	return killed
}

func (c *controllers) killAll() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, p := range c.running {
		p.Kill()
	}
}

// output is what the running replicas printed.
func (c *controllers) output() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out string
	for name, p := range c.running {
		out += fmt.Sprintf("--- %s\n%s", name, p.All())
	}
	return out
}
