package bench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// PutConfig describes a put workload.
type PutConfig struct {
	Endpoints []string
	Clients   int // concurrent requesters
	Conns     int // gRPC connections shared by the clients
	Total     int // puts in all
	KeySize   int
	ValSize   int
	KeySpace  int // distinct keys; 0 = Total
	Seed      uint64
}

// Result summarises a run.
type Result struct {
	Ops       int
	Errors    int
	Elapsed   time.Duration
	Latencies []time.Duration // sorted
}

// QPS is successful operations per second.
func (r Result) QPS() float64 { return float64(r.Ops) / r.Elapsed.Seconds() }

// Percentile returns the p-th (0..100) latency.
func (r Result) Percentile(p float64) time.Duration {
	if len(r.Latencies) == 0 {
		return 0
	}
	i := int(float64(len(r.Latencies)-1) * p / 100)
	return r.Latencies[i]
}

func (r Result) String() string {
	return fmt.Sprintf("ops=%d errors=%d elapsed=%v qps=%.0f p50=%v p90=%v p99=%v max=%v",
		r.Ops, r.Errors, r.Elapsed.Round(time.Millisecond), r.QPS(), r.Percentile(50), r.Percentile(90),
		r.Percentile(99), r.Percentile(100))
}

// RunPut runs the put workload.
func RunPut(ctx context.Context, cfg PutConfig) (Result, error) {
	cfg.Conns = max(cfg.Conns, 1)
	cfg.Clients = max(cfg.Clients, 1)
	if cfg.KeySpace == 0 {
		cfg.KeySpace = cfg.Total
	}
	conns := make([]*clientv3.Client, cfg.Conns)
	for i := range conns {
		c, err := clientv3.New(clientv3.Config{Endpoints: cfg.Endpoints, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
		if err != nil {
			return Result{}, err
		}
		defer c.Close()
		conns[i] = c
	}
	val := make([]byte, cfg.ValSize)
	var next, errs atomic.Int64
	lat := make([][]time.Duration, cfg.Clients)
	var wg sync.WaitGroup
	start := time.Now()
	for c := range cfg.Clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cli := conns[c%len(conns)]
			r := rand.New(rand.NewPCG(cfg.Seed, uint64(c)))
			key := make([]byte, cfg.KeySize)
			for next.Add(1) <= int64(cfg.Total) && ctx.Err() == nil {
				formatKey(key, r.IntN(cfg.KeySpace))
				t0 := time.Now()
				if _, err := cli.Put(ctx, string(key), string(val)); err != nil {
					errs.Add(1)
					continue
				}
				lat[c] = append(lat[c], time.Since(t0))
			}
		}()
	}
	wg.Wait()
	res := Result{Elapsed: time.Since(start), Errors: int(errs.Load())}
	for _, l := range lat {
		res.Latencies = append(res.Latencies, l...)
	}
	slices.Sort(res.Latencies)
	res.Ops = len(res.Latencies)
	return res, ctx.Err()
}

// formatKey writes n as a fixed-width key, zero-padded to len(key).
func formatKey(key []byte, n int) {
	for i := len(key) - 1; i >= 0; i-- {
		key[i] = byte('0' + n%10)
		n /= 10
	}
}
