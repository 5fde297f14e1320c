// Package chaos breaks IronLB on purpose and counts what a user would
// notice: an allocation storm with the controller SIGKILLed again and
// again (duplicate, missing and changed IPs), and on real packets
// (test/l2lab) speakers restarted one by one, a node cut from the others'
// memberlist traffic, an invalid configuration that bypasses the webhook,
// and an apiserver restart (probes lost, IPs changed). Every test prints
// its figures as a table and fails on the figures that must be zero.
//
// `go test ./test/chaos` runs a reduced scale (as make test does);
// `make chaos` runs the full one (flags below, CHAOS_ARGS to change them).
package chaos
