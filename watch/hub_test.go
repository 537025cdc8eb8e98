package watch

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"

	"github.com/keeldb/keel/mvcc"
)

// history reads a real mvcc store.
type history struct{ s *mvcc.Store }

func (h history) Events(from, to int64, maxRevs int) ([]*mvccpb.Event, error) {
	evs, err := h.s.Events(from, to, maxRevs)
	if errors.Is(err, mvcc.ErrCompacted) {
		return nil, fmt.Errorf("%w: %w", ErrCompacted, err)
	}
	return evs, err
}

func (h history) CompactRev() int64 { return h.s.CompactRev() }

type fixture struct {
	t     *testing.T
	store *mvcc.Store
	hub   *Hub
	index uint64
}

func newFixture(t *testing.T, cfg Config) *fixture {
	t.Helper()
	s, err := mvcc.Open(mvcc.Config{Path: filepath.Join(t.TempDir(), "kv.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	cfg.SyncInterval = 5 * time.Millisecond
	f := &fixture{t: t, store: s, hub: New(cfg, history{s}, s.Rev())}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); f.hub.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return f
}

// write applies one revision and notifies the hub, as the FSM does.
func (f *fixture) write(ops func(w *mvcc.WriteTxn)) {
	f.index++
	w := f.store.Write(f.index)
	ops(w)
	evs := w.End()
	ptrs := make([]*mvccpb.Event, len(evs))
	for i := range evs {
		ptrs[i] = &evs[i]
	}
	f.hub.Notify(f.store.Rev(), ptrs)
}

func (f *fixture) put(key, val string) {
	f.write(func(w *mvcc.WriteTxn) { w.Put([]byte(key), []byte(val), 0) })
}

// collect drains st until pred holds for what was received, or fails after a deadline.
func collect(t *testing.T, st *Stream, pred func([]Response) bool) []Response {
	t.Helper()
	var all []Response
	deadline := time.After(10 * time.Second)
	for !pred(all) {
		done := make(chan struct{})
		got := make(chan []Response, 1)
		go func() {
			r, _ := st.Next(done)
			got <- r
		}()
		select {
		case r := <-got:
			all = append(all, r...)
		case <-deadline:
			close(done)
			t.Fatalf("condition not met; received %d responses: %+v", len(all), all)
		}
	}
	return all
}

func eventsOf(rs []Response, id int64) []*mvccpb.Event {
	var out []*mvccpb.Event
	for _, r := range rs {
		if r.WatchID == id {
			out = append(out, r.Events...)
		}
	}
	return out
}

// checkSequence requires events to be exactly the puts with revisions from..to, in order.
func checkSequence(t *testing.T, evs []*mvccpb.Event, from, to int64) {
	t.Helper()
	if int64(len(evs)) != to-from+1 {
		t.Fatalf("got %d events, want %d (revisions %d..%d)", len(evs), to-from+1, from, to)
	}
	for i, e := range evs {
		if e.Kv.ModRevision != from+int64(i) {
			t.Fatalf("event %d has revision %d, want %d (gap or duplicate)", i, e.Kv.ModRevision, from+int64(i))
		}
	}
}

func TestCreatedPrecedesLiveEventsInOrder(t *testing.T) {
	f := newFixture(t, Config{})
	st := f.hub.NewStream()
	defer st.Close()
	id, err := st.Watch(Request{Key: []byte("a/"), End: []byte("a0")})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 50 {
		f.put(fmt.Sprintf("a/%d", i), "v")
		f.put("b", "ignored")
	}
	rs := collect(t, st, func(rs []Response) bool { return len(eventsOf(rs, id)) >= 50 })
	if !rs[0].Created || rs[0].WatchID != id || rs[0].Rev != 1 {
		t.Fatalf("first response %+v, want created at revision 1", rs[0])
	}
	evs := eventsOf(rs, id)
	for i, e := range evs {
		if want := fmt.Sprintf("a/%d", i); string(e.Kv.Key) != want {
			t.Fatalf("event %d key %s, want %s", i, e.Kv.Key, want)
		}
	}
}

func TestCatchUpFromHistoryJoinsLiveWithoutGaps(t *testing.T) {
	f := newFixture(t, Config{MaxRevsPerSync: 7})
	for i := range 100 {
		f.put("k", fmt.Sprint(i))
	}
	st := f.hub.NewStream()
	defer st.Close()
	id, err := st.Watch(Request{Key: []byte("k"), StartRev: 2, PrevKV: true})
	if err != nil {
		t.Fatal(err)
	}
	for i := 100; i < 200; i++ { // writes while catching up
		f.put("k", fmt.Sprint(i))
	}
	rs := collect(t, st, func(rs []Response) bool { return len(eventsOf(rs, id)) >= 200 })
	evs := eventsOf(rs, id)
	checkSequence(t, evs, 2, 201)
	for _, e := range evs[1:] {
		if e.PrevKv == nil || e.PrevKv.ModRevision != e.Kv.ModRevision-1 {
			t.Fatalf("event at %d lacks the previous version: %v", e.Kv.ModRevision, e.PrevKv)
		}
	}
}

func TestSlowStreamIsCaughtUpWithoutBlockingNotify(t *testing.T) {
	f := newFixture(t, Config{OutboxLimit: 3})
	st := f.hub.NewStream()
	defer st.Close()
	id, _ := st.Watch(Request{Key: []byte("k")})
	seed := rand.Uint64()
	t.Logf("seed %d", seed)
	r := rand.New(rand.NewPCG(seed, 0))
	for i := range 300 { // nobody drains: Notify must not block
		f.put("k", fmt.Sprint(r.IntN(1000), i))
	}
	rs := collect(t, st, func(rs []Response) bool { return len(eventsOf(rs, id)) >= 300 })
	checkSequence(t, eventsOf(rs, id), 2, 301)
}

func TestCompactedStartIsCanceledWithCompactRevision(t *testing.T) {
	f := newFixture(t, Config{})
	for i := range 10 {
		f.put("k", fmt.Sprint(i))
	}
	f.index++
	if err := f.store.Compact(f.index, 6); err != nil {
		t.Fatal(err)
	}
	st := f.hub.NewStream()
	defer st.Close()
	id, _ := st.Watch(Request{Key: []byte("k"), StartRev: 3})
	rs := collect(t, st, func(rs []Response) bool { return len(rs) >= 2 })
	if !rs[1].Canceled || rs[1].WatchID != id || rs[1].CompactRev != 6 {
		t.Fatalf("got %+v, want canceled with compact revision 6", rs[1])
	}
	// Watching from exactly the compaction revision is allowed.
	id2, _ := st.Watch(Request{Key: []byte("k"), StartRev: 6})
	rs = collect(t, st, func(rs []Response) bool { return len(eventsOf(rs, id2)) >= 6 })
	checkSequence(t, eventsOf(rs, id2), 6, 11)
}

func TestFiltersAndProgress(t *testing.T) {
	f := newFixture(t, Config{})
	st := f.hub.NewStream()
	defer st.Close()
	id, _ := st.Watch(Request{Key: []byte("k"), NoPut: true})
	f.put("k", "1")
	f.write(func(w *mvcc.WriteTxn) { w.DeleteRange([]byte("k"), nil) })
	st.RequestProgress()
	rs := collect(t, st, func(rs []Response) bool { return len(rs) >= 3 })
	evs := eventsOf(rs, id)
	if len(evs) != 1 || evs[0].Type != mvccpb.DELETE || evs[0].Kv.ModRevision != 3 {
		t.Fatalf("NOPUT watcher got %v", evs)
	}
	last := rs[len(rs)-1]
	if last.WatchID != -1 || last.Rev != 3 || len(last.Events) != 0 {
		t.Fatalf("progress response %+v, want watch -1 at revision 3 after the events", last)
	}
	// A watcher starting in the future blocks requested progress.
	if _, err := st.Watch(Request{Key: []byte("z"), StartRev: 100}); err != nil {
		t.Fatal(err)
	}
	st.RequestProgress()
	f.put("k", "2")
	rs = collect(t, st, func(rs []Response) bool { return len(eventsOf(rs, id)) >= 0 && len(rs) >= 1 })
	for _, r := range rs {
		if r.WatchID == -1 {
			t.Fatalf("progress sent while a watcher starts in the future: %+v", r)
		}
	}
}

func TestCancelAndBadRanges(t *testing.T) {
	f := newFixture(t, Config{})
	st := f.hub.NewStream()
	defer st.Close()
	if _, err := st.Watch(Request{Key: []byte("b"), End: []byte("a")}); !errors.Is(err, ErrEmptyRange) {
		t.Fatalf("range end before key: %v", err)
	}
	id, _ := st.Watch(Request{Key: []byte("k"), ID: 7})
	if _, err := st.Watch(Request{Key: []byte("k"), ID: 7}); !errors.Is(err, ErrIDInUse) {
		t.Fatalf("duplicate ID: %v", err)
	}
	if !st.Cancel(id) || st.Cancel(id) {
		t.Fatal("cancel should succeed once")
	}
	f.put("k", "1")
	rs := collect(t, st, func(rs []Response) bool { return len(rs) >= 2 })
	if !rs[1].Canceled || len(eventsOf(rs, id)) != 0 {
		t.Fatalf("after cancel: %+v", rs)
	}
}

// A restore (the store replaced by a snapshot) makes synced watchers catch up the revisions
// they missed, exactly once: a watcher that no event matched for a while must not replay
// revisions it was already past.
func TestRestoredCatchesUpOnlyMissedRevisions(t *testing.T) {
	f := newFixture(t, Config{})
	st := f.hub.NewStream()
	defer st.Close()
	a, err := st.Watch(Request{Key: []byte("a")})
	if err != nil {
		t.Fatal(err)
	}
	b, err := st.Watch(Request{Key: []byte("b")})
	if err != nil {
		t.Fatal(err)
	}
	pfx, err := st.Watch(Request{Key: []byte("a"), End: []byte("c")})
	if err != nil {
		t.Fatal(err)
	}
	f.put("b", "0") // revision 2: b and the range see it
	for i := range 20 {
		f.put("a", fmt.Sprint(i)) // revisions 3..22: b sees nothing
	}
	collect(t, st, func(rs []Response) bool { return len(eventsOf(rs, a)) == 20 && len(eventsOf(rs, pfx)) == 21 })
	// Revisions 23..25 reach the store without the hub hearing of them, then a restore.
	before := f.store.Rev()
	for i := range 3 {
		f.index++
		w := f.store.Write(f.index)
		w.Put([]byte("b"), []byte(fmt.Sprint("restored", i)), 0)
		w.End()
	}
	f.hub.Restored(f.store.Rev())
	rs := collect(t, st, func(rs []Response) bool { return len(eventsOf(rs, b)) == 3 && len(eventsOf(rs, pfx)) == 3 })
	checkSequence(t, eventsOf(rs, b), before+1, before+3)
	checkSequence(t, eventsOf(rs, pfx), before+1, before+3)
	if n := len(eventsOf(rs, a)); n != 0 {
		t.Fatalf("watcher on a got %d events after the restore, want none", n)
	}
}
