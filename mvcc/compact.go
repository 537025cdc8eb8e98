package mvcc

// Compact makes every revision below rev unreadable and removes superseded versions and
// tombstones at or below rev from the index and backend: for each key the newest version
// <= rev stays unless it is a tombstone. Applied at raft index index, which is recorded
// even when the compaction is refused (the refusal is the deterministic outcome of the
// entry) unless the store is closed.
//
// The index is compacted, and the revision becomes unreadable, before Compact returns; the
// backend deletes go into the pending batch like any write (call Commit to force them to
// disk). Compact blocks while a write transaction is open.
// Returns ErrCompacted if rev <= CompactRev(), ErrFutureRev if rev > Rev(), ErrClosed on a
// closed store.
func (s *Store) Compact(index uint64, rev int64) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	removed, err := s.compactLocked(index, rev)
	if err != nil {
		return err
	}
	s.log.Info("compacted", "revision", rev, "index", index, "removed_revisions", removed)
	return nil
}

// compactLocked validates and applies a compaction and returns the number of revisions
// removed.
// requires s.wmu held
func (s *Store) compactLocked(index uint64, rev int64) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return 0, ErrClosed
	}
	if index != 0 {
		s.ci = index
	}
	switch {
	case rev <= s.compactRev:
		s.cur.recordCompaction(nil)
		return 0, ErrCompacted
	case rev > s.rev:
		s.cur.recordCompaction(nil)
		return 0, ErrFutureRev
	}
	// TODO(mvcc): this holds mu across a full index walk; chunk it if large key counts
	// make readers wait too long.
	var dels [][]byte
	s.idx.compact(rev, func(r revision, tomb bool) {
		dels = append(dels, revKey(r, tomb))
	})
	s.compactRev = rev
	s.cur.recordCompaction(dels)
	return len(dels), nil
}
