// Package lease keeps etcd-style leases: a TTL, the keys attached to it, and — on the leader
// only — when it expires.
//
// The replicated part (Grant, Revoke, Attach, Detach, Checkpoint) is deterministic: it is
// called while raft entries are applied, takes the lease ID and TTL as proposed (the proposer
// allocates IDs and raises TTLs to the minimum, so members with different settings never
// diverge), and never reads a clock. Expiry is local: Promote gives every lease a deadline
// from the local clock (its checkpointed remaining TTL, or its full TTL, plus an extension
// that covers the election gap); Renew pushes a deadline out; Expired reports the leases past
// theirs. The lessor never revokes anything itself: the raft layer confirms leadership and
// proposes a revoke, and only applying that revoke deletes keys. A demoted lessor has no
// deadlines, so a deposed or paused leader cannot expire leases.
//
// # Expiry
//
// A primary lessor keeps every lease in a deadline heap (container/heap) whose entries know
// their own position, so Grant, Renew and Revoke add, move or remove one lease in O(log n),
// and Expired(limit) pops the k due leases in O(k log n) without looking at the others: the
// leader's expiry tick costs O(1) when nothing is due, whatever the number of leases (it used
// to scan and sort every lease, ~20-50 ms with 100k leases on every 500 ms tick, under the
// lock keepalives need). Promote builds the heap in O(n); Demote empties it. HasExpired is
// the O(1) look at the heap's head the leader takes on every tick; ExpiredBatch bounds a
// batch by the keys attached to its leases as well, so one revoke entry stays small.
//
// Expired does not forget what it reports: each reported lease goes back into the heap due
// again Config.ExpiredRetry later (3 s by default, etcd's expiredLeaseRetryInterval), and
// only Revoke takes it out. A revoke lost with a failed proposal or a leader change is thus
// retried, and a revoke still in flight is not proposed again at once. A lease past its
// deadline cannot be renewed (Renew returns ErrNotFound), so once Expired may have reported
// it, it can only be revoked.
//
// Checkpoint records a replicated remaining TTL but never moves a deadline: a leader's
// checkpoints come from its own deadlines (PendingCheckpoints, one pass under the lock), and
// the checkpoints of earlier terms are all applied before a new leader's Promote reads them.
// Renewing a checkpointed lease makes its checkpoint stale (too short); the lessor remembers
// that the leader owes a Checkpoint 0 for it until TakeClears hands it out.
//
// How fast expired leases are revoked (batch size, rate) is the raft layer's business; see
// package raftstore.
//
// Concurrency: a Lessor is safe for concurrent use; its methods take its mutex briefly and
// never call out while holding it.
package lease
