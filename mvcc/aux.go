package mvcc

import (
	"bytes"
	"slices"

	bolt "go.etcd.io/bbolt"
)

// Aux returns the value stored under key in the auxiliary bucket, or nil. Auxiliary buckets
// hold replicated non-KV state (members, cluster id, leases) and are part of snapshots.
// It sees every ended write transaction; it returns nil on a closed store. The result is
// a copy the caller owns.
func (s *Store) Aux(bucket, key []byte) []byte {
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return nil
	}
	v := s.viewLocked(nil)
	s.mu.RUnlock()
	defer v.close()
	for _, b := range v.bufs {
		if b == nil {
			continue
		}
		if op, ok := b.auxValue(bucket, key); ok {
			if op.deleted {
				return nil
			}
			return bytes.Clone(op.val)
		}
	}
	var out []byte
	_ = v.db.View(func(tx *bolt.Tx) error {
		if ab := tx.Bucket(auxBucketName(bucket)); ab != nil {
			out = bytes.Clone(ab.Get(key))
		}
		return nil
	})
	return out
}

// ForEachAux calls fn for every key in an auxiliary bucket, in key order, stopping at and
// returning fn's first error. fn runs after the bucket has been read, outside any lock or
// backend transaction, so it may call back into the store. Returns ErrClosed on a closed store.
func (s *Store) ForEachAux(bucket []byte, fn func(k, v []byte) error) error {
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return ErrClosed
	}
	v := s.viewLocked(nil)
	s.mu.RUnlock()
	defer v.close()

	pending := make(map[string]auxVal)
	for i := len(v.bufs) - 1; i >= 0; i-- { // oldest first, newer ones override
		if v.bufs[i] != nil {
			v.bufs[i].auxBucket(bucket, pending)
		}
	}
	merged := make(map[string][]byte)
	err := v.db.View(func(tx *bolt.Tx) error {
		ab := tx.Bucket(auxBucketName(bucket))
		if ab == nil {
			return nil
		}
		return ab.ForEach(func(k, val []byte) error {
			merged[string(k)] = bytes.Clone(val)
			return nil
		})
	})
	v.close() // before fn runs: fn may wait for a Defrag that waits for v
	if err != nil {
		return err
	}
	for k, op := range pending {
		if op.deleted {
			delete(merged, k)
		} else {
			merged[k] = bytes.Clone(op.val)
		}
	}
	keys := make([]string, 0, len(merged))
	for k := range merged {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if err := fn([]byte(k), merged[k]); err != nil {
			return err
		}
	}
	return nil
}
