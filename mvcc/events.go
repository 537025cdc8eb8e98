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

		evs, err := s.readEvents(v, max(from, 1), to, maxRevs, c)
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

// readEvents decodes the changes in [from, to] and attaches their previous versions;
// compactRev is the compaction revision when v was captured.
func (s *Store) readEvents(v *view, from, to int64, maxRevs int, compactRev int64) ([]*mvccpb.Event, error) {
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
	return s.settle(v, evs, revs, compactRev)
}

// settle makes the events read at v what they are once the compaction at compactRev is
// finished, however far the compactor has got: a change at exactly compactRev is kept only
// if that compaction keeps its revision, and has no PrevKv (the version it replaced is
// older, so compacted away); every other event gets PrevKv when its key had a previous
// version, which that compaction keeps.
func (s *Store) settle(v *view, evs []*mvccpb.Event, revs []revision, compactRev int64) ([]*mvccpb.Event, error) {
	prev := make([]revision, len(evs))
	has := make([]bool, len(evs))
	dropped := make([]bool, len(evs))
	s.mu.RLock()
	for i, ev := range evs {
		ki := s.idx.get(ev.Kv.Key)
		switch {
		case revs[i].main <= compactRev:
			dropped[i] = ki == nil || !ki.keeps(revs[i], compactRev)
		case ki != nil:
			prev[i], has[i] = ki.prevOf(revs[i])
		}
	}
	s.mu.RUnlock()
	out := evs[:0]
	for i, ev := range evs {
		if dropped[i] {
			continue
		}
		if has[i] {
			ev.PrevKv = new(mvccpb.KeyValue)
			if err := v.load(prev[i], ev.PrevKv); err != nil {
				return nil, err
			}
		}
		out = append(out, ev)
	}
	return out, nil
}
