package main

import (
	"testing"
	"time"
)

// The lab preset reproduces the lab's measurements within 20 %: a change
// of the model that breaks one fails here (the table go run prints says
// which and by how much).
func TestValidation(t *testing.T) {
	for _, v := range validate(200, 2*time.Minute, 1) {
		if v.m.asserted && !v.holds() {
			t.Errorf("%s, %s, %d nodes: measured %.0f, simulated %.1f (%+.0f %%)",
				v.m.describe(), v.m.harness.describe(), v.m.nodes, v.m.value, v.simulated, 100*v.relErr())
		}
	}
}
