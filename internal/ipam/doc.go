// Package ipam decides which external IPs each LoadBalancer Service gets:
// pool choice, pinned IPs, IP sharing and dual-stack, over address ranges
// kept as free intervals so that no allocation scans a pool.
//
// It is pure logic with no Kubernetes imports; the controller turns Services
// and IPAddressPools into the plain values declared here and applies the
// decisions. Not safe for concurrent use: the controller serializes calls.
package ipam
