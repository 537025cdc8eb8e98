package workqueue

import (
	"container/heap"
	"context"
	"sync"
	"time"
)

// Clock is the time source of a Queue; tests inject a fake one.
type Clock interface {
	Now() time.Time
	// NewTimer returns a timer that fires once after d.
	NewTimer(d time.Duration) Timer
}

// Timer is a one-shot timer.
type Timer interface {
	C() <-chan time.Time
	Stop() bool
}

type realClock struct{}

func (realClock) Now() time.Time                 { return time.Now() }
func (realClock) NewTimer(d time.Duration) Timer { return realTimer{time.NewTimer(d)} }

type realTimer struct{ t *time.Timer }

func (t realTimer) C() <-chan time.Time { return t.t.C }
func (t realTimer) Stop() bool          { return t.t.Stop() }

// Config configures a Queue. The zero value means defaults.
type Config struct {
	// BaseDelay is the first retry delay of AddRateLimited; default 5 ms.
	BaseDelay time.Duration
	// MaxDelay caps the per-key exponential delay; default 1000 s.
	MaxDelay time.Duration
	// Clock defaults to the real clock.
	Clock Clock
}

// DefaultConfig returns client-go's default controller limiter: 5 ms doubling to 1000 s.
func DefaultConfig() Config {
	return Config{BaseDelay: 5 * time.Millisecond, MaxDelay: 1000 * time.Second, Clock: realClock{}}
}

// Queue is a de-duplicating work queue of keys with delayed and rate-limited adds. It is
// safe for concurrent use by any number of producers and workers.
//
// Invariants: a key is at most once in the ready queue; a key handed out by Get is
// "processing" until Done, and is not handed out again meanwhile; a key added while
// processing is re-queued by Done.
type Queue[K comparable] struct {
	clock          Clock
	base, maxDelay time.Duration
	mu             sync.Mutex // guards the fields below
	queue          []K        // ready keys, FIFO
	dirty          map[K]bool // keys that need processing (queued or to re-queue on Done)
	processing     map[K]bool
	waiting        delayHeap[K] // delayed keys by due time
	waitingIdx     map[K]*delayed[K]
	failures       map[K]int
	shuttingDown   bool
	wake           chan struct{} // closed and replaced when Get should look again
}

// New returns an empty queue.
func New[K comparable](cfg Config) *Queue[K] {
	d := DefaultConfig()
	if cfg.BaseDelay <= 0 {
		cfg.BaseDelay = d.BaseDelay
	}
	if cfg.MaxDelay <= 0 {
		cfg.MaxDelay = d.MaxDelay
	}
	if cfg.Clock == nil {
		cfg.Clock = d.Clock
	}
	return &Queue[K]{
		clock: cfg.Clock, base: cfg.BaseDelay, maxDelay: cfg.MaxDelay,
		dirty: map[K]bool{}, processing: map[K]bool{}, waitingIdx: map[K]*delayed[K]{},
		failures: map[K]int{}, wake: make(chan struct{}),
	}
}

// signalLocked wakes every blocked Get. Requires q.mu held.
func (q *Queue[K]) signalLocked() {
	close(q.wake)
	q.wake = make(chan struct{})
}

// Add queues key unless it is already queued; a key being processed is queued again when
// Done is called for it. Add after ShutDown does nothing.
func (q *Queue[K]) Add(key K) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.addLocked(key)
}

// addLocked requires q.mu held.
func (q *Queue[K]) addLocked(key K) {
	if q.shuttingDown || q.dirty[key] {
		return
	}
	q.dirty[key] = true
	if q.processing[key] {
		return
	}
	q.queue = append(q.queue, key)
	q.signalLocked()
}

// AddAfter adds key once d has passed; a key already waiting keeps the earlier due time.
func (q *Queue[K]) AddAfter(key K, d time.Duration) {
	if d <= 0 {
		q.Add(key)
		return
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.shuttingDown {
		return
	}
	due := q.clock.Now().Add(d)
	if w, ok := q.waitingIdx[key]; ok {
		if due.Before(w.due) {
			w.due = due
			heap.Fix(&q.waiting, w.index)
			q.signalLocked()
		}
		return
	}
	w := &delayed[K]{key: key, due: due}
	q.waitingIdx[key] = w
	heap.Push(&q.waiting, w)
	q.signalLocked()
}

// AddRateLimited adds key after its back-off delay, BaseDelay × 2^(failures), capped at
// MaxDelay, and counts one more failure for it.
func (q *Queue[K]) AddRateLimited(key K) {
	q.mu.Lock()
	n := q.failures[key]
	q.failures[key] = n + 1
	q.mu.Unlock()
	d := q.maxDelay
	if n < 62 {
		if x := q.base << n; x > 0 && x < q.maxDelay {
			d = x
		}
	}
	q.AddAfter(key, d)
}

// Forget clears key's failure count (call it after a successful sync).
func (q *Queue[K]) Forget(key K) {
	q.mu.Lock()
	defer q.mu.Unlock()
	delete(q.failures, key)
}

// NumRequeues returns key's failure count.
func (q *Queue[K]) NumRequeues(key K) int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.failures[key]
}

// promoteLocked moves due delayed keys to the queue and returns the next due time (zero
// when none waits). Requires q.mu held.
func (q *Queue[K]) promoteLocked() time.Time {
	now := q.clock.Now()
	for len(q.waiting) > 0 {
		w := q.waiting[0]
		if w.due.After(now) {
			return w.due
		}
		heap.Pop(&q.waiting)
		delete(q.waitingIdx, w.key)
		q.addLocked(w.key)
	}
	return time.Time{}
}

// Len returns the number of keys ready to be handed out.
func (q *Queue[K]) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.promoteLocked()
	return len(q.queue)
}

// Get blocks until a key is ready and returns it, marked processing; the caller must call
// Done(key) when finished. shutdown is true (and key the zero value) once the queue is shut
// down and drained of ready keys, or ctx has ended.
func (q *Queue[K]) Get(ctx context.Context) (key K, shutdown bool) {
	for {
		q.mu.Lock()
		next := q.promoteLocked()
		if len(q.queue) > 0 {
			key = q.queue[0]
			var zero K
			q.queue[0] = zero
			q.queue = q.queue[1:]
			delete(q.dirty, key)
			q.processing[key] = true
			q.mu.Unlock()
			return key, false
		}
		if q.shuttingDown {
			q.mu.Unlock()
			return key, true
		}
		wake := q.wake
		var timerC <-chan time.Time
		var timer Timer
		if !next.IsZero() {
			timer = q.clock.NewTimer(next.Sub(q.clock.Now()))
			timerC = timer.C()
		}
		q.mu.Unlock()
		select {
		case <-wake:
		case <-timerC:
		case <-ctx.Done():
			if timer != nil {
				timer.Stop()
			}
			return key, true
		}
		if timer != nil {
			timer.Stop()
		}
	}
}

// Work is a worker: it takes keys from q and calls process on each until q shuts down or
// ctx ends. A key whose process fails while ctx lives is re-added rate-limited (onError, if not
// nil, is told first); a key that succeeds is forgotten. Run several Works for parallel
// workers: the queue never hands one key to two of them at once.
func (q *Queue[K]) Work(ctx context.Context, process func(context.Context, K) error, onError func(K, error)) {
	for {
		key, shutdown := q.Get(ctx)
		if shutdown {
			return
		}
		if err := process(ctx, key); err != nil && ctx.Err() == nil {
			if onError != nil {
				onError(key, err)
			}
			q.AddRateLimited(key)
		} else {
			q.Forget(key)
		}
		q.Done(key)
	}
}

// Source is what a controller's work loop watches: an informer, as the workqueue sees it.
type Source interface {
	Run(ctx context.Context) error
	WaitForSync(ctx context.Context) error
}

// RunWorkers is a controller's Run: it runs every source, waits until all have synced, then
// runs workers Work loops on q with process and onError, until ctx ends; it then shuts q down
// and returns once every goroutine it started has stopped.
func RunWorkers[K comparable](ctx context.Context, q *Queue[K], workers int, process func(context.Context, K) error,
	onError func(K, error), sources ...Source) {
	var wg sync.WaitGroup
	for _, src := range sources {
		wg.Go(func() { _ = src.Run(ctx) })
	}
	synced := true
	for _, src := range sources {
		synced = synced && src.WaitForSync(ctx) == nil
	}
	if synced {
		for range workers {
			wg.Go(func() { q.Work(ctx, process, onError) })
		}
	}
	<-ctx.Done()
	q.ShutDown()
	wg.Wait()
}

// Done marks key as no longer processing, re-queueing it if it was added meanwhile.
func (q *Queue[K]) Done(key K) {
	q.mu.Lock()
	defer q.mu.Unlock()
	delete(q.processing, key)
	if q.dirty[key] {
		q.queue = append(q.queue, key)
		q.signalLocked()
	}
}

// ShutDown stops accepting keys; Get still hands out the keys already ready, then reports
// shutdown. Delayed keys are dropped.
func (q *Queue[K]) ShutDown() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.shuttingDown = true
	q.waiting = nil
	clear(q.waitingIdx)
	q.signalLocked()
}

type delayed[K comparable] struct {
	key   K
	due   time.Time
	index int
}

type delayHeap[K comparable] []*delayed[K]

func (h delayHeap[K]) Len() int           { return len(h) }
func (h delayHeap[K]) Less(i, j int) bool { return h[i].due.Before(h[j].due) }
func (h delayHeap[K]) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *delayHeap[K]) Push(x any) {
	d := x.(*delayed[K])
	d.index = len(*h)
	*h = append(*h, d)
}
func (h *delayHeap[K]) Pop() any {
	old := *h
	d := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return d
}
