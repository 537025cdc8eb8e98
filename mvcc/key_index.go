package mvcc

import "sort"

// keyIndex is the revision history of one key, split into generations: a generation runs
// from a creation to the deletion that ends it. Values (and so create_revision and version)
// live in the backend; the index only knows which revision is live at a given store revision.
//
// Invariants:
//   - gens is never empty; the last generation is open (it may be empty, after a delete);
//   - every other generation is closed: its last revision is the tombstone that ended it;
//   - revisions increase strictly across the whole slice of generations.
//
// Worked example: put a@2, put a@3, delete a@4, put a@6 gives
//
//	gens = [{2.0, 3.0, 4.0(tombstone)}, {6.0}]
//
// liveAt(3) = 3.0; liveAt(4) = none (the tombstone 4 <= 4); liveAt(5) = none; liveAt(7) = 6.0.
// compact(5) drops the whole first generation, whose tombstone is < 5, leaving [{6.0}];
// compact(4) keeps only the tombstone at 4, so a watch from 4 still sees the delete:
// [{4.0(tombstone)}, {6.0}]; compact(3) keeps the newest revision <= 3 and everything after
// it: [{3.0, 4.0}, {6.0}].
type keyIndex struct {
	key  []byte
	gens []generation
}

// generation is one life of a key; see keyIndex.
type generation struct {
	revs []revision
}

func newKeyIndex(key []byte) *keyIndex {
	return &keyIndex{key: key, gens: []generation{{}}}
}

// put records a new version at rev in the open generation.
func (ki *keyIndex) put(rev revision) {
	g := &ki.gens[len(ki.gens)-1]
	g.revs = append(g.revs, rev)
}

// tombstone closes the open generation with a deletion at rev and opens an empty one.
// A tombstone on an empty generation (only possible when rebuilding a backend whose older
// history was compacted by another implementation) still closes it, so compaction can
// later remove the tombstone.
func (ki *keyIndex) tombstone(rev revision) {
	ki.put(rev)
	ki.gens = append(ki.gens, generation{})
}

// liveAt returns the revision holding the key's value at store revision at, if the key
// exists then.
func (ki *keyIndex) liveAt(at int64) (revision, bool) {
	for i := len(ki.gens) - 1; i >= 0; i-- {
		revs := ki.gens[i].revs
		if len(revs) == 0 || revs[0].main > at {
			continue
		}
		closed := i < len(ki.gens)-1
		if closed && revs[len(revs)-1].main <= at {
			return revision{}, false // deleted at or before at
		}
		j := sort.Search(len(revs), func(j int) bool { return revs[j].main > at }) - 1
		return revs[j], true
	}
	return revision{}, false
}

// compact removes every revision not needed to read or watch at revisions >= at: whole
// generations whose tombstone is < at, and inside the first remaining generation every
// revision older than the newest one <= at. A tombstone at exactly at stays (alone in its
// generation), as in etcd since etcd-io/etcd#18274: a watch may start at the compaction
// revision, and must then see that delete (etcd-io/etcd#18089, tests/regression). drop is
// called for each removed revision, with tomb set for tombstones. It reports whether the
// key has no history left.
func (ki *keyIndex) compact(at int64, drop func(r revision, tomb bool)) (empty bool) {
	n := 0 // closed generations removed entirely
	for n < len(ki.gens)-1 && !ki.keepsGen(n, at) {
		revs := ki.gens[n].revs
		for j, r := range revs {
			drop(r, j == len(revs)-1)
		}
		n++
	}
	ki.gens = ki.gens[n:]
	g := &ki.gens[0]
	if len(g.revs) > 0 && g.revs[0].main <= at {
		j := sort.Search(len(g.revs), func(j int) bool { return g.revs[j].main > at }) - 1
		for _, r := range g.revs[:j] {
			drop(r, false) // never the tombstone: it is >= at here, or g is open
		}
		g.revs = append([]revision(nil), g.revs[j:]...)
	}
	return len(ki.gens) == 1 && len(ki.gens[0].revs) == 0
}

// keepsGen reports whether compacting at revision at leaves anything of the closed
// generation i: it does unless its tombstone is below at, or at at but superseded by a later
// generation's revision at at (several changes of one key in one revision).
func (ki *keyIndex) keepsGen(i int, at int64) bool {
	revs := ki.gens[i].revs
	switch tomb := revs[len(revs)-1].main; {
	case tomb > at:
		return true
	case tomb < at:
		return false
	}
	next := ki.gens[i+1].revs
	return len(next) == 0 || next[0].main > at
}

// keeps reports whether compacting at revision at leaves r in the history, whether or not
// the history has been compacted at at yet. r must be a revision the history held before
// that compaction: one it no longer holds was removed.
func (ki *keyIndex) keeps(r revision, at int64) bool {
	for i, g := range ki.gens {
		j := sort.Search(len(g.revs), func(j int) bool { return !g.revs[j].less(r) })
		if j == len(g.revs) || g.revs[j] != r {
			continue
		}
		if r.main > at {
			return true
		}
		if closed := i < len(ki.gens)-1; closed && g.revs[len(g.revs)-1].main <= at {
			// The generation was deleted at or before at: only a tombstone at exactly at
			// stays (see compact).
			return j == len(g.revs)-1 && ki.keepsGen(i, at)
		}
		return j == len(g.revs)-1 || g.revs[j+1].main > at // the newest version <= at
	}
	return false
}

// prevOf returns the version the change at r replaced: the newest revision before r, if it
// is a put of the same generation and has not been compacted away.
func (ki *keyIndex) prevOf(r revision) (revision, bool) {
	for i := len(ki.gens) - 1; i >= 0; i-- {
		revs := ki.gens[i].revs
		j := sort.Search(len(revs), func(j int) bool { return !revs[j].less(r) }) - 1
		if j < 0 {
			if len(revs) > 0 && revs[0].less(r) {
				return revision{}, false
			}
			continue // r is in a later generation, or this one is empty
		}
		closed := i < len(ki.gens)-1
		if closed && j == len(revs)-1 {
			return revision{}, false // the previous change was the deletion
		}
		return revs[j], true
	}
	return revision{}, false
}
