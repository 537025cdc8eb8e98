package robustness_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/keeldb/keel/internal/watchcheck"
)

// watcherConfig shapes a recording watcher.
type watcherConfig struct {
	name string
	cli  *clientv3.Client
	// start is the first revision watched (>= 1).
	start int64
	// opts are the watch's prev_kv and filter options.
	opts watchcheck.Options
	// progressEvery, when set, requests a progress notification that often.
	progressEvery time.Duration
	// member is the member the client is pinned to, or -1 for a client over every member.
	member int
}

// watcher watches the suite's prefix for a whole scenario and records every response. On an
// error it watches again from its last revision + 1; after a compacted cancel it lists the
// prefix and watches from the list's revision + 1, as clients do. It stops once it has
// delivered the final revision, or when stopped.
type watcher struct {
	cfg    watcherConfig
	cancel context.CancelFunc
	ctx    context.Context
	done   chan struct{}

	mu sync.Mutex
	// guarded by mu
	resps    []watchcheck.Response
	relists  []watchcheck.Relist
	events   int
	sessions int
	// next is the next revision the watcher wants.
	next  int64
	final int64
	errs  []string
}

// startWatcher starts the watcher's goroutine; stop ends and joins it.
func startWatcher(cfg watcherConfig) *watcher {
	w := &watcher{cfg: cfg, done: make(chan struct{}), next: cfg.start}
	w.ctx, w.cancel = context.WithCancel(context.Background())
	go w.run()
	return w
}

// stop ends the watcher and waits for its goroutine; it is idempotent.
func (w *watcher) stop() {
	w.cancel()
	<-w.done
}

// delivered returns the revision up to which the watcher has delivered events.
func (w *watcher) delivered() int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.next - 1
}

// finish sets the final revision and waits until the watcher has delivered it, or ctx ends.
func (w *watcher) finish(ctx context.Context, final int64) error {
	w.mu.Lock()
	w.final = final
	w.mu.Unlock()
	for {
		if w.delivered() >= final {
			w.stop()
			return nil
		}
		select {
		case <-ctx.Done():
			w.mu.Lock()
			defer w.mu.Unlock()
			return fmt.Errorf("watcher %s stopped at revision %d, want %d (errors %v): %w", w.cfg.name, w.next-1, final, w.errs, ctx.Err())
		case <-w.done:
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// record returns a copy of what the watcher recorded.
func (w *watcher) record() (resps []watchcheck.Response, relists []watchcheck.Relist, sessions int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]watchcheck.Response(nil), w.resps...), append([]watchcheck.Relist(nil), w.relists...), w.sessions
}

func (w *watcher) run() {
	defer close(w.done)
	for w.ctx.Err() == nil {
		w.mu.Lock()
		next := w.next
		w.sessions++
		w.resps = append(w.resps, watchcheck.Response{Start: next})
		w.mu.Unlock()
		w.session(next)
	}
}

// session runs one watch from revision next until it ends or breaks.
func (w *watcher) session(next int64) {
	ctx, cancel := context.WithCancel(clientv3.WithRequireLeader(w.ctx))
	defer cancel()
	opts := []clientv3.OpOption{clientv3.WithPrefix(), clientv3.WithRev(next)}
	if w.cfg.opts.PrevKV {
		opts = append(opts, clientv3.WithPrevKV())
	}
	if w.cfg.opts.NoDelete {
		opts = append(opts, clientv3.WithFilterDelete())
	}
	if w.cfg.opts.NoPut {
		opts = append(opts, clientv3.WithFilterPut())
	}
	ch := w.cfg.cli.Watch(ctx, prefix, opts...)
	var tick <-chan time.Time
	if w.cfg.progressEvery > 0 {
		t := time.NewTicker(w.cfg.progressEvery)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-tick:
			// An error here ends in the stream too, which the loop sees.
			_ = w.cfg.cli.RequestProgress(ctx)
		case resp, ok := <-ch:
			if !ok {
				return
			}
			if resp.CompactRevision != 0 || errors.Is(resp.Err(), rpctypes.ErrCompacted) {
				w.relist()
				return
			}
			if err := resp.Err(); err != nil {
				w.noteErr(err)
				w.backoff()
				return
			}
			if resp.Created {
				continue
			}
			if w.add(resp) {
				w.cancel()
				return
			}
		}
	}
}

// add records one response and reports whether the final revision has been delivered.
func (w *watcher) add(resp clientv3.WatchResponse) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	r := watchcheck.Response{Rev: resp.Header.Revision, Progress: resp.IsProgressNotify()}
	for _, ev := range resp.Events {
		we := watchcheck.WatchEvent{
			Event:     toEvent(ev.Type, ev.Kv),
			CreateRev: ev.Kv.CreateRevision, Version: ev.Kv.Version, IsCreate: ev.IsCreate(),
		}
		if ev.PrevKv != nil {
			p := toEvent(mvccpb.PUT, ev.PrevKv)
			we.Prev = &p
		}
		r.Events = append(r.Events, we)
		w.next = max(w.next, ev.Kv.ModRevision+1)
		w.events++
	}
	if r.Progress {
		w.next = max(w.next, resp.Header.Revision+1)
	}
	w.resps = append(w.resps, r)
	return w.final > 0 && w.next > w.final
}

func toEvent(t mvccpb.Event_EventType, kv *mvccpb.KeyValue) watchcheck.Event {
	if t == mvccpb.DELETE {
		return watchcheck.Event{Rev: kv.ModRevision, Key: string(kv.Key), Delete: true}
	}
	return watchcheck.Event{Rev: kv.ModRevision, Key: string(kv.Key), Value: string(kv.Value)}
}

func (w *watcher) noteErr(err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.errs) < 20 {
		w.errs = append(w.errs, err.Error())
	}
}

// relist lists the prefix (retrying until it succeeds), records the list and moves the
// watcher past its revision.
func (w *watcher) relist() {
	for w.ctx.Err() == nil {
		ctx, cancel := context.WithTimeout(w.ctx, opTimeout)
		resp, err := w.cfg.cli.Get(ctx, prefix, clientv3.WithPrefix())
		cancel()
		if err == nil {
			kvs := map[string]string{}
			for _, kv := range resp.Kvs {
				kvs[string(kv.Key)] = string(kv.Value)
			}
			w.mu.Lock()
			defer w.mu.Unlock()
			w.relists = append(w.relists, watchcheck.Relist{AfterEvents: w.events, Rev: resp.Header.Revision, KVs: kvs})
			w.next = max(w.next, resp.Header.Revision+1)
			return
		}
		w.noteErr(err)
		w.backoff()
	}
}

// backoff paces retries after an error (e.g. while there is no leader), so the watcher does
// not spin; it is not a wait for any state.
func (w *watcher) backoff() {
	select {
	case <-time.After(50 * time.Millisecond):
	case <-w.ctx.Done():
	}
}
