package raftstore

import (
	"context"
	"time"

	keelpb "github.com/keeldb/keel/api/proto"
)

// leaseExpiryTick is how often the leader looks for expired leases. A look costs O(1) when
// none is due (lease.Lessor.HasExpired), so it can be frequent: a lease is revoked at most
// about one tick after its deadline, plus a read index round and a commit.
const leaseExpiryTick = 100 * time.Millisecond

// maxRevokeBatchKeys bounds the keys one LeaseRevokes entry deletes, so a batch of leases
// with many keys each cannot hold the apply loop (and every write behind it) for long; a
// single lease with more keys still goes, alone, as a client's revoke would.
const maxRevokeBatchKeys = 10_000

// runLeaseExpiry revokes expired leases while this member leads. Every tick, while leases are
// due and the rate allows, it confirms leadership with a read index, takes up to
// LeaseRevokeBatch due leases from the lessor and proposes their revocation in one
// LeaseRevokes entry, then waits for it to apply before the next batch. It runs until Close.
//
// The order is the safety argument: leadership is confirmed (a quorum round that started
// after the leases were found due) before the leases are taken and the entry is proposed,
// and the entry is proposed only on this member, never forwarded, so a deposed or paused
// leader acts on its deadlines neither by itself nor through its successor; a demoted lessor
// reports nothing. Leases taken for an entry that fails are reported again by the lessor a
// few seconds later (lease.Config.ExpiredRetry) if they still exist.
func (n *Node) runLeaseExpiry() {
	t := time.NewTicker(leaseExpiryTick)
	defer t.Stop()
	budget := newRevokeBudget(n.cfg.LeaseRevokeRate, n.cfg.LeaseRevokeBatch, time.Now())
	for {
		select {
		case <-n.stop:
			return
		case <-t.C:
		}
		for n.lessor.HasExpired() {
			limit := min(n.cfg.LeaseRevokeBatch, budget.available(time.Now()))
			if limit == 0 || !n.revokeExpired(limit, budget) {
				break
			}
		}
	}
}

// revokeExpired confirms leadership, then proposes the revocation of up to limit due leases
// in one entry and waits for it. It reports whether it revoked a batch.
func (n *Node) revokeExpired(limit int, budget *revokeBudget) bool {
	ctx, cancel := context.WithTimeout(context.Background(), n.cfg.RequestTimeout)
	defer cancel()
	if _, err := n.localReadIndex(ctx); err != nil {
		return false
	}
	ids := n.lessor.ExpiredBatch(limit, maxRevokeBatchKeys)
	if len(ids) == 0 {
		return false
	}
	budget.spend(len(ids))
	cmd := &keelpb.Command{Cmd: &keelpb.Command_LeaseRevokes{LeaseRevokes: &keelpb.LeaseRevokes{Ids: ids}}}
	_, _, err := n.proposeLocal(ctx, mustMarshal(cmd))
	n.countProposal(err)
	if err != nil {
		n.log.Warn("revoking expired leases failed", "leases", len(ids), "error", err)
		return false
	}
	n.log.Debug("revoked expired leases", "leases", len(ids))
	return true
}

// revokeBudget is a token bucket of lease revocations: rate tokens a second, at most burst
// kept (one batch, so the rate also holds over any window of a batch or more). Not safe for
// concurrent use; runLeaseExpiry owns it.
type revokeBudget struct {
	rate   float64
	burst  float64
	tokens float64
	last   time.Time
}

func newRevokeBudget(rate, burst int, now time.Time) *revokeBudget {
	return &revokeBudget{rate: float64(rate), burst: float64(burst), tokens: float64(burst), last: now}
}

// available adds the tokens earned since the last call and returns the whole tokens held.
func (b *revokeBudget) available(now time.Time) int {
	if now.After(b.last) {
		b.tokens = min(b.burst, b.tokens+now.Sub(b.last).Seconds()*b.rate)
		b.last = now
	}
	return int(b.tokens)
}

// spend takes n tokens (n <= available).
func (b *revokeBudget) spend(n int) { b.tokens -= float64(n) }
