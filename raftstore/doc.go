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
//     connection tells them apart).
//   - Linearizable reads use a read index: the leader takes its commit index once an entry of
//     its current term is applied, confirms leadership with one VerifyLeader round shared by all
//     reads that arrived meanwhile, and the reading member waits until its FSM has applied that
//     index. LeaderLeaseTimeout is never relied on for read safety.
//   - The FSM is persistent: mvcc stores the applied raft index in the same backend transaction
//     as the data, so on restart (NoSnapshotRestoreOnStart) entries at or below it are skipped
//     instead of re-applied. A raft snapshot is a consistent copy of the mvcc backend.
//   - Alarms (etcd's NOSPACE, CORRUPT) are replicated state: activated and deactivated through
//     the log and kept in an auxiliary bucket, so they survive restarts and snapshots. While a
//     NOSPACE alarm is active every member refuses the same entries (puts, txns with a put,
//     lease grants) with ErrNoSpace; deletes, compactions and revokes go on. A member whose
//     backend reaches its quota (SetBackendQuota) raises its own NOSPACE alarm after applying
//     a write.
//   - RestoreDataDir turns a backend snapshot into the data dir of a member of a new cluster
//     (consistent index reset, old members and alarms dropped, raft log bootstrapped).
//
// Concurrency: raft applies entries on its FSM goroutine; the FSM is the only writer of the
// mvcc store. Reads run concurrently on any goroutine.
package raftstore
