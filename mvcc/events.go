package mvcc

import (
	"fmt"

	"go.etcd.io/etcd/api/v3/mvccpb"
	"google.golang.org/protobuf/proto"
)

// Events returns the changes of ended write transactions (on disk or still in the pending
// batch) with revisions in [from, to] (to <= 0 or above Rev() means Rev()), ascending by
// revision and sub-revision, covering at most maxRevs distinct revisions when maxRevs > 0. PUT events carry the full KeyValue, DELETE events a KeyValue
// with Key and ModRevision; each carries PrevKv when the key had a previous version that is
// still stored (versions at or below the compaction revision may be gone). It is how watchers
// catch up with history.
//
// Returns ErrCompacted if from < CompactRev() (like etcd, events at exactly the compaction
// revision are served from what compaction kept, so deletions at that revision are not
// returned), ErrClosed on a closed store.
func (s *Store) Events(from, to int64, maxRevs int) ([]*mvccpb.Event, error) {
	for {
		s.mu.RLock()
		if s.closed {
			s.mu.RUnlock()
			return nil, ErrClosed
		}
		c := s.compactRev
		if from < c {
			s.mu.RUnlock()
			return nil, ErrCompacted
		}
		if to <= 0 || to > s.rev {
			to = s.rev
		}
		v := s.viewLocked(nil)
		s.mu.RUnlock()

		evs, err := s.readEvents(v, max(from, 1), to, maxRevs)
		v.close()
		// A compaction that started meanwhile may have removed what we read; start again
		// (it may now be ErrCompacted).
		if s.CompactRev() != c {
			continue
		}
		if err != nil {
			return nil, s.readFailure(from, err)
		}
		return evs, nil
	}
}

// readEvents decodes the changes in [from, to] and attaches their previous versions.
func (s *Store) readEvents(v *view, from, to int64, maxRevs int) ([]*mvccpb.Event, error) {
	var evs []*mvccpb.Event
	var revs []revision
	distinct, last := 0, int64(0)
	var derr error
	err := v.scan(from, to, func(r revision, tomb bool, _, val []byte) bool {
		if r.main != last {
			if maxRevs > 0 && distinct == maxRevs {
				return false
			}
			distinct, last = distinct+1, r.main
		}
		kv := new(mvccpb.KeyValue)
		if derr = proto.Unmarshal(val, kv); derr != nil {
			derr = fmt.Errorf("mvcc: decode revision %d_%d: %w", r.main, r.sub, derr)
			return false
		}
		ev := &mvccpb.Event{Type: mvccpb.Event_PUT, Kv: kv}
		if tomb {
			ev.Type = mvccpb.Event_DELETE
		}
		evs, revs = append(evs, ev), append(revs, r)
		return true
	})
	if err == nil {
		err = derr
	}
	if err != nil {
		return nil, err
	}
	return evs, s.attachPrev(v, evs, revs)
}

// attachPrev sets PrevKv on every event whose key had a previous, still stored, version.
func (s *Store) attachPrev(v *view, evs []*mvccpb.Event, revs []revision) error {
	prev := make([]revision, len(evs))
	has := make([]bool, len(evs))
	s.mu.RLock()
	for i, ev := range evs {
		if ki := s.idx.get(ev.Kv.Key); ki != nil {
			prev[i], has[i] = ki.prevOf(revs[i])
		}
	}
	s.mu.RUnlock()
	for i, ev := range evs {
		if !has[i] {
			continue
		}
		ev.PrevKv = new(mvccpb.KeyValue)
		if err := v.load(prev[i], ev.PrevKv); err != nil {
			return err
		}
	}
	return nil
}
