package watchcheck

import (
	"errors"
	"fmt"
	"slices"
)

// Response is one entry of a watcher's recorded stream: a watch response as received, or,
// with Start set, the mark of a new watch the watcher opened from revision Start (its first
// one, a resumption after an error, or a re-watch after a re-list).
type Response struct {
	// Start, when non-zero, marks a new watch from this revision; the other fields are empty.
	Start int64
	// Rev is the response header's revision.
	Rev int64
	// Progress marks a progress notification: no events, and neither a created nor a cancel
	// response.
	Progress bool
	// Events are the response's events, in the order received.
	Events []WatchEvent
}

// WatchEvent is one received event with the fields the guarantees are checked on.
type WatchEvent struct {
	Event
	// CreateRev and Version are the event's KeyValue create_revision and version (0 for a
	// delete).
	CreateRev, Version int64
	// IsCreate is clientv3's Event.IsCreate.
	IsCreate bool
	// Prev is the event's prev_kv; nil when the response carried none.
	Prev *Event
}

// Options say how the checked watch was created.
type Options struct {
	// PrevKV is whether the watch asked for prev_kv.
	PrevKV bool
	// NoPut and NoDelete are the watch's filters.
	NoPut, NoDelete bool
	// CompactedAt are the revisions the history was compacted at (or a compaction was
	// attempted at) while the watch ran. An event at one of them may carry no prev_kv: the
	// server reads the previous value at the revision before, which that compaction removed
	// (etcd does the same, and its robustness validator accepts a missing prev_kv). A prev_kv
	// that is there must still be right.
	CompactedAt []int64
}

// maxErrors bounds what CheckGuarantees reports.
const maxErrors = 10

// Filter returns the events of hist a watch with opts delivers.
func Filter(hist []Event, opts Options) []Event {
	var out []Event
	for _, e := range hist {
		if (e.Delete && opts.NoDelete) || (!e.Delete && opts.NoPut) {
			continue
		}
		out = append(out, e)
	}
	return out
}

// Events returns the events of a recorded stream in order, for Check.
func Events(resps []Response) []Event {
	var out []Event
	for _, r := range resps {
		for _, e := range r.Events {
			out = append(out, e.Event)
		}
	}
	return out
}

// CheckGuarantees checks a recorded stream against the full history of the watched prefix
// (every put and delete from revision 1, in revision order) for etcd's watch guarantees
// that Check, which compares the events in order (ordered, unique, reliable, resumable),
// does not cover:
//
//   - ordered: revisions never go down, across responses and resumptions;
//   - unique: no (revision, key) is delivered twice;
//   - atomic: a response holds every event of each revision it touches, and no revision
//     is spread over two responses;
//   - bookmarkable: a progress notification at revision R comes after every event up to R
//     that the watch was to deliver, and before any event at or below R;
//   - prevKV: with Options.PrevKV, each event's prev_kv is the key's previous value in the
//     history, absent when the key did not exist; without it, no prev_kv;
//   - isCreate: a put is a create (IsCreate, create_revision = mod_revision, version 1)
//     exactly when the key did not exist before it;
//   - filter: no put with NoPut, no delete with NoDelete.
//
// It returns the first few violations found, joined, or nil.
func CheckGuarantees(resps []Response, hist []Event, opts Options) error {
	type revKey struct {
		rev int64
		key string
	}
	// prev maps each history event to the key's previous put (nil: absent before).
	prev := map[revKey]*Event{}
	perRev := map[int64]int{}
	last := map[string]*Event{}
	for i := range hist {
		e := hist[i]
		prev[revKey{e.Rev, e.Key}] = last[e.Key]
		if e.Delete {
			delete(last, e.Key)
		} else {
			last[e.Key] = &hist[i]
		}
	}
	for _, e := range Filter(hist, opts) {
		perRev[e.Rev]++
	}
	var errs []error
	fail := func(format string, args ...any) {
		if len(errs) < maxErrors {
			errs = append(errs, fmt.Errorf(format, args...))
		}
	}
	seen := map[revKey]bool{}
	revResp := map[int64]int{}
	// delivered is the revision up to which the stream has delivered (or skipped) events.
	var lastEvent, delivered int64
	hi := 0 // next filtered history event not yet at or below delivered
	want := Filter(hist, opts)
	for i, r := range resps {
		if r.Start != 0 {
			delivered = max(delivered, r.Start-1)
			continue
		}
		if r.Progress {
			for hi < len(want) && want[hi].Rev <= delivered {
				hi++
			}
			if hi < len(want) && want[hi].Rev <= r.Rev {
				fail("bookmarkable: response %d: progress at revision %d before event %+v", i, r.Rev, want[hi])
			}
			delivered = max(delivered, r.Rev)
			continue
		}
		count := map[int64]int{}
		for _, e := range r.Events {
			k := revKey{e.Rev, e.Key}
			switch {
			case e.Rev < lastEvent:
				fail("ordered: response %d: revision %d after %d", i, e.Rev, lastEvent)
			case e.Rev <= delivered && e.Rev != lastEvent:
				fail("bookmarkable: response %d: event at revision %d after progress or start at %d", i, e.Rev, delivered)
			}
			if seen[k] {
				fail("unique: response %d: %s at revision %d delivered twice", i, e.Key, e.Rev)
			}
			seen[k] = true
			lastEvent = max(lastEvent, e.Rev)
			delivered = max(delivered, e.Rev)
			count[e.Rev]++
			if (e.Delete && opts.NoDelete) || (!e.Delete && opts.NoPut) {
				fail("filter: response %d: %+v passed the watch's filter", i, e.Event)
			}
			p, inHist := prev[k]
			if !inHist {
				continue // Check reports events the history does not have
			}
			checkPrev(fail, i, e, p, opts)
		}
		for rev, n := range count {
			if j, ok := revResp[rev]; ok {
				fail("atomic: revision %d split over responses %d and %d", rev, j, i)
			}
			revResp[rev] = i
			if n != perRev[rev] {
				fail("atomic: response %d holds %d of the %d events of revision %d", i, n, perRev[rev], rev)
			}
		}
	}
	return errors.Join(errs...)
}

// checkPrev checks one event's prev_kv and create fields against p, the key's previous put in
// the history (nil if the key was absent).
func checkPrev(fail func(string, ...any), i int, e WatchEvent, p *Event, opts Options) {
	wantPrevKV := opts.PrevKV
	switch {
	case wantPrevKV && p != nil && e.Prev == nil && slices.Contains(opts.CompactedAt, e.Rev):
		// The previous value was compacted away just as the event was read: no prev_kv.
	case !wantPrevKV && e.Prev != nil:
		fail("prevKV: response %d: %s at revision %d carries prev_kv unasked", i, e.Key, e.Rev)
	case wantPrevKV && p == nil && e.Prev != nil:
		fail("prevKV: response %d: %s at revision %d has prev_kv %+v, but the key was absent", i, e.Key, e.Rev, *e.Prev)
	case wantPrevKV && p != nil && (e.Prev == nil || e.Prev.Value != p.Value || e.Prev.Rev != p.Rev):
		fail("prevKV: response %d: %s at revision %d has prev_kv %+v, history says %+v", i, e.Key, e.Rev, e.Prev, *p)
	}
	if e.Delete {
		return
	}
	create := p == nil
	if e.IsCreate != create || (e.CreateRev == e.Rev) != create || (e.Version == 1) != create {
		fail("isCreate: response %d: %s at revision %d: IsCreate %v, create_revision %d, version %d; key existed before: %v",
			i, e.Key, e.Rev, e.IsCreate, e.CreateRev, e.Version, !create)
	}
}
