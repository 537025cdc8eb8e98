package mvcc

import (
	"io"

	"go.etcd.io/etcd/api/v3/mvccpb"
)

// Store is a multi-version key-value store on bbolt: one revision per write transaction,
// an in-memory key index rebuilt at Open, and the applied raft index stored in the same
// backend transaction as the data it produced. Safe for concurrent use: many readers,
// one writer at a time.
type Store struct{}

// Open opens (creating if needed) the store at cfg.Path and rebuilds the in-memory index.
func Open(cfg Config) (*Store, error) { panic("mvcc: not implemented") }

// Close commits any pending batch and closes the backend. Idempotent.
func (s *Store) Close() error { panic("mvcc: not implemented") }

// Rev returns the current revision (1 for an empty store).
func (s *Store) Rev() int64 { panic("mvcc: not implemented") }

// CompactRev returns the compaction revision (0 if never compacted).
func (s *Store) CompactRev() int64 { panic("mvcc: not implemented") }

// ConsistentIndex returns the raft index of the last applied write transaction (0 when new),
// as recorded by Write; after a restart it is the value persisted with the data.
func (s *Store) ConsistentIndex() uint64 { panic("mvcc: not implemented") }

// Read opens a read transaction on the current revision. The caller must End it.
// Read transactions never block the writer for longer than an index lookup.
func (s *Store) Read() *ReadTxn { panic("mvcc: not implemented") }

// Write opens the single write transaction for the raft entry at index. Every Put and
// DeleteRange in it shares revision Rev()+1; the revision advances on End only if
// something changed. index is stored in the same backend transaction as the changes.
// Callers serialize writes (the FSM is the only writer).
func (s *Store) Write(index uint64) *WriteTxn { panic("mvcc: not implemented") }

// Compact makes every revision below rev unreadable and removes superseded versions and
// tombstones at or below rev from the index and backend. Applied at raft index index.
// Returns ErrCompacted if rev <= CompactRev(), ErrFutureRev if rev > Rev().
func (s *Store) Compact(index uint64, rev int64) error { panic("mvcc: not implemented") }

// HashKV returns a CRC32 (Castagnoli) of all key-value versions in (CompactRev, rev] as stored
// in the backend, identical on every replica with the same history; rev 0 means current.
// It also returns the revision hashed and the compaction revision.
func (s *Store) HashKV(rev int64) (hash uint32, hashRev, compactRev int64, err error) {
	panic("mvcc: not implemented")
}

// Size returns the backend file size in bytes and the bytes in use.
func (s *Store) Size() (size, inUse int64) { panic("mvcc: not implemented") }

// Commit forces the pending backend batch to disk.
func (s *Store) Commit() error { panic("mvcc: not implemented") }

// Snapshot commits the pending batch and writes a consistent copy of the backend to w.
func (s *Store) Snapshot(w io.Writer) (int64, error) { panic("mvcc: not implemented") }

// Restore replaces the whole store with the backend copy read from r (as written by
// Snapshot) and rebuilds the index. Open transactions must have ended.
func (s *Store) Restore(r io.Reader) error { panic("mvcc: not implemented") }

// Aux returns the value stored under key in the auxiliary bucket, or nil. Auxiliary buckets
// hold replicated non-KV state (members, cluster id, leases) and are part of snapshots.
func (s *Store) Aux(bucket, key []byte) []byte { panic("mvcc: not implemented") }

// ForEachAux calls fn for every key in an auxiliary bucket, in key order.
func (s *Store) ForEachAux(bucket []byte, fn func(k, v []byte) error) error {
	panic("mvcc: not implemented")
}

// ReadTxn is a read-only view at one revision. Not safe for concurrent use.
type ReadTxn struct{}

// FirstRev implements ReadView.
func (t *ReadTxn) FirstRev() int64 { panic("mvcc: not implemented") }

// Rev implements ReadView.
func (t *ReadTxn) Rev() int64 { panic("mvcc: not implemented") }

// Range implements ReadView.
func (t *ReadTxn) Range(key, end []byte, ro RangeOptions) (*RangeResult, error) {
	panic("mvcc: not implemented")
}

// End releases the view.
func (t *ReadTxn) End() { panic("mvcc: not implemented") }

// WriteTxn is the store's single write transaction. Its reads see its own writes.
type WriteTxn struct{}

// FirstRev implements ReadView.
func (t *WriteTxn) FirstRev() int64 { panic("mvcc: not implemented") }

// Rev implements ReadView: the revision before this transaction's writes (its reads at Rev()
// still see this transaction's own writes).
func (t *WriteTxn) Rev() int64 { panic("mvcc: not implemented") }

// Range implements ReadView; at the current revision it includes this transaction's writes.
func (t *WriteTxn) Range(key, end []byte, ro RangeOptions) (*RangeResult, error) {
	panic("mvcc: not implemented")
}

// Put writes key=value attached to lease (0 = none) at the transaction's revision and
// returns the previous live version, if any.
func (t *WriteTxn) Put(key, value []byte, lease int64) (prev *mvccpb.KeyValue) {
	panic("mvcc: not implemented")
}

// DeleteRange deletes the live keys in [key, end) and returns their previous versions.
func (t *WriteTxn) DeleteRange(key, end []byte) (prev []mvccpb.KeyValue) {
	panic("mvcc: not implemented")
}

// SetAux stores key=value in an auxiliary bucket within this transaction.
func (t *WriteTxn) SetAux(bucket, key, value []byte) { panic("mvcc: not implemented") }

// DeleteAux removes key from an auxiliary bucket within this transaction.
func (t *WriteTxn) DeleteAux(bucket, key []byte) { panic("mvcc: not implemented") }

// Changes returns the events of this transaction so far, in order.
func (t *WriteTxn) Changes() []mvccpb.Event { panic("mvcc: not implemented") }

// End finishes the transaction: it records the raft index, advances the revision if anything
// changed, adds the changes to the pending backend batch and returns the events (for watchers).
func (t *WriteTxn) End() []mvccpb.Event { panic("mvcc: not implemented") }
