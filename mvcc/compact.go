package mvcc

import "context"

// Compact makes every revision below rev unreadable and schedules the removal of superseded
// versions and tombstones at or below rev: for each key the newest version <= rev stays
// unless it is a tombstone below rev (a tombstone at rev stays, so a watch from rev sees the
// delete: etcd-io/etcd#18089). Applied at raft index index, which is recorded even when the
// compaction is refused (the refusal is the deterministic outcome of the entry) unless the
// store is closed.
//
// Compact is cheap and does no I/O: it raises CompactRev, so reads below rev fail with
// ErrCompacted at once, records the compaction revision to be persisted with index in the
// next batch commit, and wakes the compactor, which removes the superseded revisions from
// the index and the backend in the background (FinishedCompactRev and WaitCompacted report
// when it is done). Reads at or above rev see the same data before, during and after that
// work. Compact blocks while a write transaction is open or the compactor works on an
// index chunk.
// Returns ErrCompacted if rev <= CompactRev(), ErrFutureRev if rev > Rev(), ErrClosed on a
// closed store.
func (s *Store) Compact(index uint64, rev int64) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if err := s.scheduleCompaction(index, rev); err != nil {
		return err
	}
	s.wakeCompactor()
	s.log.Info("scheduled compaction", "revision", rev, "index", index)
	return nil
}

// scheduleCompaction validates a compaction and raises the compaction revision.
// requires s.wmu held
func (s *Store) scheduleCompaction(index uint64, rev int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	if index != 0 {
		s.ci = index
	}
	// The buffer carries the index (and the compaction revision) to the next commit.
	s.cur.record(nil, nil)
	switch {
	case rev <= s.compactRev:
		return ErrCompacted
	case rev > s.rev:
		return ErrFutureRev
	}
	s.compactRev = rev
	return nil
}

// WaitCompacted blocks until a compaction at rev or later has all its removals committed to
// the backend (FinishedCompactRev() >= rev), as etcd's physical compaction waits. It
// returns ctx's error if ctx ends first and ErrClosed if the store is or gets closed. It
// waits for a compaction that has not been applied yet, too.
func (s *Store) WaitCompacted(ctx context.Context, rev int64) error {
	for {
		s.mu.RLock()
		closed, done, changed := s.closed, s.finishedRev >= rev, s.finishedCh
		s.mu.RUnlock()
		switch {
		case closed:
			return ErrClosed
		case done:
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-changed:
		}
	}
}

// setFinishedLocked sets the finished compaction revision and wakes WaitCompacted.
// requires s.mu held for writing
func (s *Store) setFinishedLocked(rev int64) {
	if rev == s.finishedRev {
		return
	}
	s.finishedRev = rev
	close(s.finishedCh)
	s.finishedCh = make(chan struct{})
}

// wakeCompactor tells the compactor to look for work.
func (s *Store) wakeCompactor() {
	select {
	case s.compactWake <- struct{}{}:
	default: // already woken
	}
}
