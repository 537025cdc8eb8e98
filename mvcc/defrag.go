package mvcc

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	bolt "go.etcd.io/bbolt"

	"github.com/keeldb/keel/internal/failpoint"
)

// defragTxMaxSize bounds one bbolt transaction of the copy, as etcd's defrag limit does.
const defragTxMaxSize = 10000 * 1024

// Defrag rewrites the backend compactly, giving the space freed by compaction and deletes
// back to the file system, as etcd's defragmentation does: it commits the pending batch,
// copies every bucket into a new file next to Config.Path, fsyncs it and renames it over
// the backend file. Writers (and Compact, Restore, the compactor's next step) wait for the
// whole defragmentation; readers go on, and the replaced backend is closed once the last
// reader using it ends. Only the revisions the compactor has already deleted are given
// back: after a compaction, WaitCompacted before Defrag.
// The data, revisions, consistent index and auxiliary buckets are unchanged.
//
// If anything fails before the rename, the store keeps its backend and the copy is
// removed. Returns ErrClosed on a closed store.
func (s *Store) Defrag() error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	s.commitMu.Lock()
	defer s.commitMu.Unlock()
	if err := s.commitLocked(); err != nil {
		return err
	}
	s.mu.RLock()
	closed, src := s.closed, s.db
	s.mu.RUnlock()
	if closed {
		return ErrClosed
	}
	before := s.dbSize.Load()
	tmp := s.cfg.Path + ".defrag"
	failpoint.Inject(failpoint.DefragBeforeCopy)
	dst, err := copyCompact(tmp, src)
	if err != nil {
		_ = os.Remove(tmp)
		return err
	}
	// The copy is opened before it replaces the backend file, so a failure leaves the store
	// as it was; after the rename the store serves from it.
	failpoint.Inject(failpoint.DefragBeforeRename)
	if err := os.Rename(tmp, s.cfg.Path); err != nil {
		_ = dst.Close()
		_ = os.Remove(tmp)
		return fmt.Errorf("mvcc: defrag: %w", err)
	}
	syncErr := syncDir(filepath.Dir(s.cfg.Path))

	s.mu.Lock()
	old, oldUsers := s.db, s.dbUsers
	s.db, s.dbUsers = dst, new(sync.WaitGroup)
	s.mu.Unlock()
	s.dbSize.Store(dbSize(dst))

	// Readers that captured the old backend still read it (its file is unlinked but open);
	// it holds exactly what the copy holds, as no write committed since.
	oldUsers.Wait()
	closeErr := old.Close()
	s.log.Info("defragmented backend", "size_before", before, "size_after", s.dbSize.Load())
	if err := errors.Join(syncErr, closeErr); err != nil {
		return fmt.Errorf("mvcc: defrag: %w", err)
	}
	return nil
}

// copyCompact writes a compact copy of src to a new bbolt file at path, fsyncs it and
// returns it open (with the store's buckets, as openDB opens them).
// requires no write to src to commit meanwhile (the caller holds commitMu)
func copyCompact(path string, src *bolt.DB) (*bolt.DB, error) {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("mvcc: defrag: %w", err)
	}
	// The copy is written without an fsync per transaction and synced once at the end.
	dst, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: openTimeout, NoSync: true,
		FreelistType: bolt.FreelistMapType})
	if err != nil {
		return nil, fmt.Errorf("mvcc: defrag: open %s: %w", path, err)
	}
	if err := bolt.Compact(dst, src, defragTxMaxSize); err != nil {
		_ = dst.Close()
		return nil, fmt.Errorf("mvcc: defrag: copy: %w", err)
	}
	err = dst.Sync()
	if cerr := dst.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("mvcc: defrag: sync %s: %w", path, err)
	}
	return openDB(path, nil)
}

// ResetConsistentIndex sets the consistent index to index and commits it. It is for a
// backend that starts over under a new raft log, as a snapshot restored into a new cluster
// does (its entries at or below the old index would otherwise be skipped); the data is
// unchanged. Returns ErrClosed on a closed store.
func (s *Store) ResetConsistentIndex(index uint64) error {
	s.wmu.Lock()
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		s.wmu.Unlock()
		return ErrClosed
	}
	s.ci = index
	s.cur.record(nil, nil)
	s.mu.Unlock()
	s.wmu.Unlock()
	return s.Commit()
}
