package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"golang.org/x/time/rate"
)

// Config says how a workload is driven. Zero values mean defaults.
type Config struct {
	Name         string        // label of the endpoint set in reports (default "A")
	Endpoints    []string      // etcd v3 client endpoints (host:port or URL)
	Clients      int           // concurrent workers (default 1)
	Conns        int           // gRPC connections the workers share round-robin (default 1)
	Total        int           // units of work in all; 0 = until Duration
	Duration     time.Duration // stop after this long; 0 = until Total
	Rate         float64       // units per second over all workers; 0 = unlimited
	TargetLeader bool          // send only to the leader, found through Maintenance.Status
	DialTimeout  time.Duration // default 5s
	Seed         uint64        // seeds each worker's random source (worker i gets Seed, i)
	Progress     io.Writer     // progress bar destination; nil = none
}

func (c Config) withDefaults() Config {
	c.Clients = max(c.Clients, 1)
	c.Conns = max(c.Conns, 1)
	if c.DialTimeout <= 0 {
		c.DialTimeout = 5 * time.Second
	}
	if c.Name == "" {
		c.Name = "A"
	}
	return c
}

// Validate reports every problem with the configuration.
func (c Config) Validate() error {
	var errs []error
	if len(c.Endpoints) == 0 {
		errs = append(errs, errors.New("bench: no endpoints"))
	}
	if c.Total <= 0 && c.Duration <= 0 {
		errs = append(errs, errors.New("bench: one of total and duration must be positive"))
	}
	if c.Total < 0 || c.Duration < 0 || c.Rate < 0 || c.Clients < 0 || c.Conns < 0 {
		errs = append(errs, errors.New("bench: negative total, duration, rate, clients or conns"))
	}
	return errors.Join(errs...)
}

// Workload is one kind of load. The runner calls Setup once, then Do from every worker
// until the run ends. Implementations keep their per-run state in the value, so build a
// new one (see New) for every run.
type Workload interface {
	// Setup prepares the run (loads keys, opens watchers) and is not measured. Its ctx stays
	// live until the measured phase and any Drain are over; goroutines it starts with s.Go
	// must return once ctx is done.
	Setup(ctx context.Context, s *Session) error
	// Do performs one unit of work on w, timing requests with w.Time. ctx ends with the run.
	Do(ctx context.Context, w *Worker)
}

// Drainer is implemented by workloads whose measurements finish after the last Do, such as
// watch events still in flight. Drain returns when they are in or ctx is done.
type Drainer interface {
	Drain(ctx context.Context)
}

// drainTimeout bounds Drain.
const drainTimeout = 30 * time.Second

// Session is what a workload shares between its workers and background goroutines.
type Session struct {
	Config  Config
	Clients []*clientv3.Client // one per connection

	wg sync.WaitGroup
	mu sync.Mutex
	// shared is guarded by mu.
	shared *recorder
}

// Client returns the connection worker i uses.
func (s *Session) Client(i int) *clientv3.Client { return s.Clients[i%len(s.Clients)] }

// Go runs f in a goroutine the runner waits for before reporting.
func (s *Session) Go(f func()) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		f()
	}()
}

// Observe records a latency (err == nil) or an error for op; safe for concurrent use.
func (s *Session) Observe(op string, d time.Duration, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	observe(s.shared, op, d, err)
}

// Merge adds a histogram of op latencies gathered elsewhere; safe for concurrent use.
func (s *Session) Merge(op string, h *Histogram) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.shared.hist(op).Merge(h)
}

// Count adds n to a named counter; safe for concurrent use.
func (s *Session) Count(name string, n int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.shared.counters[name] += n
}

func observe(r *recorder, op string, d time.Duration, err error) {
	if err != nil {
		r.errs[errKey{op, ClassifyError(err)}]++
		return
	}
	r.hist(op).Record(d)
}

// Worker is one concurrent requester. Only its own goroutine may use it.
type Worker struct {
	ID     int
	Client *clientv3.Client
	Rand   *rand.Rand
	rec    *recorder
}

// Time runs f as one request named op and records its latency, or its error. Errors that
// occur because ctx ended (the run is over) are not counted.
func (w *Worker) Time(ctx context.Context, op string, f func(context.Context) error) error {
	t0 := time.Now()
	err := f(ctx)
	d := time.Since(t0)
	if err != nil && ctx.Err() != nil {
		return err
	}
	observe(w.rec, op, d, err)
	return err
}

// Observe records a latency measured by other means than Time.
func (w *Worker) Observe(op string, d time.Duration) { w.rec.hist(op).Record(d) }

// Count adds n to a named counter, such as compare conflicts.
func (w *Worker) Count(name string, n int64) { w.rec.counters[name] += n }

// Run drives wl under cfg and reports what it measured. It returns an error if the
// configuration is invalid, the endpoints cannot be reached or Setup fails; failed requests
// are counted in the report instead.
func Run(ctx context.Context, cfg Config, workload string, wl Workload) (*Report, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.TargetLeader {
		ep, err := LeaderEndpoint(ctx, cfg.Endpoints, cfg.DialTimeout)
		if err != nil {
			return nil, err
		}
		cfg.Endpoints = []string{ep}
	}
	s := &Session{Config: cfg, shared: newRecorder()}
	defer func() {
		for _, c := range s.Clients {
			_ = c.Close()
		}
	}()
	for range cfg.Conns {
		c, err := dial(cfg.Endpoints, cfg.DialTimeout)
		if err != nil {
			return nil, err
		}
		s.Clients = append(s.Clients, c)
	}
	bgCtx, stopBg := context.WithCancel(ctx)
	defer func() { stopBg(); s.wg.Wait() }()
	if err := wl.Setup(bgCtx, s); err != nil {
		return nil, fmt.Errorf("bench: %s setup: %w", workload, err)
	}
	elapsed, done, recs := measure(ctx, s, wl)
	if d, ok := wl.(Drainer); ok {
		dctx, cancel := context.WithTimeout(ctx, drainTimeout)
		d.Drain(dctx)
		cancel()
	}
	stopBg()
	s.wg.Wait()
	all := newRecorder()
	for _, r := range recs {
		all.merge(r)
	}
	all.merge(s.shared)
	return newReport(workload, cfg, elapsed, done, all), ctx.Err()
}

// measure runs the workers and returns the measured time, the units done and one recorder
// per worker.
func measure(ctx context.Context, s *Session, wl Workload) (time.Duration, int64, []*recorder) {
	cfg := s.Config
	start := time.Now()
	runCtx, cancel := ctx, context.CancelFunc(func() {})
	if cfg.Duration > 0 {
		runCtx, cancel = context.WithTimeout(ctx, cfg.Duration)
	}
	defer cancel()
	var lim *rate.Limiter
	if cfg.Rate > 0 {
		lim = rate.NewLimiter(rate.Limit(cfg.Rate), 1)
	}
	var issued, done atomic.Int64
	recs := make([]*recorder, cfg.Clients)
	var wg sync.WaitGroup
	stopProgress := startProgress(cfg, start, &done)
	for i := range cfg.Clients {
		recs[i] = newRecorder()
		w := &Worker{ID: i, Client: s.Client(i), Rand: rand.New(rand.NewPCG(cfg.Seed, uint64(i))), rec: recs[i]}
		wg.Go(func() {
			for runCtx.Err() == nil {
				if cfg.Total > 0 && issued.Add(1) > int64(cfg.Total) {
					return
				}
				if lim != nil && lim.Wait(runCtx) != nil {
					return
				}
				wl.Do(runCtx, w)
				done.Add(1)
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	stopProgress(ctx.Err() == nil)
	return elapsed, done.Load(), recs
}

func dial(endpoints []string, timeout time.Duration) (*clientv3.Client, error) {
	c, err := clientv3.New(clientv3.Config{Endpoints: endpoints, DialTimeout: timeout, Logger: zap.NewNop()})
	if err != nil {
		return nil, fmt.Errorf("bench: dial %v: %w", endpoints, err)
	}
	return c, nil
}

// LeaderEndpoint asks every endpoint for its Maintenance.Status and returns the one whose
// member is the leader, retrying until timeout while there is none.
func LeaderEndpoint(ctx context.Context, endpoints []string, timeout time.Duration) (string, error) {
	c, err := dial(endpoints, timeout)
	if err != nil {
		return "", err
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		for _, ep := range endpoints {
			st, err := c.Status(ctx, ep)
			if err != nil {
				last = err
				continue
			}
			if st.Leader != 0 && st.Leader == st.Header.GetMemberId() {
				return ep, nil
			}
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("bench: no leader among %v (last error: %v): %w", endpoints, last, ctx.Err())
		case <-tick.C:
		}
	}
}
