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
	// Username and Password, when set, authenticate every connection (keelbench --user), as
	// etcdctl --user does: clientv3 gets a token and sends it with every request.
	Username, Password string
	Seed               uint64    // seeds each worker's random source (worker i gets Seed, i)
	Progress           io.Writer // progress bar destination; nil = none

	// PprofDir, when set, receives a CPU profile of every endpoint that serves
	// /debug/pprof (keeld or etcd with --enable-pprof), taken in the middle of the run and
	// written as PprofDir/<endpoint>.cpu.pprof (see Report.Profiles).
	PprofDir     string
	PprofSeconds int // length of each profile (default 10)
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
	if c.PprofSeconds <= 0 {
		c.PprofSeconds = 10
	}
	return c
}

// Validate reports every problem with the configuration of a workload that runs until
// Total or Duration.
func (c Config) Validate() error { return c.validate(true) }

// validate reports every problem with the configuration; bounded says whether the run
// needs Total or Duration (a Driver's run does not).
func (c Config) validate(bounded bool) error {
	var errs []error
	if len(c.Endpoints) == 0 {
		errs = append(errs, errors.New("bench: no endpoints"))
	}
	if bounded && c.Total <= 0 && c.Duration <= 0 {
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

// Driver is implemented by workloads that decide themselves when their run ends, such as a
// housekeeping task (a compaction) under a steady foreground load. The runner starts the
// workers, which call Do, then calls Drive, and stops the workers when Drive returns; Total
// and Duration do not apply. Until Drive starts a phase (Session.StartPhase), requests are
// not recorded, so Drive can let the load warm up first. CPU profiles (Config.PprofDir)
// start with the phase named "during". An error from Drive fails the run.
type Driver interface {
	Drive(ctx context.Context, s *Session) error
}

// drainTimeout bounds Drain.
const drainTimeout = 30 * time.Second

// Session is what a workload shares between its workers and background goroutines.
type Session struct {
	Config  Config
	Clients []*clientv3.Client // one per connection

	wg           sync.WaitGroup
	phase        atomic.Pointer[phaseState] // nil when the run has no phases
	allEndpoints []string                   // every member, even with TargetLeader: the ones profiled

	mu sync.Mutex
	// shared, start, phases, open, timings and onPhase are guarded by mu.
	shared  *recorder
	start   time.Time // when the measured run began
	phases  []Phase
	open    bool // the last of phases is still running
	timings []Timing
	onPhase func(name string) // called by StartPhase, outside mu
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
	s      *Session
}

// Time runs f as one request named op and records its latency, or its error, under the
// phase in which it started (see Session.StartPhase). Errors that occur because ctx ended
// (the run is over) are not counted.
func (w *Worker) Time(ctx context.Context, op string, f func(context.Context) error) error {
	st := w.s.phase.Load()
	t0 := time.Now()
	err := f(ctx)
	d := time.Since(t0)
	if err != nil && ctx.Err() != nil {
		return err
	}
	if st != nil {
		st.done.Add(1)
	}
	if op, ok := st.phased(op); ok {
		observe(w.rec, op, d, err)
	}
	return err
}

// Observe records a latency measured by other means than Time, under the current phase.
func (w *Worker) Observe(op string, d time.Duration) {
	if op, ok := w.s.phase.Load().phased(op); ok {
		w.rec.hist(op).Record(d)
	}
}

// Count adds n to a named counter, such as compare conflicts.
func (w *Worker) Count(name string, n int64) { w.rec.counters[name] += n }

// Run drives wl under cfg and reports what it measured. It returns an error if the
// configuration is invalid, the endpoints cannot be reached or Setup fails; failed requests
// are counted in the report instead.
func Run(ctx context.Context, cfg Config, workload string, wl Workload) (*Report, error) {
	cfg = cfg.withDefaults()
	_, driven := wl.(Driver)
	if driven {
		cfg.Total, cfg.Duration = 0, 0
	}
	if err := cfg.validate(!driven); err != nil {
		return nil, err
	}
	s := &Session{shared: newRecorder(), allEndpoints: cfg.Endpoints}
	if cfg.TargetLeader {
		ep, err := LeaderEndpoint(ctx, cfg.Endpoints, cfg.DialTimeout)
		if err != nil {
			return nil, err
		}
		cfg.Endpoints = []string{ep}
	}
	s.Config = cfg
	defer func() {
		for _, c := range s.Clients {
			_ = c.Close()
		}
	}()
	for range cfg.Conns {
		c, err := dialAs(cfg.Endpoints, cfg.DialTimeout, cfg.Username, cfg.Password)
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
	elapsed, done, recs, profiles, err := measure(ctx, s, wl)
	if err != nil && ctx.Err() == nil {
		return nil, fmt.Errorf("bench: %s: %w", workload, err)
	}
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
	s.mu.Lock()
	defer s.mu.Unlock()
	all.merge(s.shared)
	rep := newReport(workload, cfg, elapsed, done, all, s.phases)
	rep.Timings, rep.Profiles = s.timings, profiles
	return rep, ctx.Err()
}

// measure runs the workers (and a Driver's Drive) and returns the measured time, the units
// done, one recorder per worker, the CPU profiles fetched and Drive's error.
func measure(ctx context.Context, s *Session, wl Workload) (time.Duration, int64, []*recorder, []ProfileResult, error) {
	cfg := s.Config
	driver, driven := wl.(Driver)
	runCtx, cancel := context.WithCancel(ctx) // Drive's end cancels it
	defer cancel()
	if cfg.Duration > 0 {
		var stop context.CancelFunc
		runCtx, stop = context.WithTimeout(runCtx, cfg.Duration)
		defer stop()
	}
	start := time.Now()
	prof := startProfiles(ctx, cfg, s.allEndpoints, start)
	s.begin(start, driven, prof.fire)
	if cfg.Duration > 0 {
		t := time.AfterFunc(max(cfg.Duration-time.Duration(cfg.PprofSeconds)*time.Second, 0)/2, prof.fire)
		defer t.Stop()
	}
	var lim *rate.Limiter
	if cfg.Rate > 0 {
		lim = rate.NewLimiter(rate.Limit(cfg.Rate), 1)
	}
	var issued, done atomic.Int64
	recs := make([]*recorder, cfg.Clients)
	var wg sync.WaitGroup
	stopProgress := startProgress(cfg, start, &done, s.phaseName)
	for i := range cfg.Clients {
		recs[i] = newRecorder()
		w := &Worker{ID: i, Client: s.Client(i), Rand: rand.New(rand.NewPCG(cfg.Seed, uint64(i))), rec: recs[i], s: s}
		wg.Go(func() {
			for runCtx.Err() == nil {
				if cfg.Total > 0 && issued.Add(1) > int64(cfg.Total) {
					return
				}
				if lim != nil && lim.Wait(runCtx) != nil {
					return
				}
				wl.Do(runCtx, w)
				if n := done.Add(1); n == max(int64(cfg.Total)/2, 1) && cfg.Total > 0 {
					prof.fire()
				}
			}
		})
	}
	var driveErr error
	if driven {
		driveErr = driver.Drive(runCtx, s)
		cancel()
	}
	wg.Wait()
	elapsed := time.Since(start)
	s.end(elapsed)
	stopProgress(ctx.Err() == nil)
	prof.runEnded()
	return elapsed, done.Load(), recs, prof.wait(), driveErr
}

func dial(endpoints []string, timeout time.Duration) (*clientv3.Client, error) {
	return dialAs(endpoints, timeout, "", "")
}

// dialAs connects as user (none when user is "").
func dialAs(endpoints []string, timeout time.Duration, user, password string) (*clientv3.Client, error) {
	c, err := clientv3.New(clientv3.Config{Endpoints: endpoints, DialTimeout: timeout, Logger: zap.NewNop(),
		Username: user, Password: password})
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
