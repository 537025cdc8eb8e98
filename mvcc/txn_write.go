package mvcc

import (
	"bytes"
	"fmt"

	"go.etcd.io/etcd/api/v3/mvccpb"
	"google.golang.org/protobuf/proto"
)

// Write opens the single write transaction for the raft entry at index. Every Put and
// DeleteRange in it shares revision Rev()+1; the revision advances on End only if
// something changed. index is stored in the same backend transaction as the changes;
// index 0 (a write not coming from the raft log) leaves ConsistentIndex unchanged.
// Write blocks while another write transaction, a Compact, a Restore or one index chunk of
// the compactor is in progress (callers serialize writes: the FSM is the only writer). Changes are published to readers
// only by End; until then readers keep seeing Rev().
func (s *Store) Write(index uint64) *WriteTxn {
	s.wmu.Lock()
	s.mu.RLock()
	defer s.mu.RUnlock()
	return &WriteTxn{s: s, index: index, rev: s.rev, idx: s.idx, closed: s.closed,
		own: make(map[revision][]byte)}
}

// WriteTxn is the store's single write transaction. Its reads see its own writes.
// Not safe for concurrent use. On a closed store its writes are dropped and its Range
// returns ErrClosed.
type WriteTxn struct {
	s      *Store
	index  uint64
	rev    int64      // store revision when the transaction began
	idx    *treeIndex // read without s.mu: the holder of s.wmu (this txn) is its only mutator
	closed bool
	ended  bool

	sub    int64               // next sub-revision
	kvs    []bufKV             // staged key bucket entries, in revision order
	own    map[revision][]byte // staged puts by revision, for this transaction's reads
	aux    []auxOp
	events []mvccpb.Event
}

// auxOp is a staged auxiliary write or delete.
type auxOp struct {
	bucket, key, val []byte
	del              bool
}

// FirstRev implements ReadView. It is the store's compaction revision (0 if never compacted).
func (t *WriteTxn) FirstRev() int64 { return t.s.CompactRev() }

// Rev implements ReadView: the revision before this transaction's writes (its reads at Rev()
// still see this transaction's own writes).
func (t *WriteTxn) Rev() int64 { return t.rev }

// readRev is the revision whose state includes this transaction's writes so far.
func (t *WriteTxn) readRev() int64 {
	if len(t.events) > 0 {
		return t.rev + 1
	}
	return t.rev
}

// Range implements ReadView; at the current revision it includes this transaction's writes.
// A ro.Rev of 0 or Rev() reads the current state including them; RangeResult.Rev is then
// Rev()+1 if the transaction has changed something, as in etcd.
func (t *WriteTxn) Range(key, end []byte, ro RangeOptions) (*RangeResult, error) {
	t.mustBeOpen()
	if t.closed {
		return nil, ErrClosed
	}
	at := ro.Rev
	if at <= 0 || at == t.rev {
		at = t.readRev()
	}
	if at > t.readRev() {
		return nil, ErrFutureRev
	}
	return t.s.rangeAt(key, end, at, ro, t.own)
}

// Put writes key=value attached to lease (0 = none) at the transaction's revision and
// returns the previous live version, if any. key must not be empty. key and value are
// copied.
func (t *WriteTxn) Put(key, value []byte, lease int64) (prev *mvccpb.KeyValue) {
	t.mustBeOpen()
	if len(key) == 0 {
		panic("mvcc: put of an empty key")
	}
	if t.closed {
		return nil
	}
	ki := t.idx.get(key)
	if ki != nil {
		if r, ok := ki.liveAt(t.rev + 1); ok {
			prev = new(mvccpb.KeyValue)
			t.mustLoad(r, prev)
		}
	}
	rev := revision{main: t.rev + 1, sub: t.sub}
	kv := &mvccpb.KeyValue{Key: bytes.Clone(key), Value: bytes.Clone(value),
		CreateRevision: rev.main, ModRevision: rev.main, Version: 1, Lease: lease}
	if prev != nil {
		kv.CreateRevision, kv.Version = prev.CreateRevision, prev.Version+1
	}
	t.stage(rev, kv, false)

	t.s.mu.Lock()
	if ki == nil {
		ki = t.idx.getOrCreate(kv.Key)
	}
	ki.put(rev)
	t.s.mu.Unlock()

	t.events = append(t.events, mvccpb.Event{Type: mvccpb.Event_PUT, Kv: kv, PrevKv: prev})
	return prev
}

// DeleteRange deletes the live keys in [key, end) and returns their previous versions.
// end follows the encoding of ReadView.Range.
func (t *WriteTxn) DeleteRange(key, end []byte) (prev []mvccpb.KeyValue) {
	t.mustBeOpen()
	if t.closed {
		return nil
	}
	keys, _ := t.idx.live(key, end, t.readRev(), 0, false)
	if len(keys) == 0 {
		return nil
	}
	prev = make([]mvccpb.KeyValue, len(keys))
	revs := make([]revision, len(keys))
	for i := range keys {
		t.mustLoad(keys[i].rev, &prev[i])
		revs[i] = revision{main: t.rev + 1, sub: t.sub}
		kv := &mvccpb.KeyValue{Key: keys[i].ki.key, ModRevision: revs[i].main}
		t.stage(revs[i], kv, true)
		t.events = append(t.events, mvccpb.Event{Type: mvccpb.Event_DELETE, Kv: kv, PrevKv: &prev[i]})
	}
	t.s.mu.Lock()
	for i := range keys {
		keys[i].ki.tombstone(revs[i])
	}
	t.s.mu.Unlock()
	return prev
}

// stage marshals kv as the key bucket entry for rev and takes the next sub-revision.
func (t *WriteTxn) stage(rev revision, kv *mvccpb.KeyValue, tomb bool) {
	b, err := proto.Marshal(kv)
	if err != nil {
		panic(fmt.Sprintf("mvcc: marshal kv: %v", err))
	}
	t.kvs = append(t.kvs, bufKV{rev: rev, key: revKey(rev, tomb), val: b, tomb: tomb})
	if !tomb {
		t.own[rev] = b
	}
	t.sub++
}

// mustLoad reads the value at r into kv. The writer excludes compaction and Close, so a
// failure means the index and backend disagree (or the disk failed): an invariant is broken.
func (t *WriteTxn) mustLoad(r revision, kv *mvccpb.KeyValue) {
	t.s.mu.RLock()
	v := t.s.viewLocked(t.own)
	t.s.mu.RUnlock()
	err := v.load(r, kv)
	v.close()
	if err != nil {
		panic(fmt.Sprintf("mvcc: write transaction: %v", err))
	}
}

// SetAux stores key=value in an auxiliary bucket within this transaction. bucket and key
// must not be empty; all three are copied. Auxiliary changes do not advance the revision.
func (t *WriteTxn) SetAux(bucket, key, value []byte) {
	t.stageAux(bucket, key, value, false)
}

// DeleteAux removes key from an auxiliary bucket within this transaction.
func (t *WriteTxn) DeleteAux(bucket, key []byte) {
	t.stageAux(bucket, key, nil, true)
}

func (t *WriteTxn) stageAux(bucket, key, value []byte, del bool) {
	t.mustBeOpen()
	if len(bucket) == 0 || len(key) == 0 {
		panic("mvcc: auxiliary bucket and key must not be empty")
	}
	if value == nil {
		value = []byte{}
	}
	t.aux = append(t.aux, auxOp{bucket: bytes.Clone(bucket), key: bytes.Clone(key),
		val: bytes.Clone(value), del: del})
}

// Changes returns the events of this transaction so far, in order: PUT events carry the
// new KeyValue, DELETE events a KeyValue with only Key and ModRevision set; both carry the
// key's previous live version in PrevKv (nil for a creation). The KeyValues
// are shared with End's result and must not be modified.
func (t *WriteTxn) Changes() []mvccpb.Event {
	out := make([]mvccpb.Event, len(t.events))
	for i := range t.events {
		out[i].Type, out[i].Kv, out[i].PrevKv = t.events[i].Type, t.events[i].Kv, t.events[i].PrevKv
	}
	return out
}

// End finishes the transaction: it records the raft index, advances the revision if anything
// changed, adds the changes to the pending backend batch and returns the events (for watchers).
// Calling End again returns nil.
func (t *WriteTxn) End() []mvccpb.Event {
	if t.ended {
		return nil
	}
	t.ended = true
	defer t.s.wmu.Unlock()
	if t.closed {
		return nil
	}
	s := t.s
	s.mu.Lock()
	n := s.cur.record(t.kvs, t.aux)
	if len(t.events) > 0 {
		s.rev = t.rev + 1
	}
	if t.index != 0 {
		s.ci = t.index
	}
	s.mu.Unlock()
	if n >= s.cfg.BatchLimit {
		select {
		case s.kick <- struct{}{}:
		default:
		}
	}
	return t.Changes()
}

func (t *WriteTxn) mustBeOpen() {
	if t.ended {
		panic("mvcc: use of an ended write transaction")
	}
}
