package raftstore

import (
	"errors"

	"github.com/keeldb/keel/apply"
	"github.com/keeldb/keel/lease"
	"github.com/keeldb/keel/mvcc"
)

// Errors returned by Node operations. The server maps them to etcd's rpctypes errors.
var (
	// ErrNoLeader means no leader is known (within the wait a request allows).
	ErrNoLeader = errors.New("raftstore: no leader")
	// ErrNotLeader is returned by leader-only operations called on another member.
	ErrNotLeader = errors.New("raftstore: not leader")
	// ErrLeaderChanged means leadership changed while a request was in flight; a write's
	// outcome is unknown.
	ErrLeaderChanged = errors.New("raftstore: leader changed")
	// ErrTimeout means a proposal or read did not finish in time; a write's outcome is unknown.
	ErrTimeout = errors.New("raftstore: request timed out")
	// ErrStopped means the node is shutting down.
	ErrStopped = errors.New("raftstore: server stopped")
)

// errorCodes names every error that may cross the Peer RPC in a ProposeResponse, so a
// follower hands its client the same sentinel the leader produced.
var errorCodes = map[string]error{
	"no_leader":           ErrNoLeader,
	"not_leader":          ErrNotLeader,
	"leader_changed":      ErrLeaderChanged,
	"timeout":             ErrTimeout,
	"stopped":             ErrStopped,
	"compacted":           mvcc.ErrCompacted,
	"future_rev":          mvcc.ErrFutureRev,
	"empty_key":           apply.ErrEmptyKey,
	"key_not_found":       apply.ErrKeyNotFound,
	"value_provided":      apply.ErrValueProvided,
	"lease_provided":      apply.ErrLeaseProvided,
	"too_many_ops":        apply.ErrTooManyOps,
	"duplicate_key":       apply.ErrDuplicateKey,
	"invalid_sort":        apply.ErrInvalidSortOption,
	"lease_not_found":     apply.ErrLeaseNotFound,
	"request_too_large":   apply.ErrRequestTooLarge,
	"lease_missing":       lease.ErrNotFound,
	"lease_exists":        lease.ErrExists,
	"lease_ttl_too_large": lease.ErrTTLTooLarge,
	"lease_not_primary":   lease.ErrNotPrimary,
}

// errorCode returns the wire code of err ("internal: <message>" for anything unnamed).
func errorCode(err error) string {
	for code, e := range errorCodes {
		if errors.Is(err, e) {
			return code
		}
	}
	return "internal: " + err.Error()
}

// errorFromCode is the inverse of errorCode.
func errorFromCode(code string) error {
	if e, ok := errorCodes[code]; ok {
		return e
	}
	return errors.New("raftstore: leader: " + code)
}
