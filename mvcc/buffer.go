package mvcc

import "sync"

// writeBuf holds the changes of ended write transactions that are not yet committed to the
// backend, so that readers see them at once. The store has at most two: the open one that
// WriteTxn.End and Compact append to, and the sealed one a commit is writing to bbolt.
//
// A reader captures both buffers (under Store.mu) before it opens any backend transaction:
// every change is then either in a captured buffer or already committed, and stays
// reachable through the captured pointer even after the committer drops the buffer.
type writeBuf struct {
	// mu guards the fields below until the buffer is sealed. The writer appends holding
	// Store.mu and mu; readers hold only mu.RLock. A sealed buffer is never written again.
	mu sync.RWMutex
	// kvs are the key bucket entries in revision order (tombstones included).
	kvs []bufKV
	// at locates the put (non-tombstone) entries of kvs by revision.
	at map[revision]int
	// aux are the latest auxiliary bucket writes and deletes.
	aux map[auxKey]auxVal
	// txns counts write transactions and compactions recorded here; 0 means nothing to commit.
	txns int

	// meta is the store's state after the last change recorded here, set when the buffer is
	// sealed (Store.mu held) and persisted in the same backend transaction as the changes.
	meta persistedMeta
}

// bufKV is one key bucket entry: an encoded revision key and a marshalled mvccpb.KeyValue.
type bufKV struct {
	rev  revision
	key  []byte
	val  []byte
	tomb bool
}

// auxKey addresses one auxiliary value.
type auxKey struct {
	bucket, key string
}

// auxVal is a pending auxiliary write, or a delete.
type auxVal struct {
	val     []byte
	deleted bool
}

// persistedMeta is what the meta bucket records next to the data.
type persistedMeta struct {
	consistentIndex uint64
	rev             int64
	compactRev      int64
}

func newWriteBuf() *writeBuf {
	return &writeBuf{at: make(map[revision]int), aux: make(map[auxKey]auxVal)}
}

// value returns the marshalled KeyValue of the put at r, if buffered here.
func (b *writeBuf) value(r revision) ([]byte, bool) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	i, ok := b.at[r]
	if !ok {
		return nil, false
	}
	return b.kvs[i].val, true
}

// auxValue returns the pending auxiliary operation on (bucket, key), if any.
func (b *writeBuf) auxValue(bucket, key []byte) (auxVal, bool) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	v, ok := b.aux[auxKey{string(bucket), string(key)}]
	return v, ok
}

// auxBucket returns the pending operations on bucket.
func (b *writeBuf) auxBucket(bucket []byte, into map[string]auxVal) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	for k, v := range b.aux {
		if k.bucket == string(bucket) {
			into[k.key] = v
		}
	}
}

// snapshotKVs returns the key bucket entries buffered so far. The returned slice is never
// appended to in place by later writes that a caller could observe (its length is fixed).
func (b *writeBuf) snapshotKVs() []bufKV {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return b.kvs[:len(b.kvs):len(b.kvs)]
}

// record appends the changes of one ended write transaction (none for a compaction entry,
// which only changes the meta persisted with the buffer).
// requires Store.mu held
func (b *writeBuf) record(kvs []bufKV, aux []auxOp) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, e := range kvs {
		if !e.tomb {
			b.at[e.rev] = len(b.kvs)
		}
		b.kvs = append(b.kvs, e)
	}
	for _, op := range aux {
		b.aux[auxKey{string(op.bucket), string(op.key)}] = auxVal{val: op.val, deleted: op.del}
	}
	b.txns++
	return b.txns
}

// dropKVs forgets the buffer's key bucket entries but keeps its auxiliary changes and its
// transaction count, so that a commit still persists the meta (Config.UnsafeLoseDataOnClose).
// requires Store.mu held
func (b *writeBuf) dropKVs() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.kvs = nil
	b.at = make(map[revision]int)
}
