package server

import (
	"context"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"

	"github.com/keeldb/keel/apply"
	"github.com/keeldb/keel/auth"
)

type kvServer struct {
	pb.UnimplementedKVServer
	s *Server
}

// Range serves a read: serializable from local state, otherwise after a read index.
func (k *kvServer) Range(ctx context.Context, r *pb.RangeRequest) (*pb.RangeResponse, error) {
	if err := apply.ValidateRange(r); err != nil {
		return nil, toGRPCError(err)
	}
	if err := k.s.readBarrier(ctx, r.Serializable); err != nil {
		return nil, toGRPCError(err)
	}
	if err := k.s.checkRead(ctx, r.Key, r.RangeEnd); err != nil {
		return nil, err
	}
	view := k.s.node.Store().Read()
	defer view.End()
	resp, err := apply.Range(view, r)
	if err != nil {
		return nil, toGRPCError(err)
	}
	resp.Header = k.s.fillHeader(resp.Header)
	return resp, nil
}

// Put proposes a put through the raft log.
func (k *kvServer) Put(ctx context.Context, r *pb.PutRequest) (*pb.PutResponse, error) {
	if err := k.s.checkWrite(r, apply.ValidatePut(r)); err != nil {
		return nil, err
	}
	if err := k.s.checkQuota(ctx, r); err != nil {
		return nil, err
	}
	ctx, cancel := k.s.requestContext(ctx)
	defer cancel()
	resp, err := retryAuth(k.s, ctx, func(ctx context.Context) (*pb.PutResponse, error) { return k.s.node.Put(ctx, r) })
	if err != nil {
		return nil, toGRPCError(err)
	}
	resp.Header = k.s.fillHeader(resp.Header)
	return resp, nil
}

// DeleteRange proposes a delete through the raft log.
func (k *kvServer) DeleteRange(ctx context.Context, r *pb.DeleteRangeRequest) (*pb.DeleteRangeResponse, error) {
	if err := k.s.checkWrite(r, apply.ValidateDeleteRange(r)); err != nil {
		return nil, err
	}
	ctx, cancel := k.s.requestContext(ctx)
	defer cancel()
	resp, err := retryAuth(k.s, ctx, func(ctx context.Context) (*pb.DeleteRangeResponse, error) {
		return k.s.node.DeleteRange(ctx, r)
	})
	if err != nil {
		return nil, toGRPCError(err)
	}
	resp.Header = k.s.fillHeader(resp.Header)
	return resp, nil
}

// Txn proposes a txn with writes through the raft log; a read-only txn is served like a
// Range (serializable only if every range in it is).
func (k *kvServer) Txn(ctx context.Context, r *pb.TxnRequest) (*pb.TxnResponse, error) {
	if err := apply.ValidateTxn(r, k.s.limits()); err != nil {
		return nil, toGRPCError(err)
	}
	if apply.IsReadOnlyTxn(r) {
		if err := k.s.readBarrier(ctx, txnSerializable(r)); err != nil {
			return nil, toGRPCError(err)
		}
		if err := k.s.checkAuth(ctx, func(as *auth.Store, info auth.Info) error { return as.CheckTxn(info, r) }); err != nil {
			return nil, err
		}
		view := k.s.node.Store().Read()
		defer view.End()
		resp, err := apply.ReadTxn(view, r)
		if err != nil {
			return nil, toGRPCError(err)
		}
		resp.Header = k.s.fillHeader(resp.Header)
		return resp, nil
	}
	if err := k.s.checkWrite(r, nil); err != nil {
		return nil, err
	}
	if err := k.s.checkQuota(ctx, r); err != nil {
		return nil, err
	}
	ctx, cancel := k.s.requestContext(ctx)
	defer cancel()
	resp, err := retryAuth(k.s, ctx, func(ctx context.Context) (*pb.TxnResponse, error) { return k.s.node.Txn(ctx, r) })
	if err != nil {
		return nil, toGRPCError(err)
	}
	resp.Header = k.s.fillHeader(resp.Header)
	return resp, nil
}

// Compact proposes a compaction. Applying it raises the compaction revision on every
// member (reads below it fail from then on), and each member's store removes the superseded
// revisions in the background. A non-physical request returns once the entry is applied
// (on the leader); a physical one, as etcd's, also waits until this member's store has
// committed every removal (so a defragmentation after it gives the space back), for as long
// as the client's context allows: it is not bounded by the request timeout, as the work
// scales with the history compacted.
func (k *kvServer) Compact(ctx context.Context, r *pb.CompactionRequest) (*pb.CompactionResponse, error) {
	pctx, cancel := k.s.requestContext(ctx)
	defer cancel()
	resp, err := k.s.node.Compact(pctx, r)
	if err != nil {
		return nil, toGRPCError(err)
	}
	if r.Physical {
		if err := k.s.node.Store().WaitCompacted(ctx, r.Revision); err != nil {
			return nil, toGRPCError(err)
		}
	}
	resp.Header = k.s.fillHeader(resp.Header)
	return resp, nil
}

// RangeStream serves etcd 3.7's streamed Range: the same validation, read barrier and errors
// as Range, the result sent in chunks read one at a time at one revision (apply.RangeStream),
// the final chunk carrying the header, count and more. A compaction that passes the revision
// while the stream runs ends it with ErrGRPCCompacted, as etcd's.
func (k *kvServer) RangeStream(r *pb.RangeRequest, stream pb.KV_RangeStreamServer) error {
	if err := apply.ValidateRange(r); err != nil {
		return toGRPCError(err)
	}
	ctx := stream.Context()
	if err := k.s.readBarrier(ctx, r.Serializable); err != nil {
		return toGRPCError(err)
	}
	if err := k.s.checkRead(ctx, r.Key, r.RangeEnd); err != nil {
		return err
	}
	view := k.s.node.Store().Read()
	defer view.End()
	err := apply.RangeStream(view, r, k.s.cfg.MaxRequestBytes, func(resp *pb.RangeResponse) error {
		if resp.Header != nil {
			resp.Header = k.s.fillHeader(resp.Header)
		}
		return stream.Send(&pb.RangeStreamResponse{RangeResponse: resp})
	})
	if err != nil {
		return toGRPCError(err)
	}
	return nil
}

// txnSerializable reports whether a read-only txn may be served from local state: only when
// every op of both branches is a serializable Range (as etcd decides; a nested txn makes it
// linearizable).
func txnSerializable(r *pb.TxnRequest) bool {
	for _, branch := range [][]*pb.RequestOp{r.Success, r.Failure} {
		for _, op := range branch {
			if rr := op.GetRequestRange(); rr == nil || !rr.Serializable {
				return false
			}
		}
	}
	return true
}
