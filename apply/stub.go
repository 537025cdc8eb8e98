package apply

import (
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"

	"github.com/keeldb/keel/mvcc"
)

// ValidateRange checks a RangeRequest before it is served.
func ValidateRange(r *pb.RangeRequest) error { panic("apply: not implemented") }

// ValidatePut checks a PutRequest before it is proposed (empty key, ignore_value/ignore_lease).
func ValidatePut(r *pb.PutRequest) error { panic("apply: not implemented") }

// ValidateDeleteRange checks a DeleteRangeRequest before it is proposed.
func ValidateDeleteRange(r *pb.DeleteRangeRequest) error { panic("apply: not implemented") }

// ValidateTxn checks a TxnRequest before it is proposed: op limits (nested txns count against
// what is left), empty keys, empty RequestOps, nested validation, duplicate-key rule.
func ValidateTxn(r *pb.TxnRequest, lim Limits) error { panic("apply: not implemented") }

// IsReadOnlyTxn reports whether no branch of r (recursively) writes.
func IsReadOnlyTxn(r *pb.TxnRequest) bool { panic("apply: not implemented") }

// Range serves r from view: sort, limit/more, count, filters, keys_only, count_only, revision.
// The response header carries only Revision (the view's current revision).
func Range(view mvcc.ReadView, r *pb.RangeRequest) (*pb.RangeResponse, error) {
	panic("apply: not implemented")
}

// Put applies r in w. Fails with ErrKeyNotFound (ignore_* on a missing key) or
// ErrLeaseNotFound before changing anything.
func Put(w *mvcc.WriteTxn, leases Leases, r *pb.PutRequest) (*pb.PutResponse, error) {
	panic("apply: not implemented")
}

// DeleteRange applies r in w.
func DeleteRange(w *mvcc.WriteTxn, r *pb.DeleteRangeRequest) (*pb.DeleteRangeResponse, error) {
	panic("apply: not implemented")
}

// Txn evaluates the compares of r at w's start revision and runs the chosen branch in w.
// Every check that can fail (compacted/future revisions in ranges, missing leases,
// ignore_* on missing keys) is done before the first write, so a failed txn changes nothing.
func Txn(w *mvcc.WriteTxn, leases Leases, r *pb.TxnRequest) (*pb.TxnResponse, error) {
	panic("apply: not implemented")
}

// ReadTxn runs a read-only txn (IsReadOnlyTxn) on view.
func ReadTxn(view mvcc.ReadView, r *pb.TxnRequest) (*pb.TxnResponse, error) {
	panic("apply: not implemented")
}
