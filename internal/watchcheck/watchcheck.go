// Package watchcheck checks a watcher's stream of a key prefix against the prefix's full
// history, for the chaos tests (process and container tiers) and tests/robustness: ordered,
// gap-free and duplicate-free, with re-lists after compacted cancels checked against the
// history replayed to their revision (Check); and, on the responses as received, etcd's
// other watch guarantees: atomic revisions, bookmarkable progress notifications, prevKV,
// isCreate and filters (CheckGuarantees, guarantees.go). It only reads through clientv3.
package watchcheck

import (
	"context"
	"fmt"
	"maps"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// Event is one put (or, with Delete, one delete) under the prefix, as the history or the
// watcher saw it. ReadHistory returns puts only; CheckGuarantees' callers record deletes too.
type Event struct {
	Rev        int64
	Key, Value string
	// Delete marks a delete event; Value is then "".
	Delete bool
}

// Relist is what a watcher did after a compacted cancel: a linearizable list of the prefix at
// revision Rev, taken after it had received AfterEvents events.
type Relist struct {
	AfterEvents int
	Rev         int64
	KVs         map[string]string
}

// Report summarises a successful check.
type Report struct {
	Events, Sessions, Relists, Skipped int
}

// ReadHistory returns every put under prefix with a revision in [from, to], read with a
// watch; the revision to must hold a put under the prefix. It checks that the revisions
// increase and that every event is a put (the workloads never delete).
func ReadHistory(ctx context.Context, cli *clientv3.Client, prefix string, from, to int64) ([]Event, error) {
	if to < from {
		return nil, nil
	}
	var hist []Event
	wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	for resp := range cli.Watch(wctx, prefix, clientv3.WithPrefix(), clientv3.WithRev(from)) {
		if err := resp.Err(); err != nil {
			return nil, fmt.Errorf("history watch from %d: %w", from, err)
		}
		for _, e := range resp.Events {
			if e.Type != clientv3.EventTypePut {
				return nil, fmt.Errorf("history: unexpected %v of %q at revision %d", e.Type, e.Kv.Key, e.Kv.ModRevision)
			}
			r := e.Kv.ModRevision
			if n := len(hist); n > 0 && r <= hist[n-1].Rev {
				return nil, fmt.Errorf("history: revision %d after %d", r, hist[n-1].Rev)
			}
			hist = append(hist, Event{Rev: r, Key: string(e.Kv.Key), Value: string(e.Kv.Value)})
			if r >= to {
				return hist, nil
			}
		}
	}
	return nil, fmt.Errorf("history watch ended before revision %d after %d events: %w", to, len(hist), wctx.Err())
}

// Check compares a watcher's events with the history (every put under the prefix since the
// watch began): the events must be exactly the history's, in order, except that a re-list
// after a compacted cancel replaces the events up to its revision, and must then equal the
// history replayed to that revision.
func Check(events []Event, relists []Relist, sessions int, hist []Event) (Report, error) {
	return CheckFrom(events, relists, sessions, hist, 0)
}

// CheckFrom is Check for a watch that began at revision start: hist is the prefix's full
// history, the events must equal its part from start on, and a re-list must equal the whole
// history replayed to the re-list's revision.
func CheckFrom(events []Event, relists []Relist, sessions int, hist []Event, start int64) (Report, error) {
	rep := Report{Events: len(events), Sessions: sessions, Relists: len(relists)}
	state := map[string]string{}
	for len(hist) > 0 && hist[0].Rev < start {
		apply(state, hist[0])
		hist = hist[1:]
	}
	h, rl := 0, 0
	for i := 0; i <= len(events); i++ {
		for rl < len(relists) && relists[rl].AfterEvents == i {
			r := relists[rl]
			for h < len(hist) && hist[h].Rev <= r.Rev {
				apply(state, hist[h])
				h++
				rep.Skipped++
			}
			if !maps.Equal(state, r.KVs) {
				return rep, fmt.Errorf("re-list %d at revision %d: got %v, history says %v", rl, r.Rev, r.KVs, state)
			}
			rl++
		}
		if i == len(events) {
			break
		}
		got := events[i]
		if h >= len(hist) {
			return rep, fmt.Errorf("watch event %d %+v: beyond the history's last revision", i, got)
		}
		if got != hist[h] {
			return rep, fmt.Errorf("watch event %d: got %+v, history has %+v (out of order, missing or repeated event)", i, got, hist[h])
		}
		apply(state, got)
		h++
	}
	if h != len(hist) {
		return rep, fmt.Errorf("watcher stopped at history entry %d of %d (revision %d)", h, len(hist), hist[h].Rev)
	}
	return rep, nil
}

// apply replays one event on a key-value map.
func apply(state map[string]string, e Event) {
	if e.Delete {
		delete(state, e.Key)
		return
	}
	state[e.Key] = e.Value
}
