package mvcc

import (
	"fmt"
	"hash/crc32"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// HashKV returns a CRC32 (Castagnoli) of all key-value versions in (CompactRev, rev] as stored
// in the backend, identical on every replica with the same history; rev 0 means current.
// It also returns the revision hashed and the compaction revision.
//
// The hash covers, in revision order, the backend key (encoded revision, with the tombstone
// marker for deletions) followed by the marshalled value of every entry whose main revision
// is in (CompactRev, rev]. Versions kept at or below the compaction point are not included,
// so the result does not depend on how far the compactor has got with a compaction's
// deletes, nor on whether they have reached the disk: no compaction removes an entry above
// its revision.
// Pending (uncommitted) writes are included. Returns ErrCompacted if rev < CompactRev(),
// ErrFutureRev if rev > Rev(), ErrClosed on a closed store.
func (s *Store) HashKV(rev int64) (hash uint32, hashRev, compactRev int64, err error) {
	for {
		s.mu.RLock()
		if s.closed {
			s.mu.RUnlock()
			return 0, 0, 0, ErrClosed
		}
		at, c := rev, s.compactRev
		if at == 0 {
			at = s.rev
		}
		switch {
		case at > s.rev:
			s.mu.RUnlock()
			return 0, 0, c, ErrFutureRev
		case at < c:
			s.mu.RUnlock()
			return 0, 0, c, ErrCompacted
		}
		v := s.viewLocked(nil)
		s.mu.RUnlock()

		h, err := hashRange(v, c, at)
		v.close()
		if err != nil {
			return 0, 0, c, err
		}
		// A compaction that started meanwhile may have removed entries we wanted; start
		// again (it may now be ErrCompacted).
		if s.CompactRev() == c {
			return h, at, c, nil
		}
	}
}

// hashRange hashes the entries with main revision in (after, upTo] visible to v.
func hashRange(v *view, after, upTo int64) (uint32, error) {
	h := crc32.New(castagnoli)
	err := v.scan(after+1, upTo, func(_ revision, _ bool, k, val []byte) bool {
		_, _ = h.Write(k)
		_, _ = h.Write(val)
		return true
	})
	if err != nil {
		return 0, fmt.Errorf("mvcc: hash: %w", err)
	}
	return h.Sum32(), nil
}
