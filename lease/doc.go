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
// Concurrency: a Lessor is safe for concurrent use; its methods take its mutex briefly and
// never call out while holding it.
package lease
