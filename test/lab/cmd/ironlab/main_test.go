package main

import (
	"context"
	"errors"
	"flag"
	"slices"
	"strings"
	"testing"
)

func TestNameFlag(t *testing.T) {
	tests := []struct {
		args     []string
		n        int
		wantName string
		wantPos  []string
		wantErr  bool
	}{
		{args: nil, n: 0, wantName: "myk8s", wantPos: nil},
		{args: []string{"--name", "lab"}, n: 0, wantName: "lab"},
		{args: []string{"img.tar", "--name", "lab"}, n: 1, wantName: "lab", wantPos: []string{"img.tar"}},
		{args: []string{"--name=lab", "img.tar"}, n: 1, wantName: "lab", wantPos: []string{"img.tar"}},
		{args: []string{"a", "b"}, n: 1, wantErr: true},
		{args: []string{"--bogus"}, n: 0, wantErr: true},
	}
	for _, tc := range tests {
		name, pos, err := nameFlag("test", tc.args, tc.n)
		if (err != nil) != tc.wantErr {
			t.Errorf("%q: err = %v, want error %t", tc.args, err, tc.wantErr)
			continue
		}
		if !tc.wantErr && (name != tc.wantName || !slices.Equal(pos, tc.wantPos)) {
			t.Errorf("%q: name %q pos %q, want %q %q", tc.args, name, pos, tc.wantName, tc.wantPos)
		}
	}
}

func TestRunUsage(t *testing.T) {
	for _, args := range [][]string{nil, {"create"}, {"frobnicate", "cluster"}, {"node"}} {
		if err := run(context.Background(), args); !errors.Is(err, flag.ErrHelp) {
			t.Errorf("run(%q) = %v, want the usage", args, err)
		}
	}
	if err := run(context.Background(), []string{"node", "stop", "x", "--signal", "3"}); err == nil || !strings.Contains(err.Error(), "want 9 or 15") {
		t.Errorf("node stop --signal 3: %v, want it refused", err)
	}
	for _, op := range []string{"stop", "start", "pause", "unpause"} {
		if err := run(context.Background(), []string{"node", op, "x", "--name", "no-such-lab-xyz"}); err == nil || !strings.Contains(err.Error(), "no-such-lab-xyz") {
			t.Errorf("node %s --name on a missing cluster: %v, want an error naming it", op, err)
		}
	}
	if err := run(context.Background(), []string{"node", "pause", "x", "--signal", "15"}); err == nil || !strings.Contains(err.Error(), "node stop only") {
		t.Errorf("node pause --signal 15: %v, want it refused", err)
	}
	if err := run(context.Background(), []string{"client", "probe"}); err == nil || !strings.Contains(err.Error(), "client probe CLIENT") {
		t.Errorf("client probe without a client: %v, want its usage", err)
	}
	if err := run(context.Background(), []string{"client", "probe", "mypc", "--name", "no-such-lab-xyz"}); err == nil || !strings.Contains(err.Error(), "no-such-lab-xyz") {
		t.Errorf("client probe on a missing cluster: %v, want an error naming it", err)
	}
}
