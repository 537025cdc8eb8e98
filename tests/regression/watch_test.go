package regression_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/keeldb/keel/internal/failpoint"
	"github.com/keeldb/keel/internal/netfault"
	"github.com/keeldb/keel/internal/proccluster"
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

// TestEtcd15271WatchNotBackInTimeAfterSnapshotInstall guards against etcd-io/etcd#15271: a
// member cut off from its peers long enough to need the leader's snapshot restored it and
// resent its watchers events they had already received (a watch "travelling back in time":
// revisions 335, then 24), breaking the ordered and unique guarantees.
//
// Keel's hub, told of a restore (watch.Hub.Restored), moves watchers to catch-up from where
// they were. The test watches the load's prefix from revision 1 through one follower only,
// blackholes that follower's peer traffic both ways while the load writes far past
// --snapshot-count (the leader compacts its raft log behind it), heals, waits for the
// follower's log to say it restored a snapshot and writes on. The watcher fails on an event
// below one it already had; at the end its events must be exactly the history's, each once.
func TestEtcd15271WatchNotBackInTimeAfterSnapshotInstall(t *testing.T) {
	c := startWith(t, proccluster.Config{Members: 3, PeerProxies: true, ExtraArgs: []string{
		"--snapshot-count", "100", "--snapshot-catchup-entries", "50",
		"--snapshot-check-interval", "100ms", "--raft-wal-segment-bytes", "16384"}})
	const prefix = "k15271/"
	leader, others := c.roles()
	cut := others[0]
	l := c.startLoad(prefix, 4, leader, others[1])
	l.progress(20)
	w := startWatcher(t, c.Client(t, cut), prefix, 1, nil)
	c.PeerProxy(cut).Blackhole(netfault.Both)
	l.progress(400)
	c.HealPeers()
	c.waitLog(cut, `"msg":"restored snapshot"`)
	l.progress(50)
	hist := l.finish()
	res := w.wait(t, hist[len(hist)-1].Rev, hist)
	t.Logf("m%d restored a snapshot; its watcher received %d events", cut, len(res.events))
}

// TestEtcd17247NoDuplicateWatchEventsFromWriteBuffer guards against etcd-io/etcd#17247: a
// change to etcd's caching of transaction read buffers let a reader see a write both in the
// buffer of uncommitted writes and in the committed backend, and watchers catching up
// through that read received the event twice.
//
// Keel's store has the same shape: readers capture the open and the sealed write buffers
// (mvcc/buffer.go) and read the backend beside them, only below the buffered revisions
// (mvcc/view.go scan). The test holds every sealed buffer after its backend commit
// (backendAfterCommit sleeps 30 ms, before the store drops the buffer), so readers see the
// same changes in a buffer and in the backend, under load on one member, and starts a
// watcher from a past revision after every 40 acknowledged writes, so catch-up reads run in
// that window. Each watcher's events must
// be exactly the history's from its start, each once (internal/watchcheck fails on a
// duplicate, a gap or a reordering).
func TestEtcd17247NoDuplicateWatchEventsFromWriteBuffer(t *testing.T) {
	c := start(t, 1)
	const prefix = "k17247/"
	cli := c.Client(t)
	l := c.startLoad(prefix, 4)
	c.arm(0, failpoint.BackendAfterCommit, "sleep(30)")
	var ws []*watcher
	for i := range 6 {
		l.progress(40)
		resp, err := get(c.ctx(), cli, prefix+"none")
		if err != nil {
			t.Fatal(err)
		}
		from := max(1, resp.Header.Revision-int64(20*(i+1)))
		ws = append(ws, startWatcher(t, cli, prefix, from, nil))
	}
	l.progress(40)
	c.disarm(0, failpoint.BackendAfterCommit)
	hist := l.finish()
	for _, w := range ws {
		w.wait(t, hist[len(hist)-1].Rev, hist)
	}
}

// TestEtcd17529NoWatchEventLostUnderStreamStarvation guards against etcd-io/etcd#17529: when
// a watch stream's send buffer was full, etcd moved its watchers to the slow ("victim") path,
// and events of watchers sharing the starved stream were lost.
//
// Keel bounds each stream's outbox (256 event responses) and moves its watchers to catch-up
// when it is full, re-reading the revisions they missed from history. The test opens ten
// watchers of the load's prefix on one stream (one client), stalls the stream's sends
// (beforeSendWatchResponse sleeps 500 ms) while the load writes several thousand responses'
// worth, then lets it drain. Every watcher's events must be exactly the history's from its
// start, with nothing missing or repeated.
func TestEtcd17529NoWatchEventLostUnderStreamStarvation(t *testing.T) {
	c := start(t, 1)
	const prefix = "k17529/"
	cli := c.Client(t)
	l := c.startLoad(prefix, 4)
	l.progress(20)
	resp, err := get(c.ctx(), cli, prefix+"none")
	if err != nil {
		t.Fatal(err)
	}
	var ws []*watcher
	for range 10 {
		ws = append(ws, startWatcher(t, cli, prefix, resp.Header.Revision+1, nil))
	}
	c.arm(0, failpoint.BeforeSendWatchResponse, "sleep(500)")
	l.progress(300)
	c.disarm(0, failpoint.BeforeSendWatchResponse)
	hist := l.finish()
	for _, w := range ws {
		w.wait(t, hist[len(hist)-1].Rev, hist)
	}
}

// TestEtcd20221FutureWatchGetsNoOldEventsOrProgress guards against etcd-io/etcd#20221: a
// watch opened at a future revision received progress notifications with revisions below
// its start; clientv3 then resumed the watch after a reconnect from that lower revision, and
// the watch returned events older than it had asked for (etcd-io/etcd#20229 skips progress
// for future watches).
//
// Keel sends neither requested nor periodic progress to a watcher whose start is ahead of
// its member's revision (watch/stream.go RequestProgress, watch/hub.go). The test opens,
// through one follower only, a watch of the load's prefix 200 revisions ahead, with
// progress notifications every 50 ms and requested every 20 ms, SIGKILLs and restarts that
// follower before the load reaches the start revision (clientv3 resumes the watch on the
// restarted, lagging member) and lets the load pass it. The watcher fails on an event or a
// progress notification below its start (less one, for progress); its events must be
// exactly the history's from its start.
func TestEtcd20221FutureWatchGetsNoOldEventsOrProgress(t *testing.T) {
	c := start(t, 3, "--experimental-watch-progress-notify-interval", "50ms")
	const prefix = "k20221/"
	l := c.startLoad(prefix, 4)
	l.progress(20)
	_, others := c.roles()
	m := others[0]
	resp, err := get(c.ctx(), c.Client(t), prefix+"none")
	if err != nil {
		t.Fatal(err)
	}
	from := resp.Header.Revision + 200
	wcli := c.Client(t, m)
	w := startWatcher(t, wcli, prefix, from, func(ctx context.Context) { _ = wcli.RequestProgress(ctx) }, clientv3.WithProgressNotify())
	l.progress(40)
	c.Kill(m)
	c.Restart(m)
	if err := c.WaitHealthy(c.ctx()); err != nil {
		t.Fatal(err)
	}
	l.progress(300)
	hist := l.finish()
	if final := hist[len(hist)-1].Rev; final <= from {
		t.Fatalf("the load ended at revision %d, not past the watch's start %d", final, from)
	}
	res := w.wait(t, hist[len(hist)-1].Rev, hist)
	t.Logf("watch from %d: %d events, %d progress notifications", from, len(res.events), len(res.progress))
}
