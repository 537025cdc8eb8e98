package apply

import (
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"google.golang.org/protobuf/proto"

	"github.com/keeldb/keel/mvcc"
)

// Chunk sizing of RangeStream, as etcd 3.7's: the first chunk holds firstChunkKeys keys and
// each next one doubles while a chunk encodes to under half the target size, or halves while
// it encodes to over twice the target (docs/ARCHITECTURE.md "The read paths").
const firstChunkKeys = 10

// RangeStream serves r from view as etcd 3.7's KV.RangeStream: it calls send with each
// chunk in key order, every chunk read at one revision (r.Revision, or the view's revision
// when r.Revision is 0), so writes after the view are never seen. Each chunk is read from
// the store separately, so at most one chunk's values are in memory at a time. Kvs are
// disjoint across chunks; only the final chunk carries Header (with only Revision set, as
// Range), Count and More, so that merging every chunk gives Range's response (the wire
// contract of pb.RangeStreamResponse). A count_only request is one message, answered from
// the index. A request with a sort order other than by key ascending or with a revision
// filter is served by one Range and sent as one message, as etcd 3.7 does.
//
// The request must have passed ValidateRange. It returns the first error of the store
// (mvcc.ErrCompacted when a compaction passes the revision while the stream runs,
// mvcc.ErrFutureRev) or of send; chunks already sent stay sent. targetBytes is the chunk
// size aimed at (etcd aims at --max-request-bytes).
func RangeStream(view mvcc.ReadView, r *pb.RangeRequest, targetBytes int, send func(*pb.RangeResponse) error) error {
	if r.CountOnly || !streamable(r) {
		resp, err := Range(view, r)
		if err != nil {
			return err
		}
		return send(resp)
	}
	end := rangeEnd(r.RangeEnd)
	at := r.Revision
	if at <= 0 {
		at = view.Rev()
	}
	total, err := view.Range(r.Key, end, mvcc.RangeOptions{Rev: at, CountOnly: true})
	if err != nil {
		return err
	}
	want := int64(total.Count) // keys to send
	if r.Limit > 0 {
		want = min(want, r.Limit)
	}
	key, chunk, sent := r.Key, int64(firstChunkKeys), int64(0)
	for {
		resp := &pb.RangeResponse{}
		if n := min(chunk, want-sent); n > 0 {
			rr, err := view.Range(key, end, mvcc.RangeOptions{Rev: at, Limit: n, SkipCount: true})
			if err != nil {
				return err
			}
			resp.Kvs = make([]*mvccpb.KeyValue, len(rr.KVs))
			for i := range rr.KVs {
				kv := &rr.KVs[i]
				if r.KeysOnly {
					kv.Value = nil
				}
				resp.Kvs[i] = kv
			}
			sent += int64(len(rr.KVs))
			if len(rr.KVs) > 0 {
				last := rr.KVs[len(rr.KVs)-1].Key
				key = append(last[:len(last):len(last)], 0)
			}
			if int64(len(rr.KVs)) < n {
				// Only a broken index could lose keys of a pinned revision: end the stream
				// consistently rather than loop.
				want = sent
			}
		}
		if sent >= want {
			resp.Header = &pb.ResponseHeader{Revision: currentRev(view)}
			resp.Count = int64(total.Count)
			resp.More = r.Limit > 0 && int64(total.Count) > r.Limit
			return send(resp)
		}
		if err := send(resp); err != nil {
			return err
		}
		chunk = nextChunkKeys(chunk, proto.Size(resp), targetBytes)
	}
}

// streamable reports whether RangeStream pages r in key order: etcd 3.7 serves a custom
// sort order or a revision filter with one buffered Range instead (KEP-5966, "Unsupported
// Pass Through").
func streamable(r *pb.RangeRequest) bool {
	if r.MinModRevision != 0 || r.MaxModRevision != 0 || r.MinCreateRevision != 0 || r.MaxCreateRevision != 0 {
		return false
	}
	switch {
	case r.SortOrder == pb.RangeRequest_NONE:
		return r.SortTarget == pb.RangeRequest_KEY // another target without an order sorts ascending
	case r.SortOrder == pb.RangeRequest_ASCEND:
		return r.SortTarget == pb.RangeRequest_KEY
	default:
		return false
	}
}

// nextChunkKeys sizes the next chunk from the last one: n keys encoded to size bytes.
func nextChunkKeys(n int64, size, target int) int64 {
	switch {
	case size < target/2:
		return n * 2
	case size > target*2 && n > 1:
		return n / 2
	default:
		return n
	}
}
