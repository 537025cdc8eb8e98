package mvcc

import (
	"fmt"
	"io"

	bolt "go.etcd.io/bbolt"
)

// CopyCommitted writes the backend as of its last commit to w: a bbolt file holding what
// the disk holds once every commit's fsync has returned, without the pending batch. It is
// what a power cut at this moment would leave of the backend file (bbolt fsyncs before a
// commit returns, and what it writes for a commit in progress is not reachable until that
// commit's meta page is synced). Tests that simulate power loss use it; it does not commit
// or block the writer. Returns ErrClosed on a closed store.
func (s *Store) CopyCommitted(w io.Writer) error {
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return ErrClosed
	}
	db, release := s.acquireDBLocked()
	s.mu.RUnlock()
	defer release()
	err := db.View(func(tx *bolt.Tx) error {
		_, err := tx.WriteTo(w)
		return err
	})
	if err != nil {
		return fmt.Errorf("mvcc: copy committed backend: %w", err)
	}
	return nil
}
