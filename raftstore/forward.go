package raftstore

import (
	"context"
	"sync"

	"github.com/hashicorp/raft"
	"google.golang.org/protobuf/proto"

	keelpb "github.com/keeldb/keel/api/proto"
	"github.com/keeldb/keel/internal/failpoint"
)

// Forwarded writes are batched: a follower sends the writes that queued while its previous
// calls were in flight to the leader in one ProposeBatch call. One gRPC call per write cost
// a follower and the leader about a third of the CPU of a put (64 clients over 3 members).
//
// The calls are made by the requests' own goroutines (flat combining): a request that finds a
// call slot free sends everything queued, itself included; one that finds all slots taken
// waits for a sending goroutine to take it along. A lone client's write therefore goes to the
// leader from its handler goroutine with no hand-off to a sender goroutine and back (two
// goroutine wake-ups on the follower path of every forwarded write).
const (
	// maxForwardBatch caps the commands in one ProposeBatch call.
	maxForwardBatch = 256
	// maxForwardInflight is how many ProposeBatch calls a follower keeps in flight to one
	// leader; writes arriving meanwhile wait for the next call.
	maxForwardInflight = 4
)

type forwardReq struct {
	ctx context.Context
	cmd []byte
	res chan forwardRes // buffered: the sender never blocks
}

type forwardRes struct {
	raw   []byte
	index uint64
	err   error
}

// forwarder batches this member's forwarded writes per leader address.
type forwarder struct {
	n  *Node
	mu sync.Mutex
	// guarded by mu
	queues map[string]*forwardQueue
}

// forwardQueue is the writes waiting for a call to one leader address.
type forwardQueue struct {
	// guarded by forwarder.mu
	pending  []*forwardReq
	inflight int // calls in flight
}

func newForwarder(n *Node) *forwarder {
	return &forwarder{n: n, queues: map[string]*forwardQueue{}}
}

// propose sends cmd to the leader at addr with the next batch and waits for its answer.
func (f *forwarder) propose(ctx context.Context, addr string, cmd []byte) ([]byte, uint64, error) {
	req := &forwardReq{ctx: ctx, cmd: cmd, res: make(chan forwardRes, 1)}
	f.mu.Lock()
	q, ok := f.queues[addr]
	if !ok {
		q = &forwardQueue{}
		f.queues[addr] = q
	}
	q.pending = append(q.pending, req)
	batch := f.takeLocked(q)
	f.mu.Unlock()
	if batch != nil {
		f.sendAll(addr, q, batch)
	}
	select {
	case r := <-req.res:
		return r.raw, r.index, r.err
	case <-ctx.Done():
		return nil, 0, ctxErr(ctx)
	case <-f.n.stop:
		return nil, 0, ErrStopped
	}
}

// takeLocked claims a call slot and the pending writes (up to maxForwardBatch), or returns
// nil when nothing is pending or every slot is taken.
// requires f.mu held
func (f *forwarder) takeLocked(q *forwardQueue) []*forwardReq {
	if len(q.pending) == 0 || q.inflight >= maxForwardInflight {
		return nil
	}
	q.inflight++
	n := min(len(q.pending), maxForwardBatch)
	batch := q.pending[:n:n]
	q.pending = append([]*forwardReq(nil), q.pending[n:]...)
	return batch
}

// sendAll sends batch, then, while writes queued behind full slots, one more batch from a new
// goroutine, so the caller's own answer is not held up by others' calls.
func (f *forwarder) sendAll(addr string, q *forwardQueue, batch []*forwardReq) {
	f.send(addr, batch)
	f.mu.Lock()
	q.inflight--
	next := f.takeLocked(q)
	f.mu.Unlock()
	if next != nil {
		f.n.goFunc(func() { f.sendAll(addr, q, next) })
	}
}

// send makes one ProposeBatch call for the requests still wanted and answers each.
func (f *forwarder) send(addr string, batch []*forwardReq) {
	live := batch[:0]
	for _, r := range batch {
		if err := r.ctx.Err(); err != nil {
			r.res <- forwardRes{err: ctxErr(r.ctx)}
			continue
		}
		live = append(live, r)
	}
	if len(live) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(f.n.ctx, f.n.cfg.RequestTimeout)
	defer cancel()
	failAll := func(err error) {
		for _, r := range live {
			r.res <- forwardRes{err: err}
		}
	}
	pc, err := f.n.peers.client(addr)
	if err != nil {
		failAll(errUnreachable)
		return
	}
	cmds := make([][]byte, len(live))
	for i, r := range live {
		cmds[i] = r.cmd
	}
	resp, err := pc.ProposeBatch(ctx, &keelpb.ProposeBatchRequest{Commands: cmds})
	if err != nil {
		failAll(transportError(ctx, err))
		return
	}
	if len(resp.Responses) != len(live) {
		failAll(ErrLeaderChanged) // a confused peer: the outcome is unknown
		return
	}
	for i, r := range live {
		pr := resp.Responses[i]
		if pr.Error != "" {
			r.res <- forwardRes{index: pr.Index, err: errorFromCode(pr.Error)}
			continue
		}
		r.res <- forwardRes{raw: pr.Response, index: pr.Index}
	}
}

// ProposeBatch applies a follower's batch of forwarded commands in order.
func (p *peerService) ProposeBatch(ctx context.Context, req *keelpb.ProposeBatchRequest) (*keelpb.ProposeBatchResponse, error) {
	out := &keelpb.ProposeBatchResponse{Responses: make([]*keelpb.ProposeResponse, len(req.Commands))}
	if !p.n.IsLeader() {
		for i := range out.Responses {
			out.Responses[i] = &keelpb.ProposeResponse{Error: errorCode(ErrNotLeader)}
		}
		return out, nil
	}
	futures := make([]raft.ApplyFuture, len(req.Commands))
	for i, cmd := range req.Commands {
		futures[i] = p.n.raft.Apply(cmd, p.n.cfg.RequestTimeout)
	}
	for i, fu := range futures {
		msg, index, err := p.n.awaitApply(ctx, fu)
		out.Responses[i] = proposeResponse(msg, index, err)
	}
	failpoint.Inject(failpoint.BeforeForwardReply)
	return out, nil
}

func proposeResponse(msg proto.Message, index uint64, err error) *keelpb.ProposeResponse {
	if err != nil {
		return &keelpb.ProposeResponse{Error: errorCode(err), Index: index}
	}
	out := &keelpb.ProposeResponse{Index: index}
	if msg != nil {
		out.Response = mustMarshal(msg)
	}
	return out
}
