package watch

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
)

// History reads committed events back from the store.
type History interface {
	// Events returns the events with revisions in [from, to], ascending, covering at most
	// maxRevs distinct revisions, each carrying PrevKv when the key had a previous version.
	// It returns an error wrapping ErrCompacted when from is below the compaction point.
	Events(from, to int64, maxRevs int) ([]*mvccpb.Event, error)
	// CompactRev is the compaction revision.
	CompactRev() int64
}

// ErrCompacted is what History.Events wraps when asked for compacted revisions.
var ErrCompacted = errors.New("watch: required revision has been compacted")

// Config configures a Hub. Zero values mean defaults.
type Config struct {
	// ProgressInterval is how often progress_notify watchers get an empty response while idle
	// (etcd's --experimental-watch-progress-notify-interval). Default 10 minutes.
	ProgressInterval time.Duration
	// SyncInterval is how often unsynced watchers are caught up. Default 100ms.
	SyncInterval time.Duration
	// MaxRevsPerSync caps the revisions read for one catch-up round. Default 1000.
	MaxRevsPerSync int
	// OutboxLimit is the number of event responses a stream may hold before its watchers are
	// moved to catch-up. Default 256.
	OutboxLimit int
	// Logger receives logs; nil discards.
	Logger *slog.Logger
}

func (c *Config) applyDefaults() {
	if c.ProgressInterval == 0 {
		c.ProgressInterval = 10 * time.Minute
	}
	if c.SyncInterval == 0 {
		c.SyncInterval = 100 * time.Millisecond
	}
	if c.MaxRevsPerSync == 0 {
		c.MaxRevsPerSync = 1000
	}
	if c.OutboxLimit == 0 {
		c.OutboxLimit = 256
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// Hub routes events to watchers. Safe for concurrent use.
type Hub struct {
	cfg  Config
	hist History
	kick chan struct{}

	mu sync.Mutex
	// guarded by mu
	rev      int64                 // every event with revision <= rev has been notified
	synced   *group                // next revision > rev: fed live by Notify
	unsynced map[*watcher]struct{} // next revision <= rev: fed by catch-up
}

// New returns a hub whose store is at revision rev.
func New(cfg Config, hist History, rev int64) *Hub {
	cfg.applyDefaults()
	return &Hub{cfg: cfg, hist: hist, rev: rev, kick: make(chan struct{}, 1),
		synced: newGroup(), unsynced: map[*watcher]struct{}{}}
}

// Rev returns the last notified revision.
func (h *Hub) Rev() int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.rev
}

// Watchers returns the number of watchers.
func (h *Hub) Watchers() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.synced.len() + len(h.unsynced)
}

// Notify hands the hub the events of revision rev, right after the store committed it.
// Revisions without events (rev unchanged) need not be notified. Never blocks on watchers.
//
// A synced watcher's next revision is max(w.next, rev+1) for the hub's rev: watchers no event
// matched are not touched, so w.next of a synced watcher may lag (see Restored).
func (h *Hub) Notify(rev int64, events []*mvccpb.Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if rev <= h.rev {
		return
	}
	h.rev = rev
	if len(events) == 1 {
		h.synced.match(events[0].Kv.Key, func(w *watcher) { h.deliverLocked(w, rev, events) })
		return
	}
	// Several events (a txn, a range delete, a lease revoke): gather each watcher's share in
	// event order, then deliver one response per watcher.
	var order []*watcher
	hits := map[*watcher][]*mvccpb.Event{}
	for _, e := range events {
		h.synced.match(e.Kv.Key, func(w *watcher) {
			if _, seen := hits[w]; !seen {
				order = append(order, w)
			}
			hits[w] = append(hits[w], e)
		})
	}
	for _, w := range order {
		h.deliverLocked(w, rev, hits[w])
	}
}

// deliverLocked offers w the events of revision rev it wants. Requires h.mu held.
func (h *Hub) deliverLocked(w *watcher, rev int64, events []*mvccpb.Event) {
	if rev < w.next {
		return // starts in the future
	}
	evs := w.filter(events)
	w.next = rev + 1
	if len(evs) == 0 {
		return
	}
	if !w.s.offer(Response{WatchID: w.id, Rev: rev, Events: evs}) {
		// Its stream is backed up: catch up this revision from history later.
		w.next = rev
		h.moveLocked(w, false)
		return
	}
	w.sentSinceProgress = true
}

// Advance raises the notified revision to rev without events: revisions up to rev were
// committed before the hub was subscribed to the store, and nobody watches them live.
func (h *Hub) Advance(rev int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.rev = max(h.rev, rev)
}

// Restored tells the hub the store was replaced by a snapshot at rev: every watcher re-reads
// history from where it was.
func (h *Hub) Restored(rev int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	old := h.rev
	h.rev = rev
	for w := range h.synced.all {
		w.next = max(w.next, old+1) // the lag Notify allows
		if w.next <= rev {
			h.moveLocked(w, false)
		}
	}
	h.kickLocked()
}

// requires h.mu held
func (h *Hub) moveLocked(w *watcher, toSynced bool) {
	if toSynced {
		delete(h.unsynced, w)
		h.synced.add(w)
		return
	}
	h.synced.remove(w)
	h.unsynced[w] = struct{}{}
	h.kickLocked()
}

// requires h.mu held
func (h *Hub) kickLocked() {
	select {
	case h.kick <- struct{}{}:
	default:
	}
}

// Run catches up unsynced watchers and sends periodic progress until ctx ends.
func (h *Hub) Run(ctx context.Context) {
	sync := time.NewTicker(h.cfg.SyncInterval)
	defer sync.Stop()
	progress := time.NewTicker(h.cfg.ProgressInterval)
	defer progress.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-h.kick:
			h.syncRound()
		case <-sync.C:
			h.syncRound()
		case <-progress.C:
			h.progress()
		}
	}
}

// syncRound reads history once for every unsynced watcher and delivers it.
func (h *Hub) syncRound() {
	h.mu.Lock()
	if len(h.unsynced) == 0 {
		h.mu.Unlock()
		return
	}
	from, to := int64(0), h.rev
	for w := range h.unsynced {
		if from == 0 || w.next < from {
			from = w.next
		}
	}
	h.mu.Unlock()

	compact := h.hist.CompactRev()
	if from < compact {
		h.cancelCompacted(compact)
		from = compact
	}
	var events []*mvccpb.Event
	if from <= to {
		var err error
		events, err = h.hist.Events(from, to, h.cfg.MaxRevsPerSync)
		if errors.Is(err, ErrCompacted) {
			h.cancelCompacted(h.hist.CompactRev())
			return
		}
		if err != nil {
			h.cfg.Logger.Warn("watch catch-up read failed", "error", err)
			return
		}
		if len(events) > 0 && countRevs(events) >= h.cfg.MaxRevsPerSync {
			// Read stopped early: deliver only up to the last complete revision read.
			to = events[len(events)-1].Kv.ModRevision
		}
	}
	h.deliverCatchUp(from, to, events)
}

func countRevs(evs []*mvccpb.Event) int {
	n, last := 0, int64(-1)
	for _, e := range evs {
		if e.Kv.ModRevision != last {
			n++
			last = e.Kv.ModRevision
		}
	}
	return n
}

// deliverCatchUp hands each unsynced watcher its events in [w.next, to] and re-joins the live
// feed the watchers that reached the notified revision.
func (h *Hub) deliverCatchUp(from, to int64, events []*mvccpb.Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for w := range h.unsynced {
		if w.next < from {
			continue // registered meanwhile below this read; the next round covers it
		}
		if w.next <= to {
			var evs []*mvccpb.Event
			for _, e := range events {
				if r := e.Kv.ModRevision; r >= w.next && r <= to {
					evs = append(evs, w.filter([]*mvccpb.Event{e})...)
				}
			}
			if len(evs) > 0 {
				if !w.s.offer(Response{WatchID: w.id, Rev: h.rev, Events: evs}) {
					continue // stream still backed up; the next round retries
				}
				w.sentSinceProgress = true
			}
			w.next = to + 1
		}
		if w.next > h.rev {
			h.moveLocked(w, true)
		}
	}
}

// cancelCompacted cancels every unsynced watcher whose next revision is below compact.
func (h *Hub) cancelCompacted(compact int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for w := range h.unsynced {
		if w.next < compact {
			delete(h.unsynced, w)
			w.s.dropCompacted(w, compact)
		}
	}
}

// progress sends periodic progress responses to idle synced progress_notify watchers.
func (h *Hub) progress() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for w := range h.synced.all {
		if !w.progressNotify {
			continue
		}
		if !w.sentSinceProgress && h.rev >= w.start {
			w.s.offerControl(Response{WatchID: w.id, Rev: h.rev})
		}
		w.sentSinceProgress = false
	}
}

// inRange reports whether key is in [start, end) with etcd's conventions: end nil is the
// single key start, end "\x00" is every key >= start.
func inRange(key, start, end []byte) bool {
	switch {
	case len(end) == 0:
		return bytes.Equal(key, start)
	case len(end) == 1 && end[0] == 0:
		return bytes.Compare(key, start) >= 0
	default:
		return bytes.Compare(key, start) >= 0 && bytes.Compare(key, end) < 0
	}
}
