package mvcc

import (
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"google.golang.org/protobuf/proto"
)

// errMissing means a revision the index pointed at was found neither in the buffers nor in
// the backend. For a reader this happens when a compaction past its revision committed
// while it read; anything else is a broken invariant.
var errMissing = errors.New("mvcc: revision missing from backend")

// view is where one operation fetches values from: a write transaction's own staged values,
// the write buffers captured together with the index lookup, then the backend, whose read
// transaction is opened lazily and only after the capture (see writeBuf).
type view struct {
	db      *bolt.DB
	release func()       // ends the view's use of db
	bufs    [2]*writeBuf // newest first; either may be nil
	own     map[revision][]byte
	tx      *bolt.Tx
}

// viewLocked captures the buffers and backend for a new view. The caller must close it.
// requires s.mu held (read or write)
func (s *Store) viewLocked(own map[revision][]byte) *view {
	db, release := s.acquireDBLocked()
	return &view{db: db, release: release, bufs: [2]*writeBuf{s.cur, s.committing}, own: own}
}

// close ends the backend transaction, if one was opened, and the view's use of the
// backend. It is idempotent.
func (v *view) close() {
	if v.tx != nil {
		_ = v.tx.Rollback()
		v.tx = nil
	}
	v.release()
}

// raw returns the marshalled KeyValue of the put at r. The bytes are valid until close.
func (v *view) raw(r revision) ([]byte, error) {
	if b, ok := v.own[r]; ok {
		return b, nil
	}
	for _, buf := range v.bufs {
		if buf == nil {
			continue
		}
		if b, ok := buf.value(r); ok {
			return b, nil
		}
	}
	if v.tx == nil {
		tx, err := v.db.Begin(false)
		if err != nil {
			return nil, fmt.Errorf("mvcc: begin read: %w", err)
		}
		v.tx = tx
	}
	b := v.tx.Bucket(keyBucket).Get(revKey(r, false))
	if b == nil {
		return nil, fmt.Errorf("%w: %d_%d", errMissing, r.main, r.sub)
	}
	return b, nil
}

// load decodes the value at r into kv.
func (v *view) load(r revision, kv *mvccpb.KeyValue) error {
	b, err := v.raw(r)
	if err != nil {
		return err
	}
	if err := proto.Unmarshal(b, kv); err != nil {
		return fmt.Errorf("mvcc: decode revision %d_%d: %w", r.main, r.sub, err)
	}
	return nil
}

// loadAll decodes the values of keys, in order.
func (v *view) loadAll(keys []liveKey) ([]mvccpb.KeyValue, error) {
	if len(keys) == 0 {
		return nil, nil
	}
	kvs := make([]mvccpb.KeyValue, len(keys))
	for i := range keys {
		if err := v.load(keys[i].rev, &kvs[i]); err != nil {
			return nil, err
		}
	}
	return kvs, nil
}

// scan calls fn, in revision order, for every key bucket entry with main revision in
// [from, to] visible to v, until fn returns false. k and val are valid only during the call.
func (v *view) scan(from, to int64, fn func(r revision, tomb bool, k, val []byte) bool) error {
	// Buffered entries are newer than anything committed when the view was captured; the
	// backend may have caught up with them since, so it is read only below the first.
	var buffered [][]bufKV
	first := revision{main: to + 1}
	for i := len(v.bufs) - 1; i >= 0; i-- { // oldest buffer first
		if v.bufs[i] == nil {
			continue
		}
		kvs := v.bufs[i].snapshotKVs()
		if len(kvs) > 0 && kvs[0].rev.less(first) {
			first = kvs[0].rev
		}
		buffered = append(buffered, kvs)
	}
	more := true
	err := v.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(keyBucket).Cursor()
		for k, val := c.Seek(revKey(revision{main: from}, false)); k != nil && more; k, val = c.Next() {
			r, tomb, err := parseRevKey(k)
			if err != nil {
				return err
			}
			if !r.less(first) {
				break
			}
			more = fn(r, tomb, k, val)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, kvs := range buffered {
		for _, e := range kvs {
			if !more {
				return nil
			}
			if e.rev.main >= from && e.rev.main <= to {
				more = fn(e.rev, e.tomb, e.key, e.val)
			}
		}
	}
	return nil
}
