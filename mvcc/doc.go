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
// the current revision and the compaction revision, and one "aux/<name>" bucket per
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
// lock. Lock order: Store.wmu, Store.commitMu, Store.mu, writeBuf.mu.
//
// # Defragmentation
//
// Defrag copies the backend compactly into a new file and renames it over the old one while
// writers wait and readers go on; readers that captured the old backend finish on it before
// it is closed. Together with compaction it gives freed space back to the file system, which
// is what lets a member under a backend quota accept writes again.
//
// # Compaction and hashing
//
// Compact(rev) makes revisions below rev unreadable, keeps for each key the newest version
// at or below rev (unless it is a tombstone) and removes the rest from the index at once
// and from the backend with the next batch commit. HashKV hashes the backend entries with
// main revision in (compaction revision, rev], so replicas with the same history agree.
//
// # Caveats
//
// A ReadTxn whose revision is passed by a concurrent Compact gets ErrCompacted. Keys and
// auxiliary bucket names and keys must not be empty. Returned KeyValues share no memory
// with the store, but event KeyValues are shared between Changes and End.
package mvcc
