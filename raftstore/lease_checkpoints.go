package raftstore

import (
	"context"
	"time"

	keelpb "github.com/keeldb/keel/api/proto"
	"github.com/keeldb/keel/lease"
)

// leaseCheckpointBatch is how many checkpoints one LeaseCheckpoints entry carries (about 20
// bytes each; applying one is one small backend write).
const leaseCheckpointBatch = 1000

// runLeaseCheckpoints records remaining TTLs through the log while this member leads, so a
// new leader does not give long leases their full TTL again. It runs until Close.
//
// Every LeaseCheckpointInterval it takes, in one pass under the lessor's lock, the remaining
// TTL of every lease longer than the interval that changed since its last checkpoint
// (lease.Lessor.PendingCheckpoints), and proposes them in entries of leaseCheckpointBatch.
// Every leaseExpiryTick it also proposes the clears (Checkpoint 0) owed for leases renewed
// since their last checkpoint (lease.Lessor.TakeClears).
//
// Both come from this one goroutine, one entry at a time, which keeps them in order: a
// checkpoint taken before a renewal is applied before the clear of that renewal, never after
// it (a stale, shorter remaining TTL applied last would let a new leader expire the renewed
// lease early). Entries are proposed on this member only, never forwarded to a successor.
func (n *Node) runLeaseCheckpoints() {
	t := time.NewTicker(leaseExpiryTick)
	defer t.Stop()
	minTTL := int64(n.cfg.LeaseCheckpointInterval / time.Second)
	next := time.Now().Add(n.cfg.LeaseCheckpointInterval)
	for {
		select {
		case <-n.stop:
			return
		case <-t.C:
		}
		for {
			ids := n.lessor.TakeClears(leaseCheckpointBatch)
			if len(ids) == 0 {
				break
			}
			cps := make([]*keelpb.LeaseCheckpoint, len(ids))
			for i, id := range ids {
				cps[i] = &keelpb.LeaseCheckpoint{Id: id}
			}
			if !n.proposeCheckpoints(cps) {
				break // the next full pass records the right time
			}
		}
		if now := time.Now(); now.After(next) {
			next = now.Add(n.cfg.LeaseCheckpointInterval)
			n.checkpointAll(n.lessor.PendingCheckpoints(minTTL))
		}
	}
}

// checkpointAll proposes cps in entries of leaseCheckpointBatch, stopping at the first failure.
func (n *Node) checkpointAll(cps []lease.Checkpoint) {
	for len(cps) > 0 {
		k := min(len(cps), leaseCheckpointBatch)
		batch := make([]*keelpb.LeaseCheckpoint, k)
		for i, cp := range cps[:k] {
			batch[i] = &keelpb.LeaseCheckpoint{Id: cp.ID, RemainingTtl: cp.Remaining}
		}
		if !n.proposeCheckpoints(batch) {
			return
		}
		cps = cps[k:]
	}
}

// proposeCheckpoints proposes one LeaseCheckpoints entry on this member and waits for it. It
// reports whether the entry applied.
func (n *Node) proposeCheckpoints(cps []*keelpb.LeaseCheckpoint) bool {
	ctx, cancel := context.WithTimeout(context.Background(), n.cfg.RequestTimeout)
	defer cancel()
	cmd := mustMarshal(&keelpb.Command{Cmd: &keelpb.Command_LeaseCheckpoints{
		LeaseCheckpoints: &keelpb.LeaseCheckpoints{Checkpoints: cps}}})
	_, _, err := n.proposeLocal(ctx, cmd)
	n.countProposal(err)
	if err != nil {
		n.log.Debug("lease checkpoint failed", "checkpoints", len(cps), "error", err)
		return false
	}
	return true
}
