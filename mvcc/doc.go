// Package mvcc is Keel's multi-version key-value store: the state machine behind the etcd
// v3 KV API, persisted in bbolt.
//
// # Revisions
//
// The store has one int64 revision. An empty store is at revision 1; every write
// transaction that changes something (Store.Write ... WriteTxn.End) produces exactly one
// new revision, shared by all its changes, which are ordered by a sub-revision. Each key
// carries create_revision, mod_revision, version (1 on creation, +1 per put, reset by a
// delete) and a lease. Reads may ask for any revision from the compaction revision up to
// the current one: ErrCompacted below, ErrFutureRev above.
//
// # Storage
//
// The bbolt file has a "key" bucket keyed by encoded revision (8-byte big-endian main
// revision, '_', 8-byte big-endian sub-revision, plus a 't' for deletions) holding
// marshalled mvccpb.KeyValues, a "meta" bucket with the consistent (applied raft) index,
// the current revision, the (scheduled) compaction revision and the finished compaction
// revision, and one "aux/<name>" bucket per
// auxiliary bucket used by callers. An in-memory B-tree maps every key to its generations
// of revisions; it is rebuilt at Open by scanning the key bucket, and Range uses it to
// find the revisions to fetch.
//
// # Batching and durability
//
// WriteTxn.End does no disk I/O: its changes, with the raft index and the new revision, go
// to an in-memory buffer that readers consult. A goroutine owned by the store commits the
// buffer in one bbolt transaction every Config.BatchInterval or Config.BatchLimit write
// transactions, and Commit, Snapshot and Close commit it too. Data and the raft index it
// came from are always committed together, so after a crash ConsistentIndex reports the
// last durable entry and raft re-applies the rest: durability comes from the raft log.
//
// # Concurrency
//
// A Store is safe for concurrent use by many readers (ReadTxn, HashKV, Aux, Snapshot) and
// one writer at a time (WriteTxn, Compact, Restore, all serialized). A ReadTxn pins the
// revision current at Store.Read; it holds a lock only while it looks keys up in the index
// and never holds a backend transaction between calls. A write transaction's changes are
// invisible to readers until End. The backend commit and its fsync run without the index
// lock. Lock order: Store.defragMu, Store.wmu, Store.commitMu, Store.mu, writeBuf.mu.
//
// The store owns two goroutines, started by Open and stopped and joined by Close: the
// batch committer and the compactor. The writer lock wmu is held by a write transaction
// from Write to End, by Compact, ResetConsistentIndex, Restore and a blocking Defrag, and by the
// compactor for one index chunk at a time; its holder is the only goroutine that mutates
// the key index (always with mu held for writing too), which is why a write transaction
// reads the index without mu. The compactor takes commitMu for one delete batch at a time,
// and nothing between steps.
//
// # Defragmentation
//
// Defrag copies the backend compactly into a new file while writers and readers go on, then
// renames it over the old one. It records every backend transaction committed after its
// starting point (batch commits and compactor delete batches, under commitMu), copies the
// buckets (the key bucket in chunks, each from a fresh read transaction: revision keys are
// written once and only deleted, so replaying the recorded writes makes any chunk current),
// replays the recorded writes in rounds, and finally, holding commitMu only (write
// transactions go on into the in-memory batch), commits, replays the rest, fsyncs and swaps.
// Readers that captured the old backend finish on it before it is closed. If the writes
// made during the copy exceed defragLogMaxBytes, it falls back to the blocking copy that
// holds wmu. Together with compaction it gives freed space back to the file system, which
// is what lets a member under a backend quota accept writes again; only the compactor's
// finished deletes free space, so wait for the compaction (WaitCompacted) first.
//
// # Compaction and hashing
//
// Compact(rev), the apply of a compaction entry, is cheap and deterministic: it validates
// rev, raises the compaction revision (reads below it fail with ErrCompacted from then on)
// and records it to be persisted with the entry's raft index in the next batch commit.
// The compactor goroutine does the work in the background, as etcd's scheduled compaction
// does: it commits the pending batch, then walks the key index in chunks of at most
// Config.CompactionChunkKeys keys, dropping for each key the versions no read at or above
// rev needs (it keeps the newest version at or below rev, unless it is a tombstone below
// rev: a tombstone at rev stays for watches from rev, etcd-io/etcd#18089), then
// scans the backend up to rev in revision order, Config.CompactionBatchRevisions entries
// per transaction with Config.CompactionBatchPause between them, deleting what the index no
// longer keeps. The last transaction records the finished compaction revision
// (FinishedCompactRev, WaitCompacted). Reads at or above the compaction revision, HashKV and Events return the
// same whatever the compactor's progress. A compaction interrupted by a crash or Close is
// resumed by Open, one in a snapshot by Restore; compactions applied while one is running
// are done together by the next pass, at the newest revision. See compactor.go.
//
// HashKV hashes the backend entries with main revision in (compaction revision, rev], which
// no compaction removes, so replicas with the same history agree.
//
// # etcd's backend
//
// The key bucket and the meta bucket's consistent_index have etcd's layout. ExportEtcdLayout
// adds to a snapshot file what etcd reads under its own names (its compaction revisions, and
// the auxiliary buckets the caller maps to etcd's buckets, e.g. raftstore's leases), and
// ImportEtcdLayout turns a file etcd wrote into one Open reads, so snapshots move both ways
// (README "Moving from etcd").
//
// # Caveats
//
// A ReadTxn whose revision is passed by a concurrent Compact gets ErrCompacted. Until the
// compactor has finished, the backend (and a snapshot of it) still holds versions below the
// compaction revision, and Keys counts keys whose history is yet to be removed. Keys and
// auxiliary bucket names and keys must not be empty. Returned KeyValues share no memory
// with the store, but event KeyValues are shared between Changes and End.
package mvcc
