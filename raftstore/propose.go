package raftstore

import (
	"context"
	"errors"
	"fmt"

	"github.com/hashicorp/raft"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"google.golang.org/protobuf/proto"

	keelpb "github.com/keeldb/keel/api/proto"
)

// Put proposes r through the raft log and returns its response once applied on this member.
func (n *Node) Put(ctx context.Context, r *pb.PutRequest) (*pb.PutResponse, error) {
	return proposeAs(ctx, n, &keelpb.Command{Cmd: &keelpb.Command_Put{Put: mustMarshal(r)}}, new(pb.PutResponse))
}

// DeleteRange proposes r through the raft log.
func (n *Node) DeleteRange(ctx context.Context, r *pb.DeleteRangeRequest) (*pb.DeleteRangeResponse, error) {
	return proposeAs(ctx, n, &keelpb.Command{Cmd: &keelpb.Command_DeleteRange{DeleteRange: mustMarshal(r)}},
		new(pb.DeleteRangeResponse))
}

// Txn proposes a txn with writes through the raft log.
func (n *Node) Txn(ctx context.Context, r *pb.TxnRequest) (*pb.TxnResponse, error) {
	return proposeAs(ctx, n, &keelpb.Command{Cmd: &keelpb.Command_Txn{Txn: mustMarshal(r)}}, new(pb.TxnResponse))
}

// Compact proposes a compaction through the raft log.
func (n *Node) Compact(ctx context.Context, r *pb.CompactionRequest) (*pb.CompactionResponse, error) {
	return proposeAs(ctx, n, &keelpb.Command{Cmd: &keelpb.Command_Compaction{Compaction: mustMarshal(r)}},
		new(pb.CompactionResponse))
}

// proposeAs proposes cmd and returns its response as a T. blank is an empty T that a
// forwarded response is decoded into.
func proposeAs[T proto.Message](ctx context.Context, n *Node, cmd *keelpb.Command, blank T) (T, error) {
	var zero T
	cmd.AuthInfo = authInfoFrom(ctx)
	m, err := n.propose(ctx, mustMarshal(cmd), func(b []byte) (proto.Message, error) {
		if err := proto.Unmarshal(b, blank); err != nil {
			return nil, fmt.Errorf("raftstore: decode forwarded response: %w", err)
		}
		return blank, nil
	})
	if err != nil {
		return zero, err
	}
	t, ok := m.(T)
	if !ok {
		return blank, nil
	}
	return t, nil
}

// propose applies an encoded Command through the leader and returns the encoded response.
// A write acknowledged through a follower has been applied on the leader; reads served
// locally by the follower wait for it (see SerializableBarrier), so the client reads its own
// write on the member it talks to. decode is nil for the member's own proposals (attributes,
// checkpoints, expiry), which no client waits for: they do not raise that floor, so a follower
// that loses its leader right after one still serves serializable reads.
func (n *Node) propose(ctx context.Context, cmd []byte, decode func([]byte) (proto.Message, error)) (proto.Message, error) {
	if n.closed.Load() {
		return nil, ErrStopped
	}
	n.metrics.pending.Inc()
	defer n.metrics.pending.Dec()
	for {
		if n.raft.State() == raft.Leader {
			resp, _, err := n.proposeLocal(ctx, cmd)
			if errors.Is(err, ErrNotLeader) {
				continue
			}
			n.countProposal(err)
			return resp, err
		}
		addr, _, err := n.waitLeader(ctx)
		if err != nil {
			n.countProposal(err)
			return nil, err
		}
		if addr == n.trans.LocalAddr() {
			if err := n.waitChange(ctx, nil); err != nil {
				return nil, err
			}
			continue
		}
		raw, index, err := n.fwd.propose(ctx, string(addr), cmd)
		if errors.Is(err, ErrNotLeader) || errors.Is(err, errUnreachable) {
			// Not applied there: wait for leadership to settle (a dead leader's successor)
			// and send it again, as etcd holds a proposal until a leader takes it.
			if err := n.waitChange(ctx, nil); err != nil {
				return nil, err
			}
			continue
		}
		n.countProposal(err)
		if err != nil {
			return nil, err
		}
		// The leader has applied the entry and its response is final; this member applies the
		// same entry once it learns the commit index (hashicorp/raft sends it with the next
		// append, up to CommitTimeout later). Rather than hold the client for that, raise the
		// floor that local reads wait for: a serializable read or a watch from "now" on this
		// member still sees every write it acknowledged.
		if decode == nil {
			return nil, nil
		}
		n.applied.raiseFloor(index)
		if len(raw) == 0 {
			return nil, nil
		}
		return decode(raw)
	}
}

func (n *Node) countProposal(err error) {
	if err == nil || isBusinessError(err) {
		n.metrics.committed.Inc()
		return
	}
	n.metrics.failed.Inc()
}

// isBusinessError reports whether err is a deterministic refusal by the state machine: the
// entry was committed and applied, the request just changed nothing.
func isBusinessError(err error) bool {
	switch {
	case errors.Is(err, ErrNoLeader), errors.Is(err, ErrNotLeader), errors.Is(err, ErrLeaderChanged),
		errors.Is(err, ErrTimeout), errors.Is(err, ErrStopped), errors.Is(err, context.Canceled):
		return false
	}
	_, known := errorCodes[errorCode(err)]
	return known
}

// proposeLocal applies cmd on this member as leader. It returns ErrNotLeader if leadership
// was gone before the entry was appended (safe to retry elsewhere).
func (n *Node) proposeLocal(ctx context.Context, cmd []byte) (proto.Message, uint64, error) {
	return n.awaitApply(ctx, n.raft.Apply(cmd, n.cfg.RequestTimeout))
}

// awaitApply waits for an Apply future and returns the command's response.
func (n *Node) awaitApply(ctx context.Context, f raft.ApplyFuture) (proto.Message, uint64, error) {
	done := make(chan error, 1)
	go func() { done <- f.Error() }() // ends when raft answers; see wait
	select {
	case err := <-done:
		if err != nil {
			return nil, 0, raftError(err)
		}
	case <-ctx.Done():
		return nil, 0, ctxErr(ctx)
	case <-n.stop:
		return nil, 0, ErrStopped
	}
	res, _ := f.Response().(*applyResult)
	if res == nil {
		return nil, f.Index(), nil
	}
	if res.err != nil {
		return nil, f.Index(), res.err
	}
	return res.resp, f.Index(), nil
}

// raftError maps hashicorp/raft's future errors.
func raftError(err error) error {
	switch {
	case errors.Is(err, raft.ErrNotLeader):
		return ErrNotLeader
	case errors.Is(err, raft.ErrLeadershipLost), errors.Is(err, raft.ErrLeadershipTransferInProgress):
		return ErrLeaderChanged
	case errors.Is(err, raft.ErrRaftShutdown):
		return ErrStopped
	case errors.Is(err, raft.ErrEnqueueTimeout):
		return ErrTimeout
	default:
		return fmt.Errorf("raftstore: apply: %w", err)
	}
}
