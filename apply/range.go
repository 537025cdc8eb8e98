package apply

import (
	"bytes"
	"cmp"
	"slices"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"

	"github.com/keeldb/keel/mvcc"
)

// rangeEnd converts a wire range_end to mvcc's encoding: empty is the single key (nil) and
// "\x00" is every key >= key.
func rangeEnd(end []byte) []byte {
	if len(end) == 0 {
		return nil
	}
	return end
}

// currentRev is the revision a response header reports for view: the current revision,
// including the writes a write transaction has made so far.
func currentRev(view mvcc.ReadView) int64 {
	if w, ok := view.(*mvcc.WriteTxn); ok && len(w.Changes()) > 0 {
		return w.Rev() + 1
	}
	return view.Rev()
}

// Range serves r from view: sort, limit/more, count, filters, keys_only, count_only, revision.
// The response header carries only Revision (the view's current revision).
func Range(view mvcc.ReadView, r *pb.RangeRequest) (*pb.RangeResponse, error) {
	filtered := r.MinModRevision != 0 || r.MaxModRevision != 0 || r.MinCreateRevision != 0 || r.MaxCreateRevision != 0
	limit := r.Limit
	if r.SortOrder != pb.RangeRequest_NONE || filtered {
		limit = 0 // read everything; sort and filter, then truncate
	}
	if limit > 0 {
		limit++ // one more tells whether there is more
	}
	rr, err := view.Range(r.Key, rangeEnd(r.RangeEnd), mvcc.RangeOptions{Limit: max(limit, 0), Rev: r.Revision, CountOnly: r.CountOnly})
	if err != nil {
		return nil, err
	}
	kvs := make([]*mvccpb.KeyValue, 0, len(rr.KVs))
	for i := range rr.KVs {
		kv := &rr.KVs[i]
		if filtered && ((r.MaxModRevision != 0 && kv.ModRevision > r.MaxModRevision) ||
			(r.MinModRevision != 0 && kv.ModRevision < r.MinModRevision) ||
			(r.MaxCreateRevision != 0 && kv.CreateRevision > r.MaxCreateRevision) ||
			(r.MinCreateRevision != 0 && kv.CreateRevision < r.MinCreateRevision)) {
			continue
		}
		if r.KeysOnly {
			kv.Value = nil
		}
		kvs = append(kvs, kv)
	}
	sortKVs(kvs, r.SortOrder, r.SortTarget)
	resp := &pb.RangeResponse{Header: &pb.ResponseHeader{Revision: currentRev(view)}, Count: int64(rr.Count)}
	if r.Limit > 0 && len(kvs) > int(r.Limit) {
		kvs = kvs[:r.Limit]
		resp.More = true
	}
	resp.Kvs = kvs
	return resp, nil
}

// sortKVs sorts like etcd: a non-KEY target without an order sorts ascending; KEY ascending
// (or no order) is the natural order.
func sortKVs(kvs []*mvccpb.KeyValue, order pb.RangeRequest_SortOrder, target pb.RangeRequest_SortTarget) {
	if target != pb.RangeRequest_KEY && order == pb.RangeRequest_NONE {
		order = pb.RangeRequest_ASCEND
	}
	if order == pb.RangeRequest_NONE {
		return
	}
	var by func(a, b *mvccpb.KeyValue) int
	switch target {
	case pb.RangeRequest_KEY:
		by = func(a, b *mvccpb.KeyValue) int { return bytes.Compare(a.Key, b.Key) }
	case pb.RangeRequest_VERSION:
		by = func(a, b *mvccpb.KeyValue) int { return cmp.Compare(a.Version, b.Version) }
	case pb.RangeRequest_CREATE:
		by = func(a, b *mvccpb.KeyValue) int { return cmp.Compare(a.CreateRevision, b.CreateRevision) }
	case pb.RangeRequest_MOD:
		by = func(a, b *mvccpb.KeyValue) int { return cmp.Compare(a.ModRevision, b.ModRevision) }
	case pb.RangeRequest_VALUE:
		by = func(a, b *mvccpb.KeyValue) int { return bytes.Compare(a.Value, b.Value) }
	default:
		return
	}
	if order == pb.RangeRequest_DESCEND {
		asc := by
		by = func(a, b *mvccpb.KeyValue) int { return asc(b, a) }
	}
	slices.SortStableFunc(kvs, by)
}
