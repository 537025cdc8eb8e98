package apply

import (
	"bytes"
	"cmp"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"

	"github.com/keeldb/keel/mvcc"
)

// Txn evaluates the compares of r (nested ones included) at w's start revision and runs the
// chosen branch in w. Every check that can fail (ranges at compacted or future revisions,
// missing leases, ignore_* on missing keys) is done before the first write, so a failed txn
// changes nothing.
func Txn(w *mvcc.WriteTxn, leases Leases, r *pb.TxnRequest) (*pb.TxnResponse, error) {
	path := comparePath(w, r)
	if _, err := walkPath(r, path, func(op *pb.RequestOp) error { return checkPut(w, leases, op) }); err != nil {
		return nil, err
	}
	if _, err := walkPath(r, path, func(op *pb.RequestOp) error { return checkRange(w, op) }); err != nil {
		return nil, err
	}
	resp, _, err := runTxn(w, w, r, path)
	if err != nil {
		return nil, err
	}
	resp.Header = &pb.ResponseHeader{Revision: currentRev(w)}
	return resp, nil
}

// ReadTxn runs a read-only txn (IsReadOnlyTxn) on view.
func ReadTxn(view mvcc.ReadView, r *pb.TxnRequest) (*pb.TxnResponse, error) {
	path := comparePath(view, r)
	if _, err := walkPath(r, path, func(op *pb.RequestOp) error { return checkRange(view, op) }); err != nil {
		return nil, err
	}
	resp, _, err := runTxn(view, nil, r, path)
	if err != nil {
		return nil, err
	}
	resp.Header = &pb.ResponseHeader{Revision: view.Rev()}
	return resp, nil
}

// comparePath decides every branch up front: path[0] is r's outcome, followed by the paths
// of the nested txns of the chosen branch, depth first.
func comparePath(view mvcc.ReadView, r *pb.TxnRequest) []bool {
	ok := compares(view, r.Compare)
	path := []bool{ok}
	for _, op := range branch(r, ok) {
		if t := op.GetRequestTxn(); t != nil {
			path = append(path, comparePath(view, t)...)
		}
	}
	return path
}

func branch(r *pb.TxnRequest, succeeded bool) []*pb.RequestOp {
	if succeeded {
		return r.Success
	}
	return r.Failure
}

// walkPath visits the ops of the chosen branches and returns how many path entries r used.
func walkPath(r *pb.TxnRequest, path []bool, visit func(*pb.RequestOp) error) (int, error) {
	used := 1
	for _, op := range branch(r, path[0]) {
		if t := op.GetRequestTxn(); t != nil {
			n, err := walkPath(t, path[used:], visit)
			if err != nil {
				return 0, err
			}
			used += n
			continue
		}
		if err := visit(op); err != nil {
			return 0, err
		}
	}
	return used, nil
}

func checkPut(view mvcc.ReadView, leases Leases, op *pb.RequestOp) error {
	p := op.GetRequestPut()
	if p == nil {
		return nil
	}
	if p.IgnoreValue || p.IgnoreLease {
		rr, err := view.Range(p.Key, nil, mvcc.RangeOptions{CountOnly: true})
		if err != nil {
			return err
		}
		if rr.Count == 0 {
			return ErrKeyNotFound
		}
	}
	if p.Lease != 0 && !leaseExists(leases, p.Lease) {
		return ErrLeaseNotFound
	}
	return nil
}

func checkRange(view mvcc.ReadView, op *pb.RequestOp) error {
	r := op.GetRequestRange()
	if r == nil || r.Revision == 0 {
		return nil
	}
	switch {
	case r.Revision > view.Rev():
		return mvcc.ErrFutureRev
	case r.Revision < view.FirstRev():
		return mvcc.ErrCompacted
	}
	return nil
}

// runTxn executes the branch chosen by path; w is nil for read-only txns. It returns how many
// path entries r used.
func runTxn(view mvcc.ReadView, w *mvcc.WriteTxn, r *pb.TxnRequest, path []bool) (*pb.TxnResponse, int, error) {
	ops := branch(r, path[0])
	resp := &pb.TxnResponse{Succeeded: path[0], Responses: make([]*pb.ResponseOp, len(ops))}
	used := 1
	for i, op := range ops {
		var err error
		switch o := op.GetRequest().(type) {
		case *pb.RequestOp_RequestRange:
			var rr *pb.RangeResponse
			rr, err = Range(view, o.RequestRange)
			resp.Responses[i] = &pb.ResponseOp{Response: &pb.ResponseOp_ResponseRange{ResponseRange: rr}}
		case *pb.RequestOp_RequestPut:
			var pr *pb.PutResponse
			pr, err = put(w, o.RequestPut)
			resp.Responses[i] = &pb.ResponseOp{Response: &pb.ResponseOp_ResponsePut{ResponsePut: pr}}
		case *pb.RequestOp_RequestDeleteRange:
			var dr *pb.DeleteRangeResponse
			dr, err = DeleteRange(w, o.RequestDeleteRange)
			resp.Responses[i] = &pb.ResponseOp{Response: &pb.ResponseOp_ResponseDeleteRange{ResponseDeleteRange: dr}}
		case *pb.RequestOp_RequestTxn:
			var tr *pb.TxnResponse
			var n int
			tr, n, err = runTxn(view, w, o.RequestTxn, path[used:])
			used += n
			if tr != nil {
				tr.Header = &pb.ResponseHeader{}
			}
			resp.Responses[i] = &pb.ResponseOp{Response: &pb.ResponseOp_ResponseTxn{ResponseTxn: tr}}
		}
		if err != nil {
			// Everything that can fail was checked before the first write (and the
			// duplicate-key rule keeps later ops from undoing those checks); reaching this
			// is a broken invariant, and applying half a txn would diverge replicas. etcd
			// panics here too.
			panic("apply: txn op failed after its checks passed: " + err.Error())
		}
	}
	return resp, used, nil
}

// compares reports whether every compare holds.
func compares(view mvcc.ReadView, cs []*pb.Compare) bool {
	for _, c := range cs {
		if !compare(view, c) {
			return false
		}
	}
	return true
}

// compare evaluates one compare: over every key of its range; a missing key compares as zero
// for VERSION/CREATE/MOD/LEASE and fails any VALUE compare.
func compare(view mvcc.ReadView, c *pb.Compare) bool {
	rr, err := view.Range(c.Key, rangeEnd(c.RangeEnd), mvcc.RangeOptions{})
	if err != nil {
		return false
	}
	if len(rr.KVs) == 0 {
		if c.Target == pb.Compare_VALUE {
			return false
		}
		return compareKV(c, &mvccpb.KeyValue{})
	}
	for i := range rr.KVs {
		if !compareKV(c, &rr.KVs[i]) {
			return false
		}
	}
	return true
}

func compareKV(c *pb.Compare, kv *mvccpb.KeyValue) bool {
	var result int
	switch c.Target {
	case pb.Compare_VALUE:
		result = bytes.Compare(kv.Value, c.GetValue())
	case pb.Compare_CREATE:
		result = cmp.Compare(kv.CreateRevision, c.GetCreateRevision())
	case pb.Compare_MOD:
		result = cmp.Compare(kv.ModRevision, c.GetModRevision())
	case pb.Compare_VERSION:
		result = cmp.Compare(kv.Version, c.GetVersion())
	case pb.Compare_LEASE:
		result = cmp.Compare(kv.Lease, c.GetLease())
	}
	switch c.Result {
	case pb.Compare_EQUAL:
		return result == 0
	case pb.Compare_NOT_EQUAL:
		return result != 0
	case pb.Compare_GREATER:
		return result > 0
	case pb.Compare_LESS:
		return result < 0
	}
	return true
}
