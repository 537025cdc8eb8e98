package bench

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// leaseWorkload grants a lease, puts a key under it and keeps it alive Keepalives times
// ("grant", "put", "keepalive"). Then it revokes the lease ("revoke"), or with Expire leaves
// it to expire: a watcher then records "expiry_lag", the delete event's receive time minus
// the last keepalive's response time plus the TTL, and counts "expired".
type leaseWorkload struct {
	p   Params
	val string
	seq atomic.Int64

	mu sync.Mutex
	// deadlines is guarded by mu: key → when its lease should expire.
	deadlines map[string]time.Time
}

func newLease(p Params) Workload {
	p = p.withDefaults("kb-lease/")
	return &leaseWorkload{p: p, val: strings.Repeat("v", p.ValSize), deadlines: map[string]time.Time{}}
}

func (w *leaseWorkload) Setup(ctx context.Context, s *Session) error {
	if !w.p.Expire {
		return nil
	}
	ch := s.Client(0).Watch(ctx, w.p.Prefix, clientv3.WithPrefix(), clientv3.WithFilterPut(), clientv3.WithCreatedNotify())
	if err := waitCreated(ctx, ch); err != nil {
		return err
	}
	s.Go(func() { w.receive(s, ch) })
	return nil
}

func (w *leaseWorkload) receive(s *Session, ch clientv3.WatchChan) {
	var h Histogram
	var expired int64
	defer func() {
		s.Merge("expiry_lag", &h)
		s.Count("expired", expired)
	}()
	for resp := range ch {
		now := time.Now()
		if err := resp.Err(); err != nil {
			s.Observe("expiry_lag", 0, err)
			continue
		}
		for _, ev := range resp.Events {
			w.mu.Lock()
			deadline, ok := w.deadlines[string(ev.Kv.Key)]
			delete(w.deadlines, string(ev.Kv.Key))
			w.mu.Unlock()
			if ok {
				expired++
				h.Record(now.Sub(deadline))
			}
		}
	}
}

func (w *leaseWorkload) Do(ctx context.Context, wk *Worker) {
	k := key(w.p.Prefix, int(w.seq.Add(1)), w.p.KeySize)
	var id clientv3.LeaseID
	if wk.Time(ctx, "grant", func(ctx context.Context) error {
		resp, err := wk.Client.Grant(ctx, w.p.LeaseTTL)
		if err == nil {
			id = resp.ID
		}
		return err
	}) != nil {
		return
	}
	if wk.Time(ctx, "put", func(ctx context.Context) error {
		_, err := wk.Client.Put(ctx, k, w.val, clientv3.WithLease(id))
		return err
	}) != nil {
		return
	}
	renewed := time.Now()
	for range w.p.Keepalives {
		_ = wk.Time(ctx, "keepalive", func(ctx context.Context) error {
			_, err := wk.Client.KeepAliveOnce(ctx, id)
			return err
		})
		renewed = time.Now()
	}
	if w.p.Expire {
		w.mu.Lock()
		w.deadlines[k] = renewed.Add(time.Duration(w.p.LeaseTTL) * time.Second)
		w.mu.Unlock()
		return
	}
	_ = wk.Time(ctx, "revoke", func(ctx context.Context) error {
		_, err := wk.Client.Revoke(ctx, id)
		return err
	})
}

// Drain waits, in Expire mode, for the leases still alive to expire.
func (w *leaseWorkload) Drain(ctx context.Context) {
	if !w.p.Expire {
		return
	}
	t := time.NewTicker(drainPoll)
	defer t.Stop()
	for {
		w.mu.Lock()
		left := len(w.deadlines)
		w.mu.Unlock()
		if left == 0 {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
