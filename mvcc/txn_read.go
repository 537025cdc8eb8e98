package mvcc

import (
	"errors"
	"fmt"
)

// Read opens a read transaction on the current revision. The caller must End it.
// Read transactions never block the writer for longer than an index lookup, and hold no
// backend transaction between calls. A read at a revision that a concurrent Compact has
// since passed returns ErrCompacted. On a closed store the view's Range returns ErrClosed.
func (s *Store) Read() *ReadTxn {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return &ReadTxn{s: s, rev: s.rev}
}

// ReadTxn is a read-only view at one revision. Not safe for concurrent use.
type ReadTxn struct {
	s   *Store
	rev int64
}

// FirstRev implements ReadView. It is the store's current compaction revision (0 if never
// compacted).
func (t *ReadTxn) FirstRev() int64 { return t.s.CompactRev() }

// Rev implements ReadView: the revision pinned by Store.Read.
func (t *ReadTxn) Rev() int64 { return t.rev }

// Range implements ReadView.
func (t *ReadTxn) Range(key, end []byte, ro RangeOptions) (*RangeResult, error) {
	at := ro.Rev
	if at <= 0 {
		at = t.rev
	}
	if at > t.rev {
		return nil, ErrFutureRev
	}
	return t.s.rangeAt(key, end, at, ro, nil)
}

// End releases the view. It is idempotent.
func (t *ReadTxn) End() {}

// rangeAt serves a Range at revision at (already checked against the view's revision).
// own holds a write transaction's staged values (nil for readers).
func (s *Store) rangeAt(key, end []byte, at int64, ro RangeOptions, own map[revision][]byte) (*RangeResult, error) {
	limit := ro.Limit
	if ro.CountOnly {
		limit = -1
	}
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return nil, ErrClosed
	}
	if at < s.compactRev {
		s.mu.RUnlock()
		return nil, ErrCompacted
	}
	keys, count := s.idx.live(key, end, at, limit, ro.SkipCount)
	v := s.viewLocked(own)
	s.mu.RUnlock()

	kvs, err := v.loadAll(keys)
	v.close()
	if err != nil {
		return nil, s.readFailure(at, err)
	}
	return &RangeResult{KVs: kvs, Rev: at, Count: count}, nil
}

// readFailure classifies a failed value fetch: a compaction past at or a Close that raced
// with the read is reported as such; anything else is returned as is.
func (s *Store) readFailure(at int64, err error) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	switch {
	case s.closed:
		return ErrClosed
	case at < s.compactRev:
		return ErrCompacted
	case errors.Is(err, errMissing):
		return fmt.Errorf("mvcc: index and backend disagree: %w", err)
	default:
		return err
	}
}
