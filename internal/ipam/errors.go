package ipam

import "errors"

// Sentinel errors; every error returned wraps one of them and says which
// Service, IP or pool is involved.
var (
	// ErrExhausted: the pools that may serve the Service have no free IP.
	ErrExhausted = errors.New("no available IPs")
	// ErrNoPool: no pool may serve the Service automatically.
	ErrNoPool = errors.New("no matching pool")
	// ErrUnknownPool: the requested pool does not exist.
	ErrUnknownPool = errors.New("unknown pool")
	// ErrNotInPool: a requested IP is in no pool.
	ErrNotInPool = errors.New("IP not in any pool")
	// ErrInUse: a requested IP is held by a Service it cannot be shared with.
	ErrInUse = errors.New("IP in use")
	// ErrNotAllowed: the pool's serviceAllocation excludes the Service, or
	// the pool avoids a requested buggy IP.
	ErrNotAllowed = errors.New("not allowed")
	// ErrFamily: the request and the Service's IP families disagree, or no
	// pool offers a needed family.
	ErrFamily = errors.New("IP family not available")
)
