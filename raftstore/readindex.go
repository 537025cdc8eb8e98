package raftstore

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"

	keelpb "github.com/keeldb/keel/api/proto"
)

// appliedWaiter tracks the FSM's applied index and wakes waiters when it advances.
type appliedWaiter struct {
	mu sync.Mutex
	// guarded by mu
	index uint64
	ch    chan struct{} // closed and replaced on every advance
	// floor is the highest log index of a write this member acknowledged before applying it
	// (a forwarded write answered with the leader's response). Local reads wait for it.
	floor atomic.Uint64
}

// raiseFloor records that a write at index i was acknowledged by this member.
func (a *appliedWaiter) raiseFloor(i uint64) {
	for {
		cur := a.floor.Load()
		if i <= cur || a.floor.CompareAndSwap(cur, i) {
			return
		}
	}
}

func (a *appliedWaiter) get() uint64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.index
}

func (a *appliedWaiter) set(i uint64) {
	a.mu.Lock()
	if i > a.index {
		a.index = i
	}
	if a.ch != nil {
		close(a.ch)
		a.ch = nil
	}
	a.mu.Unlock()
}

// wait blocks until the applied index reaches i or ctx ends.
func (a *appliedWaiter) wait(ctx context.Context, stop <-chan struct{}, i uint64) error {
	for {
		a.mu.Lock()
		if a.index >= i {
			a.mu.Unlock()
			return nil
		}
		if a.ch == nil {
			a.ch = make(chan struct{})
		}
		ch := a.ch
		a.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctxErr(ctx)
		case <-stop:
			return ErrStopped
		}
	}
}

// readIndexer confirms leadership for linearizable reads, one confirmation round (confirmTerm)
// for every read that queued while the previous round was in flight.
type readIndexer struct {
	n    *Node
	reqs chan *readReq
}

type readReq struct {
	done  chan struct{}
	index uint64
	err   error
}

func newReadIndexer(n *Node) *readIndexer {
	return &readIndexer{n: n, reqs: make(chan *readReq, 1024)}
}

func (r *readIndexer) run() {
	batch := make([]*readReq, 0, 64)
	for {
		select {
		case <-r.n.stop:
			return
		case req := <-r.reqs:
			batch = append(batch[:0], req)
		}
	drain:
		for {
			select {
			case req := <-r.reqs:
				batch = append(batch, req)
			default:
				break drain
			}
		}
		index, err := r.n.confirmLeadership()
		r.n.metrics.readIndexBatch.Observe(float64(len(batch)))
		for _, req := range batch {
			req.index, req.err = index, err
			close(req.done)
		}
	}
}

// leaderReadIndex returns a read index if this member is the leader and ready.
func (r *readIndexer) leaderReadIndex(ctx context.Context) (uint64, error) {
	req := &readReq{done: make(chan struct{})}
	select {
	case r.reqs <- req:
	case <-ctx.Done():
		return 0, ctxErr(ctx)
	case <-r.n.stop:
		return 0, ErrStopped
	}
	select {
	case <-req.done:
		return req.index, req.err
	case <-ctx.Done():
		return 0, ctxErr(ctx)
	case <-r.n.stop:
		return 0, ErrStopped
	}
}

var errNotReady = errors.New("raftstore: leader has not committed an entry of its term")

// confirmLeadership is one read-index round on the leader: the commit index is taken once the
// leader's current-term entry is applied, then leadership is confirmed with a quorum.
func (n *Node) confirmLeadership() (uint64, error) {
	if n.raft.State() != raft.Leader {
		return 0, ErrNotLeader
	}
	term := n.raft.CurrentTerm()
	ready, first, _ := n.leaderReady(term)
	if !ready {
		return 0, errNotReady
	}
	index := max(n.raft.CommitIndex(), first)
	if err := n.confirmTerm(term); err != nil {
		return 0, err
	}
	return index, nil
}

// errDeposed is a voter's answer from a term newer than the asking leader's.
var errDeposed = errors.New("raftstore: a voter is in a newer term")

// confirmTerm returns once a quorum of voters, this member included, answered a ConfirmTerm
// sent after the call began with the leader's term. No leader of a newer term can then have
// been elected before the call: its election needed a quorum of votes in that newer term,
// and one voter of that quorum answered with term afterwards, and terms never go back.
//
// It replaces hashicorp/raft's VerifyLeader, which counts the answer to any heartbeat or
// append that arrives after the check was registered, including one sent (and answered)
// before it: an answer held up across an election would confirm a deposed leader, whose
// read index would then miss writes the new leader acknowledged. VerifyLeader also waits for
// raft's leader loop, which is busy writing the log under load.
//
// It returns ErrLeaderChanged when a voter is in a newer term or a quorum cannot answer
// within an election timeout, ErrStopped on shutdown.
func (n *Node) confirmTerm(term uint64) error {
	f := n.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return ErrLeaderChanged
	}
	var others []raft.ServerAddress
	voters := 0
	for _, s := range f.Configuration().Servers {
		if s.Suffrage != raft.Voter {
			continue
		}
		voters++
		if s.ID != serverID(n.id) {
			others = append(others, s.Address)
		}
	}
	need := voters/2 + 1 - 1 // this member's own vote counts
	if need <= 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(n.ctx, n.cfg.ElectionTimeout)
	defer cancel() // the answers still on their way are not needed
	answers := make(chan error, len(others))
	for _, addr := range others {
		go func() { answers <- n.askTerm(ctx, string(addr), term) }()
	}
	yes, no := 0, 0
	for range others {
		var err error
		select {
		case err = <-answers:
		case <-n.stop:
			return ErrStopped
		}
		switch {
		case err == nil:
			if yes++; yes >= need {
				return nil
			}
		case errors.Is(err, errDeposed):
			return ErrLeaderChanged
		default:
			if no++; no > len(others)-need {
				return ErrLeaderChanged
			}
		}
	}
	return ErrLeaderChanged
}

// askTerm asks the voter at addr for its term: nil if it is term, errDeposed if newer.
func (n *Node) askTerm(ctx context.Context, addr string, term uint64) error {
	pc, err := n.peers.client(addr)
	if err != nil {
		return err
	}
	resp, err := pc.ConfirmTerm(ctx, &keelpb.ConfirmTermRequest{Term: term})
	switch {
	case err != nil:
		return err
	case resp.Term > term:
		return errDeposed
	case resp.Term < term:
		return errors.New("raftstore: the voter has not reached the leader's term yet")
	}
	return nil
}

// ReadIndex returns an index such that every write acknowledged before the call is at or
// below it. On the leader it is computed locally; a follower asks the leader.
func (n *Node) ReadIndex(ctx context.Context) (uint64, error) {
	for {
		if n.raft.State() == raft.Leader {
			idx, err := n.localReadIndex(ctx)
			if errors.Is(err, ErrNotLeader) {
				continue
			}
			return idx, err
		}
		addr, _, err := n.waitLeader(ctx)
		if err != nil {
			return 0, err
		}
		if addr == n.trans.LocalAddr() {
			// Leadership is moving to or from this member; look again shortly.
			if err := n.waitChange(ctx, nil); err != nil {
				return 0, err
			}
			continue
		}
		idx, err := n.peers.readIndex(ctx, string(addr))
		if errors.Is(err, ErrNotLeader) || errors.Is(err, errUnreachable) {
			if err := n.waitChange(ctx, nil); err != nil {
				return 0, err
			}
			continue
		}
		return idx, err
	}
}

// localReadIndex is the leader's read index, waiting for an entry of its term to apply
// first. It returns ErrNotLeader if this member is not (or no longer) the leader.
func (n *Node) localReadIndex(ctx context.Context) (uint64, error) {
	for {
		idx, err := n.reads.leaderReadIndex(ctx)
		if !errors.Is(err, errNotReady) {
			return idx, err
		}
		_, _, ch := n.leaderReady(n.raft.CurrentTerm())
		if err := n.waitChange(ctx, ch); err != nil {
			return 0, err
		}
	}
}

// LinearizableBarrier returns once this member's state reflects every write acknowledged
// before the call (read index, then wait for the local FSM to apply it).
func (n *Node) LinearizableBarrier(ctx context.Context) error {
	idx, err := n.ReadIndex(ctx)
	if err != nil {
		return err
	}
	return n.applied.wait(ctx, n.stop, idx)
}

// SerializableBarrier returns once this member has applied every write it acknowledged
// itself. It is not a read index: a serializable read may still miss writes acknowledged by
// other members, as in etcd, but never one acknowledged by this member. It usually returns at
// once; after a forwarded write it waits until the follower learns the commit.
func (n *Node) SerializableBarrier(ctx context.Context) error {
	floor := n.applied.floor.Load()
	if floor == 0 {
		return nil
	}
	return n.applied.wait(ctx, n.stop, floor)
}

// waitChange waits for ch (nil: one heartbeat interval), ctx or shutdown.
func (n *Node) waitChange(ctx context.Context, ch <-chan struct{}) error {
	t := time.NewTimer(n.cfg.HeartbeatInterval)
	defer t.Stop()
	select {
	case <-ch:
		return nil
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctxErr(ctx)
	case <-n.stop:
		return ErrStopped
	}
}
