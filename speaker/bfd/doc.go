// Package bfd is IronLB's Bidirectional Forwarding Detection: RFC 5880's
// asynchronous mode without authentication, over UDP as RFC 5881 (single
// hop) and RFC 5883 (multihop) carry it. A BGP session whose BGPPeer names
// a BFDProfile learns within detectMultiplier × the negotiated interval
// that the path to its router is gone, instead of waiting out the hold
// time.
//
// The package is small on purpose: ControlPacket is the codec (fuzzed),
// Session the state machine (pure: packets and the time in, transitions
// and packets out), and the I/O around them lives apart. It is written
// here rather than taken from a library: the Go BFD implementations found
// are unmaintained or tied to their own daemons, the protocol's core is a
// few hundred lines, and owning it lets the state machine be table-tested
// on an injected clock like the rest of the speaker.
//
// Not implemented, and refused where a BFDProfile asks for them: the echo
// function (echoMode), demand mode, and authentication.
package bfd
