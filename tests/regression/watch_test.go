package regression_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/keeldb/keel/internal/failpoint"
	"github.com/keeldb/keel/internal/watchcheck"
)

// watched is what one watcher received, in order.
type watched struct {
	events   []watchcheck.Event
	progress []int64 // header revisions of the progress notifications
}

// watcher runs one watch of a key prefix in its own goroutine, checking the order of what it
// receives as it goes (ordered events; progress notifications never below an event already
// received, and no event at or below a progress notification's revision afterwards: etcd's
// "ordered" and "bookmarkable" guarantees).
type watcher struct {
	from   int64
	cancel context.CancelFunc
	until  chan int64 // receives the revision to stop at, once
	done   chan struct{}
	// res and err are written by the goroutine before it closes done.
	res watched
	err error
}

// startWatcher watches prefix from revision from through cli (put events only: the tests'
// loads never delete). While it waits it calls tick, if not nil, every tickEvery (e.g. to
// request progress). The goroutine ends when wait's revision is reached, on a watch error or
// an order break, or at the test's end.
func startWatcher(t *testing.T, cli *clientv3.Client, prefix string, from int64, tick func(context.Context), opts ...clientv3.OpOption) *watcher {
	ctx, cancel := context.WithTimeout(context.Background(), 2*hangGuard)
	w := &watcher{from: from, cancel: cancel, until: make(chan int64, 1), done: make(chan struct{})}
	t.Cleanup(func() { cancel(); <-w.done })
	wch := cli.Watch(ctx, prefix, append(opts, clientv3.WithPrefix(), clientv3.WithRev(from))...)
	go func() {
		defer close(w.done)
		w.err = w.run(ctx, wch, tick)
	}()
	return w
}

// tickEvery is how often a watcher calls its tick.
const tickEvery = 20 * time.Millisecond

func (w *watcher) run(ctx context.Context, wch clientv3.WatchChan, tick func(context.Context)) error {
	ticker := time.NewTicker(tickEvery)
	defer ticker.Stop()
	until := int64(-1)
	last, lastProgress := int64(0), int64(0)
	for until < 0 || last < until {
		var resp clientv3.WatchResponse
		var ok bool
		select {
		case <-ctx.Done():
			return fmt.Errorf("watch from %d: %w after %d events (last at %d), waiting for %d", w.from, ctx.Err(), len(w.res.events), last, until)
		case until = <-w.until:
			continue
		case <-ticker.C:
			if tick != nil {
				tick(ctx)
			}
			continue
		case resp, ok = <-wch:
		}
		if !ok {
			return fmt.Errorf("watch from %d closed after %d events", w.from, len(w.res.events))
		}
		if err := resp.Err(); err != nil {
			return fmt.Errorf("watch from %d: %w", w.from, err)
		}
		if resp.IsProgressNotify() {
			r := resp.Header.Revision
			if r < last {
				return fmt.Errorf("progress notification at %d after an event at %d", r, last)
			}
			if r < w.from-1 {
				return fmt.Errorf("progress notification at %d on a watch from %d", r, w.from)
			}
			lastProgress = r
			w.res.progress = append(w.res.progress, r)
			continue
		}
		for _, e := range resp.Events {
			r := e.Kv.ModRevision
			switch {
			case e.Type != clientv3.EventTypePut:
				return fmt.Errorf("unexpected %v of %q at %d", e.Type, e.Kv.Key, r)
			case r < last:
				return fmt.Errorf("event at %d after one at %d", r, last)
			case r <= lastProgress:
				return fmt.Errorf("event at %d after a progress notification at %d", r, lastProgress)
			case r < w.from:
				return fmt.Errorf("event at %d on a watch from %d", r, w.from)
			}
			last = r
			w.res.events = append(w.res.events, watchcheck.Event{Rev: r, Key: string(e.Kv.Key), Value: string(e.Kv.Value)})
		}
	}
	return nil
}

// wait lets the watcher run until it has an event at revision until, then checks its
// events against hist (the prefix's puts, from revision 1 at least to until): exactly the
// puts from the watcher's start revision, each once, in order.
func (w *watcher) wait(t *testing.T, until int64, hist []watchcheck.Event) watched {
	t.Helper()
	w.until <- until
	<-w.done
	w.cancel()
	if w.err != nil {
		t.Fatal(w.err)
	}
	var want []watchcheck.Event
	for _, e := range hist {
		if e.Rev >= w.from && e.Rev <= until {
			want = append(want, e)
		}
	}
	if _, err := watchcheck.Check(w.res.events, nil, 1, want); err != nil {
		t.Fatalf("watch from %d: %v", w.from, err)
	}
	return w.res
}

// TestEtcd15220ProgressNotifyFollowsEvents guards against etcd-io/etcd#15220: etcd answered
// a requested progress notification with the store's current revision even while the
// watcher was unsynced (still catching up), so the notification claimed events had all been
// delivered up to a revision the stream had not reached, and it could carry a lower revision
// than an event already sent.
//
// Keel answers RequestProgress only when every watcher of the stream is synced, and sends
// periodic progress only to synced watchers (watch/stream.go, watch/hub.go). The test
// watches the load's prefix from revision 1 midway through the load, so the watcher starts
// unsynced, on one member whose watch sends then stall (beforeSendWatchResponse sleeps
// 500 ms), so the load overflows the stream's outbox and its watcher falls back to catch-up,
// while the client requests progress every 20 ms and the member
// also sends periodic progress (every 50 ms). The watcher fails on a progress notification
// below an event it already received or an event at or below a notification's revision; at
// the end its events must be exactly the history's, and it must have received progress
// notifications at all.
func TestEtcd15220ProgressNotifyFollowsEvents(t *testing.T) {
	c := start(t, 1, "--experimental-watch-progress-notify-interval", "50ms")
	const prefix = "k15220/"
	wcli := c.Client(t)
	l := c.startLoad(prefix, 4)
	l.progress(100)
	// From revision 1, the watcher starts unsynced; then its stalled stream (two sends a
	// second) falls more than the outbox's 256 responses behind the load.
	w := startWatcher(t, wcli, prefix, 1, func(ctx context.Context) { _ = wcli.RequestProgress(ctx) }, clientv3.WithProgressNotify())
	c.arm(0, failpoint.BeforeSendWatchResponse, "sleep(500)")
	l.progress(400)
	c.disarm(0, failpoint.BeforeSendWatchResponse)
	hist := l.finish()
	res := w.wait(t, hist[len(hist)-1].Rev, hist)
	if len(res.progress) == 0 {
		t.Fatal("no progress notification received: the check did not run")
	}
	t.Logf("%d events, %d progress notifications", len(res.events), len(res.progress))
}
