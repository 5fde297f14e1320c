package members

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"hash"
)

// The watch's pings (loop.Watcher) go to a few members ten times a second,
// and as memberlist pings each cost both ends a trip through memberlist:
// decryption, msgpack, a hand-over between goroutines, a cleanup timer.
// An echo is the same question on the same UDP port, answered by the
// transport's reading goroutine itself: a few dozen bytes authenticated
// with a key derived from the memberlist key, so that only members can
// ask or answer, and naming the member asked, so that an address now held
// by another member does not answer for the old one (memberlist's pings
// name their target for the same reason).
//
// Members that answer echoes say so in their memberlist metadata
// (echoMeta); the others (earlier IronLB versions during a rolling
// upgrade) are pinged through memberlist as before.
//
// Request: echoRequest, name length, name, nonce (8 bytes), MAC (16).
// Answer:  echoAnswer, nonce (8 bytes), MAC (16).
// The MAC is HMAC-SHA256 over everything before it, truncated.
const (
	// echoRequest and echoAnswer are first bytes memberlist never sends:
	// its message types are below 20 and its label header 244; with
	// encryption on, its packets start with the encryption version, 0
	// or 1.
	echoRequest  byte = 0xe1
	echoAnswer   byte = 0xe2
	echoMACLen        = 16
	echoNonceLen      = 8
)

// echoMeta is a member's metadata while it answers echoes and is not
// leaving (leavingMeta then).
const echoMeta = "echo"

// errEchoInvalid: not an echo this member can accept.
var errEchoInvalid = errors.New("members: invalid echo")

// echoKey is the MAC key, derived from the memberlist key so that the
// same secret is not used for two purposes.
func echoKey(secret []byte) []byte {
	h := hmac.New(sha256.New, secret)
	h.Write([]byte("ironlb watch echo v1"))
	return h.Sum(nil)
}

// echoMACer computes echo MACs with one keyed HMAC, reset for each: a new
// one per packet was a tenth of a speaker's CPU at rest. Not safe for
// concurrent use.
type echoMACer struct {
	h   hash.Hash
	sum []byte
}

func newEchoMACer(key []byte) *echoMACer {
	return &echoMACer{h: hmac.New(sha256.New, key), sum: make([]byte, 0, sha256.Size)}
}

// mac is msg's MAC, valid until the next call.
func (m *echoMACer) mac(msg []byte) []byte {
	m.h.Reset()
	m.h.Write(msg)
	m.sum = m.h.Sum(m.sum[:0])
	return m.sum[:echoMACLen]
}

// appendEchoRequest appends the request asking member name, with nonce,
// to b.
func appendEchoRequest(b []byte, m *echoMACer, name string, nonce uint64) []byte {
	start := len(b)
	b = append(b, echoRequest, byte(len(name)))
	b = append(b, name...)
	b = binary.BigEndian.AppendUint64(b, nonce)
	return append(b, m.mac(b[start:])...)
}

// parseEchoRequest returns the nonce of a valid request naming name.
func parseEchoRequest(p []byte, m *echoMACer, name string) (uint64, error) {
	if len(p) < 2 || p[0] != echoRequest {
		return 0, errEchoInvalid
	}
	n := int(p[1])
	if len(p) != 2+n+echoNonceLen+echoMACLen || string(p[2:2+n]) != name {
		return 0, errEchoInvalid
	}
	body := p[:len(p)-echoMACLen]
	if !hmac.Equal(m.mac(body), p[len(body):]) {
		return 0, errEchoInvalid
	}
	return binary.BigEndian.Uint64(body[2+n:]), nil
}

// appendEchoAnswer appends the answer to the request with nonce to b.
func appendEchoAnswer(b []byte, m *echoMACer, nonce uint64) []byte {
	start := len(b)
	b = append(b, echoAnswer)
	b = binary.BigEndian.AppendUint64(b, nonce)
	return append(b, m.mac(b[start:])...)
}

// parseEchoAnswer returns the nonce of a valid answer.
func parseEchoAnswer(p []byte, m *echoMACer) (uint64, error) {
	if len(p) != 1+echoNonceLen+echoMACLen || p[0] != echoAnswer {
		return 0, errEchoInvalid
	}
	body := p[:1+echoNonceLen]
	if !hmac.Equal(m.mac(body), p[len(body):]) {
		return 0, errEchoInvalid
	}
	return binary.BigEndian.Uint64(body[1:]), nil
}

// isEcho tells an echo from a memberlist packet by its first byte.
func isEcho(p []byte) bool { return len(p) > 0 && (p[0] == echoRequest || p[0] == echoAnswer) }
