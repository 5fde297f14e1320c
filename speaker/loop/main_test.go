package loop

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package's tests when any goroutine outlives them:
// every goroutine here has an owner and stops with its context.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
