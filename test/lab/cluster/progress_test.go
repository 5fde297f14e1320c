package cluster

import (
	"bytes"
	"errors"
	"regexp"
	"testing"
)

func TestPrinter(t *testing.T) {
	tests := []struct {
		name string
		tty  bool
		err  error
		want string
	}{
		{"plain text, success", false, nil, `^ ✓ Starting nodes \(\d+\.\ds\)\n$`},
		{"plain text, failure", false, errors.New("x"), `^ ✗ Starting nodes \(\d+\.\ds\)\n$`},
		{"terminal: the running line is rewritten", true, nil, `^ • Starting nodes \.\.\.\r\x1b\[K ✓ Starting nodes \(\d+\.\ds\)\n$`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			p := &Printer{W: &b, TTY: tc.tty}
			p.Step("Starting nodes")(tc.err)
			if !regexp.MustCompile(tc.want).MatchString(b.String()) {
				t.Errorf("printed %q, want %s", b.String(), tc.want)
			}
		})
	}
	var b bytes.Buffer
	if NewPrinter(&b).TTY {
		t.Error("a buffer taken for a terminal")
	}
}
