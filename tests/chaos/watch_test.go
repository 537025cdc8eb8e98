package chaos_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/keeldb/keel/internal/watchcheck"
)

// event is one put under the prefix, as the history or the watcher saw it.
type event struct {
	rev        int64
	key, value string
}

// relist is what the watcher did after a compacted cancel: a linearizable list of the prefix
// at revision rev, taken after it had received afterEvents events.
type relist struct {
	afterEvents int
	rev         int64
	kvs         map[string]string
}

// watcher watches the prefix from revision 1 for a whole scenario. On any error it watches
// again from its last revision + 1; after a compacted cancel it lists the prefix and watches
// from the list's revision + 1, as clients do. It stops once it has seen the final revision.
type watcher struct {
	cli *clientv3.Client
	// ctx ends the watcher (stop); it is owned by the watcher's goroutine and stop.
	ctx    context.Context
	cancel context.CancelFunc

	pauseReq, paused, resume chan struct{}
	finalSet                 chan struct{}
	done                     chan struct{}

	mu sync.Mutex
	// guarded by mu
	final    int64
	events   []event
	relists  []relist
	sessions int
	errs     []string
}

func startWatcher(cli *clientv3.Client) *watcher {
	w := &watcher{cli: cli, pauseReq: make(chan struct{}), paused: make(chan struct{}), resume: make(chan struct{}),
		finalSet: make(chan struct{}), done: make(chan struct{})}
	w.ctx, w.cancel = context.WithCancel(context.Background())
	go w.run()
	return w
}

// stop ends the watcher and waits for its goroutine; it is idempotent.
func (w *watcher) stop() {
	w.cancel()
	<-w.done
}

// disconnect makes the watcher cancel its watch and wait for reconnect; it returns once the
// watch is cancelled. Call it from one goroutine, alternating with reconnect.
func (w *watcher) disconnect() {
	w.pauseReq <- struct{}{}
	<-w.paused
}

func (w *watcher) reconnect() { w.resume <- struct{}{} }

// finish tells the watcher the final revision and waits until it has received it or ctx ends.
func (w *watcher) finish(ctx context.Context, final int64) error {
	w.mu.Lock()
	w.final = final
	w.mu.Unlock()
	close(w.finalSet)
	select {
	case <-w.done:
		return nil
	case <-ctx.Done():
		w.mu.Lock()
		defer w.mu.Unlock()
		last := int64(0)
		if n := len(w.events); n > 0 {
			last = w.events[n-1].rev
		}
		return fmt.Errorf("watcher did not reach revision %d (last event at %d, errors %v): %w", final, last, w.errs, ctx.Err())
	}
}

// reached reports whether the watcher has seen the final revision (requires w.mu).
func (w *watcher) reachedLocked(next int64) bool { return w.final > 0 && next > w.final }

func (w *watcher) run() {
	defer close(w.done)
	next := int64(1)
	for w.ctx.Err() == nil {
		w.mu.Lock()
		if w.reachedLocked(next) {
			w.mu.Unlock()
			return
		}
		w.sessions++
		w.mu.Unlock()
		var stop bool
		next, stop = w.session(next)
		if stop {
			return
		}
	}
}

// session runs one watch from revision next and returns the next revision wanted.
func (w *watcher) session(next int64) (int64, bool) {
	ctx, cancel := context.WithCancel(clientv3.WithRequireLeader(w.ctx))
	defer cancel()
	ch := w.cli.Watch(ctx, prefix, clientv3.WithPrefix(), clientv3.WithRev(next))
	finalSet := w.finalSet
	for {
		select {
		case <-w.pauseReq:
			cancel()
			w.paused <- struct{}{}
			select {
			case <-w.resume:
			case <-w.ctx.Done():
			}
			return next, false
		case <-finalSet:
			finalSet = nil
			w.mu.Lock()
			reached := w.reachedLocked(next)
			w.mu.Unlock()
			if reached {
				return next, true
			}
		case resp, ok := <-ch:
			if !ok {
				return next, false
			}
			if resp.CompactRevision != 0 || errors.Is(resp.Err(), rpctypes.ErrCompacted) {
				return w.relist(), false
			}
			if err := resp.Err(); err != nil {
				w.noteErr(err)
				w.backoff()
				return next, false
			}
			w.mu.Lock()
			for _, ev := range resp.Events {
				w.events = append(w.events, event{rev: ev.Kv.ModRevision, key: string(ev.Kv.Key), value: string(ev.Kv.Value)})
				next = ev.Kv.ModRevision + 1
			}
			reached := w.reachedLocked(next)
			w.mu.Unlock()
			if reached {
				return next, true
			}
		}
	}
}

func (w *watcher) noteErr(err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.errs) < 20 {
		w.errs = append(w.errs, err.Error())
	}
}

// relist lists the prefix (retrying until it succeeds), records the list and returns the
// revision to watch from.
func (w *watcher) relist() int64 {
	for w.ctx.Err() == nil {
		ctx, cancel := context.WithTimeout(w.ctx, opTimeout)
		resp, err := w.cli.Get(ctx, prefix, clientv3.WithPrefix())
		cancel()
		if err == nil {
			kvs := map[string]string{}
			for _, kv := range resp.Kvs {
				kvs[string(kv.Key)] = string(kv.Value)
			}
			w.mu.Lock()
			w.relists = append(w.relists, relist{afterEvents: len(w.events), rev: resp.Header.Revision, kvs: kvs})
			w.mu.Unlock()
			return resp.Header.Revision + 1
		}
		w.noteErr(err)
		w.backoff()
	}
	return 0
}

// backoff paces retries after an error (e.g. while there is no leader), so the watcher does
// not spin; it is not a wait for any state.
func (w *watcher) backoff() {
	select {
	case <-time.After(50 * time.Millisecond):
	case <-w.ctx.Done():
	}
}

// readHistory returns every put under the prefix with a revision in [from, to], read with a
// watch; the revision to must hold a put under the prefix.
func readHistory(ctx context.Context, cli *clientv3.Client, from, to int64) ([]event, error) {
	hist, err := watchcheck.ReadHistory(ctx, cli, prefix, from, to)
	return fromCheck(hist), err
}

// watchReport summarises a successful watch check.
type watchReport struct {
	events, sessions, relists, skipped int
}

// checkWatch compares the watcher's stream with the history (every put under the prefix
// since revision 1): the events must be exactly the history's, in order, except that a
// re-list after a compacted cancel replaces the events up to its revision, and must then
// equal the history replayed to that revision.
func (w *watcher) check(hist []event) (watchReport, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return checkStream(w.events, w.relists, w.sessions, hist)
}

// The stream check and the history reader are shared with the other chaos tier
// (internal/watchcheck); these convert at the boundary.
func toCheck(evs []event) []watchcheck.Event {
	out := make([]watchcheck.Event, len(evs))
	for i, e := range evs {
		out[i] = watchcheck.Event{Rev: e.rev, Key: e.key, Value: e.value}
	}
	return out
}

func fromCheck(evs []watchcheck.Event) []event {
	out := make([]event, len(evs))
	for i, e := range evs {
		out[i] = event{rev: e.Rev, key: e.Key, value: e.Value}
	}
	return out
}

func checkStream(events []event, relists []relist, sessions int, hist []event) (watchReport, error) {
	rl := make([]watchcheck.Relist, len(relists))
	for i, r := range relists {
		rl[i] = watchcheck.Relist{AfterEvents: r.afterEvents, Rev: r.rev, KVs: r.kvs}
	}
	rep, err := watchcheck.Check(toCheck(events), rl, sessions, toCheck(hist))
	return watchReport{events: rep.Events, sessions: rep.Sessions, relists: rep.Relists, skipped: rep.Skipped}, err
}
