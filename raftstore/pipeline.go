package raftstore

import (
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// guardedTransport wraps the raft transport so that a replication pipeline whose response
// consumer has stopped is closed instead of blocking its sender forever.
//
// hashicorp/raft v1.7.3 deadlocks replication to a follower when that follower rejects a
// pipelined AppendEntries (raft issue #612), which includes a follower that panics inside
// raft's appendEntries (raft.go:1451: the deferred Respond answers Success false while the
// panic unwinds, before the connection dies). Its pipelineDecode (replication.go:557) returns
// on the first response that is not a success, so nothing reads the pipeline's responses any
// more; NetworkTransport's decoder then blocks handing over the next response
// (net_transport.go decodeResponses), and a pipelineSend that races the closed finishCh (its
// select picks a ready triggerCh as often as finishCh) blocks for good handing its request to
// that decoder (netPipeline.AppendEntries). pipelineReplicate holds the deferred Close that
// would release it, so replication to the follower stops silently, while the separate
// heartbeat goroutine keeps the follower from starting an election: the follower stays
// behind until the leader changes. The same blocked send hangs Raft.Shutdown.
//
// Each pipeline handed out is therefore relayed (guardedPipeline.relay): its responses pass
// through a goroutine that, after forwarding one on which raft's decoder stops (not a
// success, or a newer term), closes the pipeline, so a blocked or later send returns
// ErrPipelineShutdown and raft falls back to its plain replicateTo, which retries the
// follower. Close also shuts every pipeline still open, for Shutdown.
type guardedTransport struct {
	raft.Transport

	mu sync.Mutex
	// guarded by mu
	pipes  map[*guardedPipeline]struct{}
	closed bool
}

func newGuardedTransport(t raft.Transport) *guardedTransport {
	return &guardedTransport{Transport: t, pipes: map[*guardedPipeline]struct{}{}}
}

type guardedPipeline struct {
	raft.AppendPipeline
	g *guardedTransport

	out      chan raft.AppendFuture // the responses relay forwards: Consumer
	done     chan struct{}          // closed by shut
	shutOnce sync.Once

	mu sync.Mutex
	// guarded by mu: what the last request sent told the follower, and when
	sent                bool
	term, commit, index uint64 // index: the last log index the follower was sent
	at                  time.Time
}

// idleAppendInterval bounds how often the leader's replication sends a follower an
// AppendEntries that tells it nothing new.
//
// hashicorp/raft tells followers the commit index only in AppendEntries, so the leader's
// replication sends one every CommitTimeout (5-10 ms) when no entries flow (raft issue
// #282): 400 requests a second for a 3-member cluster at rest, 17-22% of a core in all. Once
// a follower has been sent a commit index, another empty request with the same term, commit
// index and log position carries nothing it does not know; such a request is skipped unless
// idleAppendInterval has passed since the last one sent. Nothing depends on its answer:
// raft's heartbeats (sent separately, and at once for VerifyLeader) keep the leader's
// contact with the follower, notify leadership checks and report a newer term, and a
// request with entries or a new commit index is always sent.
const idleAppendInterval = 100 * time.Millisecond

// AppendEntriesPipeline returns the inner transport's pipeline, tracked.
func (g *guardedTransport) AppendEntriesPipeline(id raft.ServerID, target raft.ServerAddress) (raft.AppendPipeline, error) {
	p, err := g.Transport.AppendEntriesPipeline(id, target)
	if err != nil {
		return nil, err
	}
	gp := &guardedPipeline{AppendPipeline: p, g: g, out: make(chan raft.AppendFuture), done: make(chan struct{})}
	g.mu.Lock()
	if g.closed {
		g.mu.Unlock()
		_ = p.Close()
		return nil, raft.ErrPipelineShutdown
	}
	g.pipes[gp] = struct{}{}
	g.mu.Unlock()
	go gp.relay()
	return gp, nil
}

// Consumer returns the responses of the requests sent, in order, as relay forwards them.
func (p *guardedPipeline) Consumer() <-chan raft.AppendFuture { return p.out }

// relay forwards the inner pipeline's responses to Consumer until the pipeline is shut. After
// forwarding one on which raft's pipelineDecode stops reading (see stopsDecode), it shuts the
// pipeline: nothing would read the next response, so a send waiting for the inner decoder
// would wait forever (see guardedTransport).
func (p *guardedPipeline) relay() {
	in := p.AppendPipeline.Consumer()
	for {
		var f raft.AppendFuture
		select {
		case f = <-in:
		case <-p.done:
			return
		}
		select {
		case p.out <- f:
		case <-p.done:
			return
		}
		if stopsDecode(f) {
			_ = p.shut()
			return
		}
	}
}

// stopsDecode reports whether hashicorp/raft's pipelineDecode returns after reading f: a
// response with a newer term, or one that is not a success (v1.7.3 replication.go:548-559).
// A request that failed in the transport has an empty response, so it is not a success.
func stopsDecode(f raft.AppendFuture) bool {
	req, resp := f.Request(), f.Response()
	return resp.Term > req.Term || !resp.Success
}

// AppendEntries sends a request down the pipeline, or skips one that repeats what the follower
// was last sent (see idleAppendInterval); a skipped request's future is complete and never
// reaches Consumer.
func (p *guardedPipeline) AppendEntries(args *raft.AppendEntriesRequest, resp *raft.AppendEntriesResponse) (raft.AppendFuture, error) {
	index := args.PrevLogEntry
	if n := len(args.Entries); n > 0 {
		index = args.Entries[n-1].Index
	}
	now := time.Now()
	p.mu.Lock()
	if len(args.Entries) == 0 && p.sent && args.Term == p.term && args.LeaderCommitIndex == p.commit &&
		index == p.index && now.Sub(p.at) < idleAppendInterval {
		p.mu.Unlock()
		return skippedAppend{req: args, resp: resp, at: now}, nil
	}
	p.sent, p.term, p.commit, p.index, p.at = true, args.Term, args.LeaderCommitIndex, index, now
	p.mu.Unlock()
	return p.AppendPipeline.AppendEntries(args, resp)
}

// skippedAppend is the future of a request AppendEntries did not send.
type skippedAppend struct {
	req  *raft.AppendEntriesRequest
	resp *raft.AppendEntriesResponse
	at   time.Time
}

func (s skippedAppend) Error() error                          { return nil }
func (s skippedAppend) Start() time.Time                      { return s.at }
func (s skippedAppend) Request() *raft.AppendEntriesRequest   { return s.req }
func (s skippedAppend) Response() *raft.AppendEntriesResponse { return s.resp }

// Close closes the pipeline and forgets it.
func (p *guardedPipeline) Close() error {
	p.g.mu.Lock()
	delete(p.g.pipes, p)
	p.g.mu.Unlock()
	return p.shut()
}

// shut stops relay and closes the inner pipeline, once: a send blocked in it, or made after,
// returns ErrPipelineShutdown or a write error.
func (p *guardedPipeline) shut() error {
	var err error
	p.shutOnce.Do(func() {
		close(p.done)
		err = p.AppendPipeline.Close()
	})
	return err
}

// closePipelines closes every open pipeline and refuses new ones.
func (g *guardedTransport) closePipelines() {
	g.mu.Lock()
	g.closed = true
	pipes := make([]*guardedPipeline, 0, len(g.pipes))
	for p := range g.pipes {
		pipes = append(pipes, p)
	}
	g.mu.Unlock()
	for _, p := range pipes {
		_ = p.shut()
	}
}

// RequestPreVote passes pre-vote through (both of raft's transports support it).
func (g *guardedTransport) RequestPreVote(id raft.ServerID, target raft.ServerAddress, args *raft.RequestPreVoteRequest, resp *raft.RequestPreVoteResponse) error {
	if pv, ok := g.Transport.(raft.WithPreVote); ok {
		return pv.RequestPreVote(id, target, args, resp)
	}
	return raft.ErrUnsupportedProtocol
}

// Close closes the inner transport.
func (g *guardedTransport) Close() error {
	if c, ok := g.Transport.(raft.WithClose); ok {
		return c.Close()
	}
	return nil
}
