package mvcc

import (
	"bytes"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/keeldb/keel/internal/failpoint"
)

// The compactor is the store's goroutine that does the work of compactions, off the apply
// path (Compact only raises the compaction revision). It runs from Open to Close and works
// whenever the scheduled compaction revision (compactRev) is above the finished one
// (finishedRev), in a pass at the scheduled revision c, as etcd's scheduled compaction does:
//
//  1. It commits the pending batch, so that every revision at or below c, and the
//     compaction revision itself, are on disk before anything is deleted.
//  2. It compacts the key index at c in chunks of Config.CompactionChunkKeys keys (fewer
//     if their histories give up Config.CompactionBatchRevisions revisions first), holding
//     wmu and mu for one chunk at a time, so write transactions and readers interleave
//     with it. It collects the revisions at or below c that the compacted histories keep
//     (at most one per key).
//  3. It scans the backend's revisions up to c in order, in transactions of at most
//     Config.CompactionBatchRevisions entries, and deletes those not kept; it holds
//     commitMu for one transaction at a time and pauses after each but the last (which also
//     records finished_compact_rev) for Config.CompactionBatchPause or twice as long as
//     the batch took, whichever is longer, so it uses at most about a third of a core. Deleting in revision
//     order touches each backend page about once.
//
// Why this is safe:
//   - Readers read at or above compactRev, and a compaction only removes revisions that no
//     read at or above its revision needs, so reads see the same data whether a key's
//     history has been compacted yet or not, in the index or in the backend. HashKV hashes
//     only (compactRev, rev], which no compaction touches.
//   - Compaction at c commutes with writes, which only add revisions above c, so the index
//     walk may interleave with them; a key created behind the walk has nothing to remove,
//     and nothing written meanwhile changes which revisions at or below c are kept.
//   - A pass is idempotent: after a crash, Open rebuilds the index from what the backend
//     holds and a new pass at the same revision keeps the same revisions and removes what
//     is left. Deleting in revision order removes a prefix of each key's history to remove,
//     so a partially deleted history is still well formed when rebuilt (a generation loses
//     older versions before its tombstone).
//   - A pass at c removes everything a pass at any c' < c would, so compactions scheduled
//     while a pass runs are all done by the next pass, at the newest revision.
//   - Restore bumps compactGen under the locks every step takes; a step that sees a new
//     generation abandons its pass (it belongs to the replaced state) and the compactor
//     starts over from the restored state. Defrag swaps in a copy with the same content,
//     so a pass goes on across it.

// errCompactorStopped ends the compactor: Close was called or a test hook stopped it.
var errCompactorStopped = errors.New("mvcc: compactor stopped")

// errRestored abandons a pass started before Restore replaced the state.
var errRestored = errors.New("mvcc: state replaced during compaction")

// compactPass is one run of the compactor at one compaction revision.
type compactPass struct {
	rev     int64
	prev    int64 // the finished compaction revision when the pass began
	hash    bool  // nothing in (prev, rev] was removed before the pass: record its hash
	gen     uint64
	start   time.Time
	chunks  int
	batches int
	deleted int
}

// compactLoop runs compaction passes until Close.
func (s *Store) compactLoop() {
	defer close(s.compactDone)
	for {
		p, ok := s.nextPass()
		if !ok {
			select {
			case <-s.compactStop:
				return
			case <-s.compactWake:
			}
			continue
		}
		err := s.runPass(p)
		switch {
		case err == nil, errors.Is(err, errRestored):
		case errors.Is(err, errCompactorStopped), errors.Is(err, ErrClosed):
			return
		default:
			// The backend failed (disk full, I/O error): retry the pass later. Part of its
			// range may be gone, so the retry records no compaction hash.
			s.log.Error("compaction failed", "revision", p.rev, "error", err)
			s.mu.Lock()
			s.hashFrom = max(s.hashFrom, p.rev)
			s.mu.Unlock()
			if !s.compactPause(s.cfg.BatchInterval) {
				return
			}
		}
	}
}

// nextPass returns the pass to run, if a compaction is unfinished.
func (s *Store) nextPass() (*compactPass, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed || s.compactRev <= s.finishedRev {
		return nil, false
	}
	return &compactPass{rev: s.compactRev, prev: s.finishedRev, hash: s.finishedRev >= s.hashFrom,
		gen: s.compactGen, start: time.Now()}, true
}

// runPass compacts the index and the backend at p.rev and records it as finished.
func (s *Store) runPass(p *compactPass) error {
	s.log.Info("compaction started", "revision", p.rev)
	if err := s.Commit(); err != nil {
		return err
	}
	s.recordCompactHash(p)
	var keep []revision
	var after []byte
	for more := true; more; {
		var err error
		keep, after, more, err = s.compactChunk(p, keep, after)
		if err != nil {
			return err
		}
		if !s.compactStepDone(false, p.chunks) {
			return errCompactorStopped
		}
		// Let a waiting writer or reader have the locks before the next chunk.
		runtime.Gosched()
	}
	slices.SortFunc(keep, compareRevisions)
	from := revKey(revision{}, false)
	for from != nil {
		var err error
		failpoint.Inject(failpoint.CompactBeforeCommitBatch)
		if from, keep, err = s.deleteBatch(p, from, keep); err != nil {
			return err
		}
		failpoint.Inject(failpoint.CompactAfterCommitBatch)
	}
	total := time.Since(p.start)
	if f := s.cfg.CompactionObserver.Finished; f != nil {
		f(p.rev, total)
	}
	s.log.Info("compaction finished", "revision", p.rev, "removed_revisions", p.deleted,
		"index_chunks", p.chunks, "delete_batches", p.batches, "duration", total)
	return nil
}

// compactChunk compacts the histories of the next keys after after (from the first key when
// after is nil; see treeIndex.compactChunk for how many), appends the revisions at or below
// p.rev they keep to keep and returns it with the last key visited and whether keys remain
// after it.
func (s *Store) compactChunk(p *compactPass, keep []revision, after []byte) ([]revision, []byte, bool, error) {
	s.wmu.Lock()
	s.mu.Lock()
	if err := s.checkPassLocked(p); err != nil {
		s.mu.Unlock()
		s.wmu.Unlock()
		return keep, nil, false, err
	}
	start := time.Now()
	keep, last, more := s.idx.compactChunk(p.rev, after, s.cfg.CompactionChunkKeys, s.cfg.CompactionBatchRevisions, keep)
	pause := time.Since(start)
	s.mu.Unlock()
	s.wmu.Unlock()

	p.chunks++
	if f := s.cfg.CompactionObserver.IndexChunk; f != nil {
		f(pause)
	}
	return keep, last, more, nil
}

// deleteBatch scans up to CompactionBatchRevisions backend entries from key from with main
// revision <= p.rev and deletes those not in keep (sorted), in one transaction. It returns
// where the next batch starts, and keep without the revisions passed; when the scan has
// reached p.rev it records p as finished in the same transaction and returns a nil start.
// After any batch but the last it pauses.
func (s *Store) deleteBatch(p *compactPass, from []byte, keep []revision) ([]byte, []revision, error) {
	s.commitMu.Lock()
	s.mu.RLock()
	err := s.checkPassLocked(p)
	db := s.db
	s.mu.RUnlock()
	if err != nil {
		s.commitMu.Unlock()
		return nil, keep, err
	}
	start := time.Now()
	var next []byte
	var deleted int
	var dels [][]byte
	err = db.Update(func(tx *bolt.Tx) error {
		next, keep, dels = s.scanBatch(tx.Bucket(keyBucket).Cursor(), from, p.rev, keep)
		// One cursor for the whole batch: Bucket.Delete makes a cursor (and grows its search
		// stack) for every key, a third of the compactor's CPU. dels are backend keys that
		// scanBatch just read, in order.
		c := tx.Bucket(keyBucket).Cursor()
		for _, k := range dels {
			if found, _ := c.Seek(k); !bytes.Equal(found, k) {
				continue
			}
			if err := c.Delete(); err != nil {
				return err
			}
		}
		deleted = len(dels)
		if next != nil {
			return nil
		}
		return putUint64(tx.Bucket(metaBucket), metaFinishedCompactRev, uint64(p.rev))
	})
	d := time.Since(start)
	if err == nil {
		s.dbSize.Store(dbSize(db))
		op := defragOp{dels: dels}
		if next == nil {
			op.finished = p.rev
		}
		s.recordDefragLocked(op)
		if next == nil {
			s.mu.Lock()
			s.setFinishedLocked(max(s.finishedRev, p.rev))
			s.mu.Unlock()
		}
	}
	s.commitMu.Unlock()
	if err != nil {
		return nil, keep, fmt.Errorf("mvcc: compaction at %d: delete batch: %w", p.rev, err)
	}

	p.batches++
	p.deleted += deleted
	if f := s.cfg.CompactionObserver.DeleteBatch; f != nil {
		f(d, deleted)
	}
	if !s.compactStepDone(true, p.batches) {
		return nil, keep, errCompactorStopped
	}
	// Pausing twice as long as the batch took keeps the compactor to a third of a core
	// whatever the backend's speed: every member compacts at once, and three compactors
	// working back to back on two cores took the CPU the foreground needed.
	if next != nil && !s.compactPause(max(s.cfg.CompactionBatchPause, 2*d)) {
		return nil, keep, errCompactorStopped
	}
	return next, keep, nil
}

// scanBatch reads up to CompactionBatchRevisions entries from from with main revision <=
// upTo and returns the keys of those not in keep, keep without the revisions passed, and
// the key to start the next batch at (nil when no entry <= upTo is left).
func (s *Store) scanBatch(c *bolt.Cursor, from []byte, upTo int64, keep []revision) (next []byte, _ []revision, dels [][]byte) {
	n := 0
	for k, _ := c.Seek(from); k != nil; k, _ = c.Next() {
		r, _, err := parseRevKey(k)
		if err != nil || r.main > upTo {
			// A malformed key (which loadState would have refused) is left alone.
			break
		}
		if n == s.cfg.CompactionBatchRevisions {
			return bytes.Clone(k), keep, dels
		}
		n++
		for len(keep) > 0 && keep[0].less(r) {
			keep = keep[1:]
		}
		if len(keep) > 0 && keep[0] == r {
			continue
		}
		dels = append(dels, bytes.Clone(k))
	}
	return nil, keep, dels
}

// compareRevisions orders revisions for slices.SortFunc.
func compareRevisions(a, b revision) int {
	switch {
	case a.less(b):
		return -1
	case b.less(a):
		return 1
	}
	return 0
}

// checkPassLocked reports whether p may go on.
// requires s.mu held (read or write)
func (s *Store) checkPassLocked(p *compactPass) error {
	select {
	case <-s.compactStop:
		return errCompactorStopped
	default:
	}
	switch {
	case s.closed:
		return ErrClosed
	case s.compactGen != p.gen:
		return errRestored
	}
	return nil
}

// compactStepDone runs the test hook after a step and reports whether to go on.
func (s *Store) compactStepDone(batch bool, n int) bool {
	return s.hooks.compactStep == nil || s.hooks.compactStep(batch, n)
}

// compactPause waits d (not at all if d <= 0) and reports false if Close interrupted it.
func (s *Store) compactPause(d time.Duration) bool {
	if d <= 0 {
		select {
		case <-s.compactStop:
			return false
		default:
			return true
		}
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-s.compactStop:
		return false
	case <-t.C:
		return true
	}
}
