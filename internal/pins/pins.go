//go:build pins

// Package pins keeps the version of GoBGP recorded in go.mod before
// speaker/bgp imports it; `go mod tidy` honours every build tag, so this
// file holds it without being compiled. It goes when speaker/bgp arrives.
package pins

import (
	_ "github.com/osrg/gobgp/v3/pkg/server"
)
