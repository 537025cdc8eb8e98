package workqueue_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/keeldb/keel/orchestrator/workqueue"
)

// fakeClock is a manual clock: time moves only in Step, which fires due timers.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*fakeTimer
}

type fakeTimer struct {
	c       chan time.Time
	due     time.Time
	stopped bool
	fired   bool
}

func (t *fakeTimer) C() <-chan time.Time { return t.c }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) NewTimer(d time.Duration) workqueue.Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &fakeTimer{c: make(chan time.Time, 1), due: c.now.Add(d)}
	c.timers = append(c.timers, t)
	return &stopper{c: c, t: t}
}

type stopper struct {
	c *fakeClock
	t *fakeTimer
}

func (s *stopper) C() <-chan time.Time { return s.t.c }
func (s *stopper) Stop() bool {
	s.c.mu.Lock()
	defer s.c.mu.Unlock()
	was := !s.t.stopped && !s.t.fired
	s.t.stopped = true
	return was
}

// Step advances the clock and fires every due timer.
func (c *fakeClock) Step(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	for _, t := range c.timers {
		if !t.stopped && !t.fired && !t.due.After(c.now) {
			t.fired = true
			t.c <- c.now
		}
	}
}

// activeTimers counts armed timers.
func (c *fakeClock) activeTimers() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, t := range c.timers {
		if !t.stopped && !t.fired {
			n++
		}
	}
	return n
}

func newQueue() (*workqueue.Queue[string], *fakeClock) {
	clk := &fakeClock{now: time.Unix(1000, 0)}
	q := workqueue.New[string](workqueue.Config{BaseDelay: 5 * time.Millisecond, MaxDelay: 100 * time.Millisecond, Clock: clk})
	return q, clk
}

// get takes a ready key without blocking.
func get(t *testing.T, q *workqueue.Queue[string]) string {
	t.Helper()
	if q.Len() == 0 {
		t.Fatal("no key ready")
	}
	k, shutdown := q.Get(context.Background())
	if shutdown {
		t.Fatal("queue shut down")
	}
	return k
}

func TestDedupAndOrder(t *testing.T) {
	q, _ := newQueue()
	for _, k := range []string{"a", "b", "a", "c", "b"} {
		q.Add(k)
	}
	if q.Len() != 3 {
		t.Fatalf("Len = %d, want 3", q.Len())
	}
	for _, want := range []string{"a", "b", "c"} {
		if got := get(t, q); got != want {
			t.Fatalf("Get = %q, want %q", got, want)
		}
	}
}

func TestNoConcurrentProcessingOfAKey(t *testing.T) {
	q, _ := newQueue()
	q.Add("a")
	k := get(t, q)
	q.Add("a") // while processing: must not be handed out
	q.Add("a")
	if q.Len() != 0 {
		t.Fatalf("Len = %d while a is processing, want 0", q.Len())
	}
	q.Done(k)
	if q.Len() != 1 {
		t.Fatalf("Len = %d after Done, want 1 (re-queued once)", q.Len())
	}
	k = get(t, q)
	q.Done(k)
	if q.Len() != 0 {
		t.Fatalf("Len = %d, want 0", q.Len())
	}
}

func TestRateLimitedBackoff(t *testing.T) {
	q, clk := newQueue()
	// failures 0..5 give 5, 10, 20, 40, 80, then capped at 100 ms.
	want := []time.Duration{5, 10, 20, 40, 80, 100, 100}
	for i, d := range want {
		d *= time.Millisecond
		q.AddRateLimited("k")
		if q.NumRequeues("k") != i+1 {
			t.Fatalf("NumRequeues = %d, want %d", q.NumRequeues("k"), i+1)
		}
		clk.Step(d - time.Millisecond)
		if q.Len() != 0 {
			t.Fatalf("retry %d: ready after %v, want after %v", i, d-time.Millisecond, d)
		}
		clk.Step(time.Millisecond)
		if q.Len() != 1 {
			t.Fatalf("retry %d: not ready after %v", i, d)
		}
		q.Done(get(t, q))
	}
	q.Forget("k")
	if q.NumRequeues("k") != 0 {
		t.Fatalf("NumRequeues after Forget = %d", q.NumRequeues("k"))
	}
	q.AddRateLimited("k")
	clk.Step(5 * time.Millisecond)
	if q.Len() != 1 {
		t.Fatal("after Forget the delay did not restart at the base delay")
	}
}

func TestAddAfterKeepsEarliestAndDedups(t *testing.T) {
	q, clk := newQueue()
	q.AddAfter("a", 50*time.Millisecond)
	q.AddAfter("a", 10*time.Millisecond)
	q.AddAfter("a", 30*time.Millisecond)
	clk.Step(10 * time.Millisecond)
	if q.Len() != 1 {
		t.Fatalf("Len = %d at the earliest due time, want 1", q.Len())
	}
	clk.Step(100 * time.Millisecond)
	if q.Len() != 1 {
		t.Fatalf("Len = %d later, want 1 (one key, no duplicates)", q.Len())
	}
	q.Add("a")
	if q.Len() != 1 {
		t.Fatalf("Len = %d after Add of a queued key, want 1", q.Len())
	}
}

func TestGetWaitsForDelayedKey(t *testing.T) {
	q, clk := newQueue()
	q.AddAfter("late", time.Second)
	got := make(chan string, 1)
	go func() {
		k, _ := q.Get(context.Background())
		got <- k
	}()
	// Wait (with a deadline) until Get is blocked on the timer for "late".
	deadline := time.Now().Add(10 * time.Second)
	for clk.activeTimers() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("Get never armed a timer")
		}
		time.Sleep(time.Millisecond)
	}
	select {
	case k := <-got:
		t.Fatalf("Get returned %q before the key was due", k)
	default:
	}
	clk.Step(time.Second)
	select {
	case k := <-got:
		if k != "late" {
			t.Fatalf("Get = %q, want late", k)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Get did not return after the key became due")
	}
}

func TestGetWakesOnAddAndShutDown(t *testing.T) {
	q, _ := newQueue()
	got := make(chan string, 1)
	go func() {
		k, _ := q.Get(context.Background())
		got <- k
	}()
	q.Add("x")
	select {
	case k := <-got:
		if k != "x" {
			t.Fatalf("Get = %q", k)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Get not woken by Add")
	}
	q.Add("y")
	q.AddAfter("z", time.Hour)
	q.ShutDown()
	q.Add("ignored")
	if k, shutdown := q.Get(context.Background()); shutdown || k != "y" {
		t.Fatalf("Get after ShutDown = %q, %v; want the ready key y", k, shutdown)
	}
	done := make(chan bool, 1)
	go func() {
		_, shutdown := q.Get(context.Background())
		done <- shutdown
	}()
	select {
	case shutdown := <-done:
		if !shutdown {
			t.Fatal("Get on a drained shut-down queue did not report shutdown")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Get blocked on a shut-down queue")
	}
}

func TestGetHonoursContext(t *testing.T) {
	q, _ := newQueue()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, shutdown := q.Get(ctx); !shutdown {
		t.Fatal("Get with a cancelled context did not return shutdown")
	}
}

func TestWorkRetriesFailedKeysAndForgetsDone(t *testing.T) {
	q := workqueue.New[string](workqueue.Config{BaseDelay: time.Millisecond, MaxDelay: 10 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var mu sync.Mutex
	calls, failures := map[string]int{}, map[string]int{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		q.Work(ctx, func(_ context.Context, k string) error {
			mu.Lock()
			defer mu.Unlock()
			calls[k]++
			if k == "flaky" && calls[k] < 3 {
				return errors.New("not yet")
			}
			return nil
		}, func(k string, _ error) {
			mu.Lock()
			failures[k]++
			mu.Unlock()
		})
	}()
	q.Add("ok")
	q.Add("flaky")
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		n := calls["flaky"]
		mu.Unlock()
		if n == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("flaky synced %d times, want 3", n)
		}
		time.Sleep(time.Millisecond)
	}
	q.ShutDown()
	<-done
	mu.Lock()
	defer mu.Unlock()
	if calls["ok"] != 1 || failures["ok"] != 0 || failures["flaky"] != 2 {
		t.Errorf("calls %v failures %v, want ok once and flaky failing twice", calls, failures)
	}
	if n := q.NumRequeues("flaky"); n != 0 {
		t.Errorf("NumRequeues(flaky) = %d after it succeeded, want 0 (forgotten)", n)
	}
}
