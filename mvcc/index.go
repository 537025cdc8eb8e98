package mvcc

import (
	"bytes"

	"github.com/google/btree"
)

// treeIndex maps keys to their revision histories, ordered by key (unsigned bytes).
// It does no locking of its own: see Store.mu for who may read and mutate it.
type treeIndex struct {
	tree *btree.BTreeG[*keyIndex]
}

const btreeDegree = 32

func newTreeIndex() *treeIndex {
	return &treeIndex{tree: btree.NewG(btreeDegree, func(a, b *keyIndex) bool {
		return bytes.Compare(a.key, b.key) < 0
	})}
}

// get returns the history of key, or nil.
func (ti *treeIndex) get(key []byte) *keyIndex {
	ki, _ := ti.tree.Get(&keyIndex{key: key})
	return ki
}

// getOrCreate returns the history of key, inserting an empty one if needed. The key is
// cloned before insertion.
func (ti *treeIndex) getOrCreate(key []byte) *keyIndex {
	if ki := ti.get(key); ki != nil {
		return ki
	}
	ki := newKeyIndex(bytes.Clone(key))
	ti.tree.ReplaceOrInsert(ki)
	return ki
}

// visit calls fn for every key history in the range described by key and end (see
// ReadView.Range for the encoding of end) in ascending key order, until fn returns false.
func (ti *treeIndex) visit(key, end []byte, fn func(ki *keyIndex) bool) {
	switch {
	case end == nil:
		if ki := ti.get(key); ki != nil {
			fn(ki)
		}
	case len(end) == 1 && end[0] == 0:
		ti.tree.AscendGreaterOrEqual(&keyIndex{key: key}, fn)
	case bytes.Compare(end, key) <= 0:
		// Empty range.
	default:
		ti.tree.AscendRange(&keyIndex{key: key}, &keyIndex{key: end}, fn)
	}
}

// liveKey is a key live at some revision, with the revision that holds its value.
type liveKey struct {
	ki  *keyIndex
	rev revision
}

// live returns the keys of the range live at revision at (all of them when limit == 0, at
// most limit when limit > 0, none when limit < 0) and the total number of live keys in the
// range regardless of limit. With stop and limit > 0 the walk ends at the limit-th live key,
// and count is len(keys).
func (ti *treeIndex) live(key, end []byte, at int64, limit int64, stop bool) (keys []liveKey, count int) {
	ti.visit(key, end, func(ki *keyIndex) bool {
		r, ok := ki.liveAt(at)
		if !ok {
			return true
		}
		count++
		if limit == 0 || int64(len(keys)) < limit {
			keys = append(keys, liveKey{ki: ki, rev: r})
		}
		return !stop || limit <= 0 || int64(len(keys)) < limit
	})
	return keys, count
}

// compactChunk compacts at revision at (see keyIndex.compact) the histories of the keys
// after key after (from the first key when after is nil) and removes the keys left without
// history. It stops after n keys, or after the key that takes the revisions removed to
// maxDrops or more. It appends to keep the revisions at or below at that the compacted
// histories still hold (at most one per key) and returns it with the last key visited and
// whether keys remain after it.
func (ti *treeIndex) compactChunk(at int64, after []byte, n, maxDrops int, keep []revision) (_ []revision, last []byte, more bool) {
	var empty []*keyIndex
	visited, dropped := 0, 0
	drop := func(revision, bool) { dropped++ }
	visit := func(ki *keyIndex) bool {
		if after != nil && bytes.Equal(ki.key, after) {
			return true
		}
		if visited == n || dropped >= maxDrops {
			more = true
			return false
		}
		visited++
		last = ki.key
		if ki.compact(at, drop) {
			empty = append(empty, ki)
			return true
		}
		// Only the first generation can still hold a revision <= at: the newest one.
		if revs := ki.gens[0].revs; len(revs) > 0 && revs[0].main <= at {
			keep = append(keep, revs[0])
		}
		return true
	}
	if after == nil {
		ti.tree.Ascend(visit)
	} else {
		ti.tree.AscendGreaterOrEqual(&keyIndex{key: after}, visit)
	}
	for _, ki := range empty {
		ti.tree.Delete(ki)
	}
	return keep, last, more
}

// len returns the number of keys with history.
func (ti *treeIndex) len() int { return ti.tree.Len() }
