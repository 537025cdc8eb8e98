package mvcc

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"

	bolt "go.etcd.io/bbolt"

	"github.com/keeldb/keel/internal/failpoint"
)

// Snapshot commits the pending batch and writes a consistent copy of the backend to w. The
// copy carries the data, the consistent index it corresponds to, the compaction revision
// and the auxiliary buckets; writes that end after the commit may or may not be in it. A
// copy taken while the compactor works holds part of its deletes and records the compaction
// as unfinished: a store opened on or restored from it finishes the compaction.
// It runs concurrently with readers and the writer. Returns ErrClosed on a closed store.
func (s *Store) Snapshot(w io.Writer) (int64, error) {
	if err := s.Commit(); err != nil {
		return 0, err
	}
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return 0, ErrClosed
	}
	db, release := s.acquireDBLocked()
	s.mu.RUnlock()
	defer release()
	var n int64
	err := db.View(func(tx *bolt.Tx) error {
		var err error
		n, err = tx.WriteTo(w)
		return err
	})
	if err != nil {
		return n, fmt.Errorf("mvcc: snapshot: %w", err)
	}
	s.log.Info("wrote snapshot", "bytes", n)
	return n, nil
}

// Restore replaces the whole store with the backend copy read from r (as written by
// Snapshot) and rebuilds the index. Open transactions must have ended. The copy is written
// to a temporary file next to Config.Path and validated before it atomically replaces the
// backend file; on a validation error the store is unchanged. Pending uncommitted writes
// are discarded. Readers wait while the files are swapped. The compactor abandons the
// compaction it was doing on the replaced state and finishes the restored state's, if the
// copy was taken while a compaction was unfinished.
func (s *Store) Restore(r io.Reader) error {
	_, err := s.restore(r, false)
	return err
}

// RestoreNewer is Restore unless the copy read from r is not newer than the store: when the
// copy's consistent index is at or below the store's, the store already holds everything the
// copy does (every member applies the same committed entries), so it is kept and RestoreNewer
// returns false. A raft snapshot is labelled with the index the leader asked for, but its
// copy is taken later and may hold more; a member whose log lost entries its backend already
// applied (a restart after restoring from a snapshot) can be sent a snapshot whose copy is
// older than its own state, and restoring it would move the member back in time until the
// entries after the copy were applied again: a serializable read in between would miss
// acknowledged writes (tests/failpoints, beforeRestoreSwap).
func (s *Store) RestoreNewer(r io.Reader) (bool, error) {
	return s.restore(r, true)
}

func (s *Store) restore(r io.Reader, onlyNewer bool) (bool, error) {
	tmp := s.cfg.Path + ".restore"
	st, err := prepareRestore(tmp, r)
	if err != nil {
		_ = os.Remove(tmp)
		return false, err
	}
	defer s.wakeCompactor() // after the locks below are released
	s.wmu.Lock()
	defer s.wmu.Unlock()
	s.commitMu.Lock()
	defer s.commitMu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		_ = os.Remove(tmp)
		return false, ErrClosed
	}
	if onlyNewer && st.meta.consistentIndex <= s.ci {
		_ = os.Remove(tmp)
		s.log.Info("kept the store: the snapshot is not newer", "snapshot_consistent_index", st.meta.consistentIndex,
			"consistent_index", s.ci, "revision", s.rev)
		return false, nil
	}
	failpoint.Inject(failpoint.BeforeRestoreSwap)
	if err := s.swapLocked(tmp, st); err != nil {
		return false, err
	}
	failpoint.Inject(failpoint.AfterRestoreSwap)
	s.log.Info("restored snapshot", "revision", s.rev, "compact_revision", s.compactRev,
		"finished_compact_revision", s.finishedRev, "consistent_index", s.ci, "keys", s.idx.len())
	return true, nil
}

// prepareRestore copies r to tmp, fsyncs it and rebuilds the state it holds.
func prepareRestore(tmp string, r io.Reader) (*state, error) {
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, fmt.Errorf("mvcc: restore: %w", err)
	}
	_, err = io.Copy(f, r)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("mvcc: restore: write %s: %w", tmp, err)
	}
	db, err := openDB(tmp, nil)
	if err != nil {
		return nil, fmt.Errorf("mvcc: restore: %w", err)
	}
	st, err := loadState(db)
	if cerr := db.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("mvcc: restore: close %s: %w", tmp, cerr)
	}
	if err != nil {
		return nil, err
	}
	return st, nil
}

// swapLocked closes the current backend, renames tmp over it and reopens it with st as the
// in-memory state. On failure the store is left closed: its old state is gone.
// requires s.wmu, s.commitMu and s.mu held
func (s *Store) swapLocked(tmp string, st *state) error {
	err := s.db.Close()
	if err == nil {
		err = os.Rename(tmp, s.cfg.Path)
	}
	if err == nil {
		err = syncDir(filepath.Dir(s.cfg.Path))
	}
	var db *bolt.DB
	if err == nil {
		db, err = openDB(s.cfg.Path, s.cfg.OpenFile)
	}
	if err != nil {
		s.markClosedLocked()
		return errors.Join(fmt.Errorf("mvcc: restore: %w", err), ErrClosed)
	}
	s.db, s.dbUsers = db, new(sync.WaitGroup)
	s.dbSize.Store(dbSize(db))
	s.installLocked(st)
	s.cur, s.committing = newWriteBuf(), nil
	return nil
}
