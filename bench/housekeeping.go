package bench

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// The housekeeping workloads (compaction, lease-expiry) measure what a store's own
// housekeeping does to a steady foreground load. They are Drivers: the foreground runs from
// the start, is left to warm up, measured in phase "before" for Window, and measured again
// in phase "during" while the housekeeping runs, for at least Window. Each phase also lasts
// until minPhaseSamples of its requests have completed, so that a stalled store still
// yields percentiles. The housekeeping's own duration is a Timing.

const (
	// minPhaseSamples is how many completed requests a phase waits for beyond its window.
	minPhaseSamples = 100
	// phaseSampleWait bounds that wait.
	phaseSampleWait = time.Minute
	// phasePoll is how often a phase checks whether it may end.
	phasePoll = 10 * time.Millisecond
	// setupConcurrency is how many setup requests (loads, grants) are in flight at once.
	setupConcurrency = 32
	// grantConcurrency is how many lease grants are in flight at once: as many as it takes
	// for the leases to be granted well within their TTL, so that they expire together.
	grantConcurrency = 128
	// setupTxnOps is how many puts a setup txn carries.
	setupTxnOps = 100
	// expiryPoll is how often lease-expiry counts the leased keys left: the resolution of
	// its "expiry" timing.
	expiryPoll = 50 * time.Millisecond
	// expiryTimeout is how long past the last lease's TTL lease-expiry waits for its keys to go.
	expiryTimeout = 10 * time.Minute
)

// housekeepingDefaults fills in the window and the prefix of a housekeeping workload.
func housekeepingDefaults(p Params, prefix string) Params {
	if p.Window <= 0 {
		p.Window = 5 * time.Second
	}
	return p.withDefaults(prefix)
}

// foreground is the steady load under housekeeping, on its own KeySpace keys: even workers
// put, odd workers get (serializable), each a random key per request. Run it with an even
// number of clients (8 in the benchmark) for as many putters as getters.
type foreground struct {
	prefix        string
	keys, keySize int
	val           string
}

func newForeground(p Params) foreground {
	return foreground{prefix: p.Prefix + "fg/", keys: p.KeySpace, keySize: p.KeySize, val: strings.Repeat("v", p.ValSize)}
}

func (f *foreground) key(n int) string { return key(f.prefix, n, f.keySize) }

// setup writes every key of the foreground's key space.
func (f *foreground) setup(ctx context.Context, s *Session) error {
	return loadTxns(ctx, s, f.keys, min(setupTxnOps, f.keys), func(i int) clientv3.Op {
		return clientv3.OpPut(f.key(i), f.val)
	})
}

func (f *foreground) do(ctx context.Context, wk *Worker) {
	k := f.key(wk.Rand.IntN(f.keys))
	if wk.ID%2 == 0 {
		_ = wk.Time(ctx, "put", func(ctx context.Context) error {
			_, err := wk.Client.Put(ctx, k, f.val)
			return err
		})
		return
	}
	_ = wk.Time(ctx, "get", func(ctx context.Context) error {
		_, err := wk.Client.Get(ctx, k, clientv3.WithSerializable())
		return err
	})
}

// loadTxns puts op(0) … op(n-1) in txns of batch consecutive puts, setupConcurrency txns at
// a time. The puts of one txn must be of distinct keys.
func loadTxns(ctx context.Context, s *Session, n, batch int, op func(i int) clientv3.Op) error {
	txns := (n + batch - 1) / batch
	return parallel(txns, setupConcurrency, func(g, t int) error {
		ops := make([]clientv3.Op, 0, batch)
		for i := t * batch; i < min((t+1)*batch, n); i++ {
			ops = append(ops, op(i))
		}
		cli := s.Client(g)
		err := retry(ctx, func() error {
			_, err := cli.Txn(ctx).Then(ops...).Commit()
			return err
		})
		if err != nil {
			return fmt.Errorf("load txn %d of %d: %w", t+1, txns, err)
		}
		return nil
	})
}

// hold keeps the current phase, begun at start, until it has lasted window and
// minPhaseSamples of its requests have completed (waiting for those at most phaseSampleWait
// past the window), or ctx ends.
func hold(ctx context.Context, s *Session, start time.Time, window time.Duration) error {
	if err := sleepUntil(ctx, start.Add(window)); err != nil {
		return err
	}
	giveUp := time.Now().Add(phaseSampleWait)
	t := time.NewTicker(phasePoll)
	defer t.Stop()
	for s.PhaseSamples() < minPhaseSamples && time.Now().Before(giveUp) {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
	return nil
}

// sleepUntil returns at t, or with ctx's error when ctx ends first.
func sleepUntil(ctx context.Context, t time.Time) error {
	timer := time.NewTimer(time.Until(t))
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
		return nil
	}
}

// warmUpAndMeasureBefore lets the foreground warm up for a fifth of window (requests are
// not recorded yet), then measures it in phase "before" for window.
func warmUpAndMeasureBefore(ctx context.Context, s *Session, window time.Duration) error {
	if err := hold(ctx, s, time.Now(), window/5); err != nil {
		return err
	}
	s.StartPhase("before")
	return hold(ctx, s, time.Now(), window)
}

// compactionWorkload writes a history of Keys keys Versions times each in setup (in txns of
// 100 puts), then measures the foreground "before" and "during" one compaction of the whole
// history, physical as `etcdctl compaction --physical` (the call returns once the serving
// member has removed the old revisions). Timing "compaction" is how long the call took;
// phase "during" is that call, extended to Window.
type compactionWorkload struct {
	p    Params
	fg   foreground
	hist string // prefix of the history's keys
}

func newCompaction(p Params) Workload {
	if p.Keys <= 0 {
		p.Keys = 50000
	}
	if p.Versions <= 0 {
		p.Versions = 10
	}
	p = housekeepingDefaults(p, "kb-compact/")
	return &compactionWorkload{p: p, fg: newForeground(p), hist: p.Prefix + "hist/"}
}

func (w *compactionWorkload) Setup(ctx context.Context, s *Session) error {
	if err := w.fg.setup(ctx, s); err != nil {
		return err
	}
	// Version-major order: every key once, then every key again, and so on; a txn's puts
	// are of consecutive keys, distinct as long as the batch is at most Keys.
	val := strings.Repeat("v", w.p.ValSize)
	return loadTxns(ctx, s, w.p.Keys*w.p.Versions, min(setupTxnOps, w.p.Keys), func(i int) clientv3.Op {
		return clientv3.OpPut(key(w.hist, i%w.p.Keys, w.p.KeySize), val)
	})
}

func (w *compactionWorkload) Do(ctx context.Context, wk *Worker) { w.fg.do(ctx, wk) }

func (w *compactionWorkload) Drive(ctx context.Context, s *Session) error {
	if err := warmUpAndMeasureBefore(ctx, s, w.p.Window); err != nil {
		return err
	}
	cli := s.Client(0)
	resp, err := cli.Get(ctx, w.fg.key(0))
	if err != nil {
		return fmt.Errorf("current revision: %w", err)
	}
	rev := resp.Header.Revision
	s.StartPhase("during")
	start := time.Now()
	if _, err := cli.Compact(ctx, rev, clientv3.WithCompactPhysical()); err != nil {
		return fmt.Errorf("compact to revision %d: %w", rev, err)
	}
	s.Timing("compaction", time.Since(start))
	return hold(ctx, s, start, w.p.Window)
}

// leaseExpiryWorkload measures the foreground "before", then grants Leases leases of
// LeaseTTL seconds (default 15), attaches one key to each and never keeps them alive, and
// measures the foreground "during" their expiry: from the earliest moment a lease can expire
// (the first grant's send time plus the TTL) until a count-only range of the leased prefix
// finds no key, for at least Window. The grants run between the phases, unrecorded,
// grantConcurrency at a time (see grant). Timings: "grant", from the first grant sent to the last one answered;
// "expiry", from the last grant answered until every leased key is gone (to within
// expiryPoll), which is the TTL plus how late the store is.
type leaseExpiryWorkload struct {
	p      Params
	fg     foreground
	leased string // prefix of the leased keys
	val    string
}

func newLeaseExpiry(p Params) Workload {
	if p.Leases <= 0 {
		p.Leases = 20000
	}
	if p.LeaseTTL <= 0 {
		p.LeaseTTL = 15
	}
	p = housekeepingDefaults(p, "kb-lexp/")
	return &leaseExpiryWorkload{p: p, fg: newForeground(p), leased: p.Prefix + "leased/", val: strings.Repeat("v", p.ValSize)}
}

func (w *leaseExpiryWorkload) Setup(ctx context.Context, s *Session) error {
	// Keys left by an interrupted run would never expire in time if their leases are gone.
	if err := retry(ctx, func() error {
		_, err := s.Client(0).Delete(ctx, w.leased, clientv3.WithPrefix())
		return err
	}); err != nil {
		return fmt.Errorf("delete old leased keys: %w", err)
	}
	return w.fg.setup(ctx, s)
}

func (w *leaseExpiryWorkload) Do(ctx context.Context, wk *Worker) { w.fg.do(ctx, wk) }

func (w *leaseExpiryWorkload) Drive(ctx context.Context, s *Session) error {
	if err := warmUpAndMeasureBefore(ctx, s, w.p.Window); err != nil {
		return err
	}
	s.StartPhase("")
	first, last, err := w.grant(ctx, s)
	if err != nil {
		return err
	}
	s.Timing("grant", last.Sub(first))
	ttl := time.Duration(w.p.LeaseTTL) * time.Second
	if err := sleepUntil(ctx, first.Add(ttl)); err != nil {
		return err
	}
	s.StartPhase("during")
	start := time.Now()
	gone, err := w.waitGone(ctx, s.Client(0), last.Add(ttl+expiryTimeout))
	if err != nil {
		return err
	}
	s.Timing("expiry", gone.Sub(last))
	return hold(ctx, s, start, w.p.Window)
}

// grant grants the leases and attaches their keys, in chunks of setupTxnOps leases: each
// chunk's leases one by one, their keys in a txn once setupTxnOps are waiting or the oldest
// has waited a quarter of the TTL. It returns when the first grant was sent and when the last
// grant was answered.
func (w *leaseExpiryWorkload) grant(ctx context.Context, s *Session) (first, last time.Time, err error) {
	var mu sync.Mutex // guards last
	first = time.Now()
	flushAfter := time.Duration(w.p.LeaseTTL) * time.Second / 4
	chunks := (w.p.Leases + setupTxnOps - 1) / setupTxnOps
	err = parallel(chunks, grantConcurrency, func(g, c int) error {
		cli := s.Client(g)
		var ops []clientv3.Op
		var oldest time.Time
		attach := func() error {
			err := retry(ctx, func() error {
				_, err := cli.Txn(ctx).Then(ops...).Commit()
				return err
			})
			ops = ops[:0]
			return err
		}
		end := min((c+1)*setupTxnOps, w.p.Leases)
		for i := c * setupTxnOps; i < end; i++ {
			var id clientv3.LeaseID
			if err := retry(ctx, func() error {
				resp, err := cli.Grant(ctx, w.p.LeaseTTL)
				if err == nil {
					id = resp.ID
				}
				return err
			}); err != nil {
				return fmt.Errorf("grant lease %d: %w", i, err)
			}
			now := time.Now()
			mu.Lock()
			if now.After(last) {
				last = now
			}
			mu.Unlock()
			if len(ops) == 0 {
				oldest = now
			}
			ops = append(ops, clientv3.OpPut(key(w.leased, i, w.p.KeySize), w.val, clientv3.WithLease(id)))
			if i == end-1 || time.Since(oldest) >= flushAfter {
				if err := attach(); err != nil {
					return fmt.Errorf("attach keys to leases up to %d: %w", i, err)
				}
			}
		}
		return nil
	})
	return first, last, err
}

// waitGone counts the leased keys every expiryPoll until there are none and returns when
// that answer came, or fails after deadline.
func (w *leaseExpiryWorkload) waitGone(ctx context.Context, cli *clientv3.Client, deadline time.Time) (time.Time, error) {
	t := time.NewTicker(expiryPoll)
	defer t.Stop()
	left, lastErr := int64(-1), error(nil)
	for {
		resp, err := cli.Get(ctx, w.leased, clientv3.WithPrefix(), clientv3.WithCountOnly())
		now := time.Now()
		switch {
		case err == nil && resp.Count == 0:
			return now, nil
		case err == nil:
			left = resp.Count
		default:
			lastErr = err
		}
		if now.After(deadline) {
			return now, fmt.Errorf("%d leased keys left %v after the last lease's TTL (last error: %v)",
				left, expiryTimeout, lastErr)
		}
		select {
		case <-ctx.Done():
			return now, ctx.Err()
		case <-t.C:
		}
	}
}
