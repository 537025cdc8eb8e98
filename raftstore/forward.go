package raftstore

import (
	"context"
	"sync"

	"github.com/hashicorp/raft"
	"google.golang.org/protobuf/proto"

	keelpb "github.com/keeldb/keel/api/proto"
)

// Forwarded writes are batched: a follower sends the writes that queued while its previous
// calls were in flight to the leader in one ProposeBatch call. One gRPC call per write cost
// a follower and the leader about a third of the CPU of a put (64 clients over 3 members).
const (
	// maxForwardBatch caps the commands in one ProposeBatch call.
	maxForwardBatch = 256
	// maxForwardInflight is how many ProposeBatch calls a follower keeps in flight to one
	// leader; writes arriving meanwhile wait for the next call.
	maxForwardInflight = 4
	// forwardQueue is how many writes may wait for a call.
	forwardQueue = 4096
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
	queues map[string]chan *forwardReq
}

func newForwarder(n *Node) *forwarder {
	return &forwarder{n: n, queues: map[string]chan *forwardReq{}}
}

// propose sends cmd to the leader at addr with the next batch and waits for its answer.
func (f *forwarder) propose(ctx context.Context, addr string, cmd []byte) ([]byte, uint64, error) {
	req := &forwardReq{ctx: ctx, cmd: cmd, res: make(chan forwardRes, 1)}
	select {
	case f.queue(addr) <- req:
	case <-ctx.Done():
		return nil, 0, ctxErr(ctx)
	case <-f.n.stop:
		return nil, 0, ErrStopped
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

// queue returns the queue of addr, starting its sender on first use.
func (f *forwarder) queue(addr string) chan *forwardReq {
	f.mu.Lock()
	defer f.mu.Unlock()
	q, ok := f.queues[addr]
	if !ok {
		q = make(chan *forwardReq, forwardQueue)
		f.queues[addr] = q
		f.n.goFunc(func() { f.run(addr, q) })
	}
	return q
}

// run takes a call slot, then everything queued (up to maxForwardBatch), and sends it.
func (f *forwarder) run(addr string, q chan *forwardReq) {
	slots := make(chan struct{}, maxForwardInflight)
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		select {
		case slots <- struct{}{}:
		case <-f.n.stop:
			return
		}
		var batch []*forwardReq
		select {
		case r := <-q:
			batch = append(batch, r)
		case <-f.n.stop:
			return
		}
	drain:
		for len(batch) < maxForwardBatch {
			select {
			case r := <-q:
				batch = append(batch, r)
			default:
				break drain
			}
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-slots }()
			f.send(addr, batch)
		}()
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
	ctx, cancel := context.WithTimeout(context.Background(), f.n.cfg.RequestTimeout)
	defer cancel()
	go func() {
		select {
		case <-f.n.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
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
