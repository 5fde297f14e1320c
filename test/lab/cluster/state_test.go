package cluster

import (
	"os"
	"testing"
)

func TestProcessAlive(t *testing.T) {
	if !self().Alive() {
		t.Error("this process is not alive")
	}
	if (Process{PID: os.Getpid(), Start: "1"}).Alive() {
		t.Error("a reused PID taken for the same process")
	}
	if (Process{}).Alive() {
		t.Error("no process is alive")
	}
}
