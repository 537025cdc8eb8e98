package bench

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// drainPoll is how often Drain checks whether the last events are in.
const drainPoll = 10 * time.Millisecond

// watchWorkload puts keys under a prefix that Watchers watchers, spread over Streams watch
// streams, all watch. It records "put" latency and "watch" latency: the event's receive
// time minus its put's send time, matched by key and revision. Counters: "events" gives
// the fan-out in events/s, "events_missing" the events never received, "events_unmatched"
// the events whose put's response never came back (puts cut off by the end of the run).
type watchWorkload struct {
	p   Params
	val string
	m   *matcher
	s   *Session // set by Setup
}

func newWatch(p Params) Workload {
	p = p.withDefaults("kb-watch/")
	return &watchWorkload{p: p, val: strings.Repeat("v", p.ValSize), m: newMatcher(p.Watchers)}
}

func (w *watchWorkload) Setup(ctx context.Context, s *Session) error {
	w.s = s
	streams := make([]clientv3.Watcher, w.p.Streams)
	for i := range streams {
		streams[i] = clientv3.NewWatcher(s.Client(i))
		s.Go(func() {
			<-ctx.Done()
			_ = streams[i].Close()
		})
	}
	for i := range w.p.Watchers {
		ch := streams[i%len(streams)].Watch(ctx, w.p.Prefix, clientv3.WithPrefix(), clientv3.WithCreatedNotify())
		if err := waitCreated(ctx, ch); err != nil {
			return fmt.Errorf("watcher %d: %w", i, err)
		}
		s.Go(func() { w.receive(s, ch) })
	}
	return nil
}

// waitCreated waits for a watch's created notification.
func waitCreated(ctx context.Context, ch clientv3.WatchChan) error {
	select {
	case resp, ok := <-ch:
		if !ok {
			return errors.New("watch channel closed")
		}
		if err := resp.Err(); err != nil {
			return err
		}
		if !resp.Created {
			return errors.New("first watch response is not the created notification")
		}
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// receive reads one watcher's events until its channel closes, then hands its latencies to s.
func (w *watchWorkload) receive(s *Session, ch clientv3.WatchChan) {
	var h Histogram
	var events int64
	defer func() {
		s.Merge("watch", &h)
		s.Count("events", events)
	}()
	for resp := range ch {
		now := time.Now()
		if err := resp.Err(); err != nil {
			s.Observe("watch", 0, err)
			continue
		}
		events += int64(len(resp.Events))
		for _, ev := range resp.Events {
			if d, ok := w.m.event(revKey{string(ev.Kv.Key), ev.Kv.ModRevision}, now); ok {
				h.Record(d)
			}
		}
	}
}

func (w *watchWorkload) Do(ctx context.Context, wk *Worker) {
	k := key(w.p.Prefix, wk.Rand.IntN(w.p.KeySpace), w.p.KeySize)
	var sent time.Time
	var rev int64
	err := wk.Time(ctx, "put", func(ctx context.Context) error {
		sent = time.Now()
		resp, err := wk.Client.Put(ctx, k, w.val)
		if err == nil {
			rev = resp.Header.Revision
		}
		return err
	})
	if err != nil {
		return
	}
	for _, d := range w.m.put(revKey{k, rev}, sent) {
		wk.Observe("watch", d)
	}
}

// Drain waits until every watcher has seen every put, then counts the unmatched events.
func (w *watchWorkload) Drain(ctx context.Context) {
	w.m.drain(ctx)
	missing, unmatched := w.m.pending()
	w.s.Count("events_missing", int64(missing))
	w.s.Count("events_unmatched", int64(unmatched))
}

// revKey identifies one write.
type revKey struct {
	key string
	rev int64
}

// matcher pairs puts with the events they cause. An event can arrive before its put's
// response: it then waits in early until the put is known.
type matcher struct {
	watchers int

	mu sync.Mutex
	// sent, early and missing are guarded by mu.
	sent  map[revKey]sentPut
	early map[revKey][]time.Time
	// missing counts events still expected for known puts.
	missing int
}

type sentPut struct {
	at   time.Time
	left int // watchers yet to see it
}

func newMatcher(watchers int) *matcher {
	return &matcher{watchers: watchers, sent: map[revKey]sentPut{}, early: map[revKey][]time.Time{}}
}

// put registers a put sent at t and returns the latencies of events that arrived before it.
func (m *matcher) put(k revKey, t time.Time) []time.Duration {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []time.Duration
	for _, recv := range m.early[k] {
		out = append(out, recv.Sub(t))
	}
	delete(m.early, k)
	if left := m.watchers - len(out); left > 0 {
		m.sent[k] = sentPut{at: t, left: left}
		m.missing += left
	}
	return out
}

// event registers an event received at recv and returns its latency if its put is known.
func (m *matcher) event(k revKey, recv time.Time) (time.Duration, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	sp, ok := m.sent[k]
	if !ok {
		m.early[k] = append(m.early[k], recv)
		return 0, false
	}
	m.missing--
	if sp.left--; sp.left == 0 {
		delete(m.sent, k)
	} else {
		m.sent[k] = sp
	}
	return recv.Sub(sp.at), true
}

// pending returns the events still expected and the events whose put is unknown.
func (m *matcher) pending() (missing, unmatched int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, e := range m.early {
		unmatched += len(e)
	}
	return m.missing, unmatched
}

// drain polls until no event is missing or ctx is done.
func (m *matcher) drain(ctx context.Context) {
	t := time.NewTicker(drainPoll)
	defer t.Stop()
	for {
		if missing, _ := m.pending(); missing == 0 {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// watchGetWorkload writes WatchRevs revisions in setup; each unit of work then opens a
// watcher at the first of them and times its catch-up to the last ("catchup"), counting
// the events replayed ("events").
type watchGetWorkload struct {
	p        Params
	from, to int64
}

func newWatchGet(p Params) Workload {
	p = p.withDefaults("kb-wget/")
	return &watchGetWorkload{p: p}
}

func (w *watchGetWorkload) Setup(ctx context.Context, s *Session) error {
	val := strings.Repeat("v", w.p.ValSize)
	cli := s.Client(0)
	first, err := putRetry(ctx, cli, key(w.p.Prefix, 0, w.p.KeySize), val)
	if err != nil {
		return err
	}
	if err := loadKeys(ctx, s, w.p.WatchRevs-1, func(i int) string {
		return key(w.p.Prefix, (i+1)%w.p.KeySpace, w.p.KeySize)
	}, val); err != nil {
		return err
	}
	last, err := cli.Get(ctx, w.p.Prefix, append([]clientv3.OpOption{clientv3.WithPrefix()}, clientv3.WithLastRev()...)...)
	if err != nil {
		return err
	}
	if len(last.Kvs) == 0 {
		return errors.New("no keys after loading")
	}
	w.from, w.to = first.Header.Revision, last.Kvs[0].ModRevision
	return nil
}

func (w *watchGetWorkload) Do(ctx context.Context, wk *Worker) {
	var events int64
	err := wk.Time(ctx, "catchup", func(ctx context.Context) error {
		wctx, cancel := context.WithCancel(ctx)
		defer cancel()
		ch := wk.Client.Watch(wctx, w.p.Prefix, clientv3.WithPrefix(), clientv3.WithRev(w.from))
		for resp := range ch {
			if err := resp.Err(); err != nil {
				return err
			}
			for _, ev := range resp.Events {
				events++
				if ev.Kv.ModRevision >= w.to {
					return nil
				}
			}
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		return errors.New("bench: watch closed before catching up")
	})
	if err == nil {
		wk.Count("events", events)
	}
}
