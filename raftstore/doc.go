// Package raftstore replicates Keel's state machine with hashicorp/raft.
//
// A Node owns one raft member: the raft log and stable store, the file snapshot store, the
// network transport on the peer URL, and the FSM that applies committed entries to an
// mvcc.Store through the apply package. It is the only package that imports hashicorp/raft.
//
// The raft log is hashicorp/raft-wal (member/wal: preallocated segment files, one write and
// one fsync per appended batch) unless the data dir already holds a raft-boltdb log
// (member/raft.db, written by releases before 2026-12, or chosen with LogBackendBolt): that
// one is used as it is, and copied into a WAL only when Config.MigrateLog asks for it, with
// raft.db kept as raft.db.migrated. See logstore.go and docs/DECISIONS.md.
//
// Guarantees:
//   - Writes go through the raft log. A follower forwards them to the leader over the Peer
//     gRPC service that shares the peer listener with raft's own traffic (the first byte of a
//     connection tells them apart), in batches sent by the requests' own goroutines.
//   - Linearizable reads use a read index: the leader takes its commit index once an entry of
//     its current term is applied, confirms leadership with one round of ConfirmTerm calls
//     to the voters, sent after the index was taken and shared by all reads that arrived
//     meanwhile (a quorum still in the leader's term proves no newer leader existed), and the
//     reading member waits until its FSM has applied that index. hashicorp/raft's
//     VerifyLeader is not used (it may count an answer sent before the check began), nor is
//     LeaderLeaseTimeout (clocks and pauses break it).
//   - The leader's replication skips AppendEntries that would tell a follower nothing new
//     (same term, commit index and log position) for up to 100 ms, so an idle cluster does not
//     send 400 empty requests a second (pipeline.go).
//   - The FSM is persistent: mvcc stores the applied raft index in the same backend transaction
//     as the data, so on restart (NoSnapshotRestoreOnStart) entries at or below it are skipped
//     instead of re-applied. A raft snapshot is a consistent copy of the mvcc backend.
//   - Alarms (etcd's NOSPACE, CORRUPT) are replicated state: activated and deactivated through
//     the log and kept in an auxiliary bucket, so they survive restarts and snapshots. While a
//     NOSPACE alarm is active every member refuses the same entries (puts, txns with a put,
//     lease grants) with ErrNoSpace; deletes, compactions and revokes go on. A member whose
//     backend reaches its quota (SetBackendQuota) raises its own NOSPACE alarm after applying
//     a write. While a CORRUPT alarm is active every member refuses writes, compactions and
//     lease grants and revokes with ErrCorrupt (corrupt.go).
//   - Corruption checks (corrupt.go): InitialCorruptCheck compares this member's HashKV with
//     its peers' before it serves clients; with Config.CorruptCheckInterval the leader compares
//     every member's and raises CORRUPT through the log for those that differ. Peers answer
//     over etcd's Maintenance.HashKV on the peer gRPC server (registered by server). With
//     Config.CompactHashCheckInterval the leader also compares the hashes members' compactors
//     recorded of the history they erased (compacthash.go).
//   - RestoreDataDir turns a backend snapshot into the data dir of a member of a new cluster
//     (consistent index reset, old members and alarms dropped, raft log bootstrapped).
//
// # Leases: expiry, batching and rate
//
// Only the leader expires leases, from the deadline heap of its promoted lessor (package
// lease). Every 100 ms runLeaseExpiry looks at the heap's head (O(1)); while leases are due
// and the rate allows, it confirms leadership with a read index, takes up to
// Config.LeaseRevokeBatch due leases (default 500, and no more than 10,000 attached keys)
// and proposes them as one LeaseRevokes entry, waiting for it to apply before the next. A
// token bucket bounds the revocations to Config.LeaseRevokeRate a second (default 5,000;
// etcd's leaseRevokeRate is 1,000) in bursts of at most one batch, so a mass expiry is a few
// entries a second rather than thousands, and leaves room for client writes. When the
// cluster commits a batch more slowly than batch/rate, the revocations slow down with it.
//
// Safety: leadership is confirmed before the leases are taken and proposed, and a LeaseRevokes
// entry is proposed only on the member that decided it, never forwarded, so a deposed or
// paused leader never revokes, by itself or through its successor (whose own deadlines
// start at its promotion with the TTL plus an election timeout). The entry carries lease IDs
// only: members never read a clock to apply it, and skip the leases already gone.
//
// Revisions: a LeaseRevokes entry is applied in one mvcc write transaction, so all the keys
// of its leases are deleted at one revision, as by a txn (etcd gives each expired lease its
// own revision). Watchers receive the deletions of a batch in one response. One transaction
// per entry is what a persistent FSM needs: the applied raft index is stored with the data of
// the transaction that carries it, so an entry is applied wholly or not at all across a crash.
//
// Checkpoints: every LeaseCheckpointInterval the leader records the remaining TTL of the
// leases longer than the interval whose time changed, taken in one pass under the lessor's
// lock and proposed 1,000 to an entry; every 100 ms it proposes, batched the same way, the
// clears (remaining 0) owed for checkpointed leases renewed since. One goroutine proposes
// both, one entry at a time, so a checkpoint taken before a renewal never lands after that
// renewal's clear.
//
// Keepalives: the leader renews a lease only after a read index round that started after the
// keepalive arrived, so a deposed or paused leader never acknowledges one; keepalives share
// that round with each other and with linearizable reads (the read indexer runs one
// confirmation round for everything that queued while the previous one ran). LeaseRenewBatch
// renews many leases under one round: the server hands it all the requests a keepalive
// stream queued meanwhile, so the keepalives clientv3 multiplexes on one stream no longer
// wait for a round each in turn. A follower forwards each renewal to the leader, concurrently,
// and the leader batches them the same way.
//
// Concurrency: raft applies entries on its FSM goroutine; the FSM is the only writer of the
// mvcc store. Reads run concurrently on any goroutine.
package raftstore
