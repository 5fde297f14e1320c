//go:build pins

// Package pins keeps the versions of libraries that the speaker is built on
// (memberlist, ARP, NDP, GoBGP) recorded in go.mod before the packages that
// use them exist; `go mod tidy` honours every build tag, so this file holds
// them without being compiled. Each import leaves as soon as a real package
// (speaker/members, speaker/layer2, speaker/bgp) imports the library.
package pins

import (
	_ "github.com/hashicorp/memberlist"
	_ "github.com/mdlayher/arp"
	_ "github.com/mdlayher/ndp"
	_ "github.com/osrg/gobgp/v3/pkg/server"
)
