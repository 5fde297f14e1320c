// Command pause is the pod sandbox image's only process: it holds the pod's
// namespaces open by sleeping forever, reaps orphans reparented to it (it is
// PID 1 of the pod's PID namespace when that is shared), and exits 0 on
// SIGINT or SIGTERM, as registry.k8s.io/pause does.
package main

import (
	"fmt"
	"os"
	"os/signal"

	"golang.org/x/sys/unix"
)

// version is what -v prints; the image is tagged registry.k8s.io/pause:3.10,
// the sandbox image the lab's containerd is configured with.
const version = "ironlb-pause 3.10"

func main() {
	if len(os.Args) > 1 && os.Args[1] == "-v" {
		fmt.Println(version)
		return
	}
	os.Exit(run(func() {}))
}

// run waits for signals until told to stop, and returns the exit code. It
// calls ready once the handlers are in place.
func run(ready func()) int {
	if os.Getpid() != 1 {
		// Not fatal: tests and debugging run it as a plain process. Become the
		// reaper of our descendants anyway, so they behave the same there.
		fmt.Fprintln(os.Stderr, "Warning: pause should be the first process")
		_ = unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
	}
	sigs := make(chan os.Signal, 16)
	signal.Notify(sigs, unix.SIGINT, unix.SIGTERM, unix.SIGCHLD)
	ready()
	// Children that exited before Notify sent a SIGCHLD nobody saw.
	reap()
	for s := range sigs {
		if s == unix.SIGCHLD {
			reap()
			continue
		}
		return 0
	}
	return 0
}

// reap collects every child that has exited. Signals coalesce, so one
// SIGCHLD may stand for many children: loop until none is left to collect.
func reap() {
	for {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
		if err == unix.EINTR {
			continue
		}
		if pid <= 0 || err != nil {
			return
		}
	}
}
