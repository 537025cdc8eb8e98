package netfault_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/keeldb/keel/internal/poll"
	"github.com/keeldb/keel/internal/proccluster"
	"github.com/keeldb/keel/internal/watchcheck"
)

// watcher watches the load's prefix through one member only, from a fixed revision, across
// the fault: a watch on a cut-off member stalls, and after Heal it must deliver every event
// in order, none twice and none missing (I4; etcd-io/etcd#15271, a watch that travelled back
// in time after a partition). It resumes from its last revision + 1 when the stream ends.
type watcher struct {
	cli    *clientv3.Client
	from   int64
	cancel context.CancelFunc
	done   chan struct{}

	mu sync.Mutex
	// guarded by mu
	events   []watchcheck.Event
	sessions int
	lastErr  error
}

// startWatcher watches "load/" through member i from the cluster's current revision + 1.
func startWatcher(t *testing.T, ctx context.Context, c *proccluster.Cluster, i int) *watcher {
	t.Helper()
	cli := c.Client(t, i)
	var from int64
	poll.Until(t, ctx, "the revision to watch from", func(ctx context.Context) error {
		rctx, cancel := context.WithTimeout(ctx, opTimeout)
		defer cancel()
		get, err := cli.Get(rctx, "load/", clientv3.WithPrefix(), clientv3.WithCountOnly())
		if err != nil {
			return err
		}
		from = get.Header.Revision + 1
		return nil
	})
	wctx, cancel := context.WithCancel(context.Background())
	w := &watcher{cli: cli, from: from, cancel: cancel, done: make(chan struct{})}
	go w.run(wctx)
	t.Cleanup(w.stop)
	return w
}

func (w *watcher) run(ctx context.Context) {
	defer close(w.done)
	next := w.from
	for ctx.Err() == nil {
		w.mu.Lock()
		w.sessions++
		w.mu.Unlock()
		for resp := range w.cli.Watch(ctx, "load/", clientv3.WithPrefix(), clientv3.WithRev(next)) {
			if err := resp.Err(); err != nil {
				w.mu.Lock()
				w.lastErr = err
				w.mu.Unlock()
				break
			}
			w.mu.Lock()
			for _, e := range resp.Events {
				w.events = append(w.events, watchcheck.Event{Rev: e.Kv.ModRevision, Key: string(e.Kv.Key), Value: string(e.Kv.Value)})
				next = e.Kv.ModRevision + 1
			}
			w.mu.Unlock()
		}
		// Pace a reconnect after the stream ended; not a wait for any state.
		select {
		case <-ctx.Done():
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (w *watcher) stop() {
	w.cancel()
	<-w.done
}

// check waits until the watcher has seen revision to (a put under "load/"), stops it, and
// compares its events with the history read through another member.
func (w *watcher) check(t *testing.T, ctx context.Context, historyCli *clientv3.Client, to int64) {
	t.Helper()
	poll.Until(t, ctx, fmt.Sprintf("the watcher at revision %d", to), func(context.Context) error {
		w.mu.Lock()
		defer w.mu.Unlock()
		if n := len(w.events); n == 0 || w.events[n-1].Rev < to {
			return fmt.Errorf("%d events, %d sessions, last error %v", n, w.sessions, w.lastErr)
		}
		return nil
	})
	w.stop()
	hist, err := watchcheck.ReadHistory(ctx, historyCli, "load/", w.from, to)
	if err != nil {
		t.Fatal(err)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	// Events past to are not in the history read; leave them out.
	events := w.events
	for len(events) > 0 && events[len(events)-1].Rev > to {
		events = events[:len(events)-1]
	}
	rep, err := watchcheck.Check(events, nil, w.sessions, hist)
	if err != nil {
		t.Fatalf("watch through the cut-off member: %v", err)
	}
	t.Logf("watch through the cut-off member: %d events in %d sessions, all in order", rep.Events, rep.Sessions)
}
