package apply

import (
	"errors"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"

	"github.com/keeldb/keel/mvcc"
)

// Errors for requests that are refused. Each maps to one etcd rpctypes error in server/errors.go.
// mvcc.ErrCompacted and mvcc.ErrFutureRev are passed through unwrapped-comparable (errors.Is).
var (
	ErrEmptyKey          = errors.New("apply: key is not provided")
	ErrKeyNotFound       = errors.New("apply: key not found")
	ErrValueProvided     = errors.New("apply: value is provided")
	ErrLeaseProvided     = errors.New("apply: lease is provided")
	ErrTooManyOps        = errors.New("apply: too many operations in txn request")
	ErrDuplicateKey      = errors.New("apply: duplicate key given in txn request")
	ErrInvalidSortOption = errors.New("apply: invalid sort option")
	ErrLeaseNotFound     = errors.New("apply: requested lease not found")
	ErrRequestTooLarge   = errors.New("apply: request is too large")
)

// Limits are the request limits checked before a request reaches the raft log.
type Limits struct {
	// MaxTxnOps caps compares and ops per txn branch (etcd --max-txn-ops). Default 128.
	MaxTxnOps int
	// MaxRequestBytes caps the encoded request size (etcd --max-request-bytes). Default 1.5 MiB.
	MaxRequestBytes int
}

// Leases answers whether a lease exists at apply time. A nil Leases means no lease exists.
type Leases interface {
	LeaseExists(id int64) bool
}

// Compile-time use of imports in the stub.
var _ = mvcc.ErrCompacted
var _ *pb.RangeRequest
