package apply

import (
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"

	"github.com/keeldb/keel/mvcc"
)

func leaseExists(leases Leases, id int64) bool {
	return leases != nil && leases.LeaseExists(id)
}

// Put applies r in w. Fails with ErrLeaseNotFound or ErrKeyNotFound (ignore_* on a missing
// key) before changing anything.
func Put(w *mvcc.WriteTxn, leases Leases, r *pb.PutRequest) (*pb.PutResponse, error) {
	if r.Lease != 0 && !leaseExists(leases, r.Lease) {
		return nil, ErrLeaseNotFound
	}
	return put(w, r)
}

// put applies r in w without the lease check (done before a txn starts writing).
func put(w *mvcc.WriteTxn, r *pb.PutRequest) (*pb.PutResponse, error) {
	resp := &pb.PutResponse{Header: &pb.ResponseHeader{}}
	val, lease := r.Value, r.Lease
	if r.IgnoreValue || r.IgnoreLease || r.PrevKv {
		rr, err := w.Range(r.Key, nil, mvcc.RangeOptions{})
		if err != nil {
			return nil, err
		}
		if (r.IgnoreValue || r.IgnoreLease) && len(rr.KVs) == 0 {
			return nil, ErrKeyNotFound
		}
		if len(rr.KVs) > 0 {
			if r.IgnoreValue {
				val = rr.KVs[0].Value
			}
			if r.IgnoreLease {
				lease = rr.KVs[0].Lease
			}
			if r.PrevKv {
				resp.PrevKv = &rr.KVs[0]
			}
		}
	}
	w.Put(r.Key, val, lease)
	resp.Header.Revision = w.Rev() + 1
	return resp, nil
}

// DeleteRange applies r in w.
func DeleteRange(w *mvcc.WriteTxn, r *pb.DeleteRangeRequest) (*pb.DeleteRangeResponse, error) {
	resp := &pb.DeleteRangeResponse{Header: &pb.ResponseHeader{}}
	prev := w.DeleteRange(r.Key, rangeEnd(r.RangeEnd))
	resp.Deleted = int64(len(prev))
	if r.PrevKv {
		resp.PrevKvs = make([]*mvccpb.KeyValue, len(prev))
		for i := range prev {
			resp.PrevKvs[i] = &prev[i]
		}
	}
	resp.Header.Revision = currentRev(w)
	return resp, nil
}
