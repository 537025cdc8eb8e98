package raftstore

import (
	"sync"

	"github.com/hashicorp/raft"
)

// guardedTransport wraps the raft transport so that Close can shut every replication
// pipeline it handed out. hashicorp/raft v1.7.3 can otherwise hang Raft.Shutdown: once a
// pipeline's response consumer has stopped (the follower rejected an entry, or replication is
// stopping), a sender blocked on the pipeline's full in-flight queue waits forever, and
// Shutdown waits for that sender. Closing the pipeline makes the blocked send return
// ErrPipelineShutdown.
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
}

// AppendEntriesPipeline returns the inner transport's pipeline, tracked.
func (g *guardedTransport) AppendEntriesPipeline(id raft.ServerID, target raft.ServerAddress) (raft.AppendPipeline, error) {
	p, err := g.Transport.AppendEntriesPipeline(id, target)
	if err != nil {
		return nil, err
	}
	gp := &guardedPipeline{AppendPipeline: p, g: g}
	g.mu.Lock()
	if g.closed {
		g.mu.Unlock()
		_ = p.Close()
		return nil, raft.ErrPipelineShutdown
	}
	g.pipes[gp] = struct{}{}
	g.mu.Unlock()
	return gp, nil
}

// Close closes the pipeline and forgets it.
func (p *guardedPipeline) Close() error {
	p.g.mu.Lock()
	delete(p.g.pipes, p)
	p.g.mu.Unlock()
	return p.AppendPipeline.Close()
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
		_ = p.AppendPipeline.Close()
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
