package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"math"
	"slices"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"golang.org/x/time/rate"
)

// perfLoad is one of etcdctl check perf's load profiles: a target put rate and how many
// clients share it.
type perfLoad struct {
	rate    int
	clients int
}

var perfLoads = map[string]perfLoad{
	"s":  {rate: 150, clients: 50},
	"m":  {rate: 1000, clients: 200},
	"l":  {rate: 8000, clients: 500},
	"xl": {rate: 15000, clients: 1000},
}

// Pass thresholds, etcdctl's: at least 90% of the target rate, and (p99 here, the slowest
// request there) under half a second.
const (
	perfMinRateFraction = 0.9
	perfMaxP99          = 500 * time.Millisecond
)

// perfResult is what check perf measured and its verdict.
type perfResult struct {
	Target     int      `json:"target_writes_per_second"`
	Writes     int      `json:"writes"`
	Errors     int      `json:"errors"`
	Throughput float64  `json:"writes_per_second"`
	P50        float64  `json:"p50_seconds"`
	P99        float64  `json:"p99_seconds"`
	Slowest    float64  `json:"slowest_seconds"`
	Stddev     float64  `json:"stddev_seconds"`
	Pass       bool     `json:"pass"`
	Failures   []string `json:"failures,omitempty"`
}

// checkPerfFlags: check perf writes 1 KiB values at a profile's rate for --duration with its
// number of clients, deletes what it wrote, and prints throughput and latency with a
// PASS/FAIL verdict; it fails (exit 1) on FAIL.
func checkPerfFlags(fs *flag.FlagSet) func(context.Context, *env) error {
	load := fs.String("load", "s", "load profile: s, m, l or xl")
	duration := fs.Duration("duration", 15*time.Second, "how long to write")
	prefix := fs.String("prefix", "/keelctl-check-perf/", "key prefix of the test keys (deleted afterwards)")
	rateFlag := fs.Int("rate", 0, "override the profile's target writes per second")
	return func(ctx context.Context, e *env) error {
		l, ok := perfLoads[*load]
		if !ok {
			return fmt.Errorf("unknown --load %q (want s, m, l or xl)", *load)
		}
		if *rateFlag > 0 {
			l.rate = *rateFlag
		}
		cli, err := e.g.client(nil)
		if err != nil {
			return err
		}
		defer cli.Close()
		cctx, cancel := e.timeout(ctx)
		resp, err := cli.Get(cctx, *prefix, clientv3.WithPrefix(), clientv3.WithCountOnly())
		cancel()
		if err != nil {
			return err
		}
		if resp.Count > 0 {
			return fmt.Errorf("prefix %q is not empty (%d keys): choose another --prefix", *prefix, resp.Count)
		}
		lat, errs := runPerfLoad(ctx, cli, l, *duration, *prefix)
		cctx, cancel = e.timeout(ctx)
		_, derr := cli.Delete(cctx, *prefix, clientv3.WithPrefix())
		cancel()
		res := perfVerdict(l.rate, *duration, lat, errs)
		if err := printPerf(e.stdout, e.g.writeOut, res); err != nil {
			return err
		}
		if derr != nil {
			return fmt.Errorf("delete test keys: %w", derr)
		}
		if !res.Pass {
			return fmt.Errorf("check perf failed: %v", res.Failures)
		}
		return nil
	}
}

// runPerfLoad puts random keys at most at l.rate per second from l.clients goroutines
// until d has passed, and returns the latencies of the successful puts and the error count.
func runPerfLoad(ctx context.Context, cli *clientv3.Client, l perfLoad, d time.Duration, prefix string) ([]time.Duration, int) {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	limiter := rate.NewLimiter(rate.Limit(l.rate), 1)
	value := string(make([]byte, 1024))
	var mu sync.Mutex
	var lat []time.Duration
	errs := 0
	var wg sync.WaitGroup
	for range l.clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			key := make([]byte, 8)
			for limiter.Wait(ctx) == nil {
				_, _ = rand.Read(key)
				start := time.Now()
				_, err := cli.Put(ctx, prefix+hex.EncodeToString(key), value)
				took := time.Since(start)
				if ctx.Err() != nil {
					return // cut off by the end of the run: not counted
				}
				mu.Lock()
				if err != nil {
					errs++
				} else {
					lat = append(lat, took)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return lat, errs
}

// perfVerdict summarizes latencies and applies the pass thresholds.
func perfVerdict(target int, d time.Duration, lat []time.Duration, errs int) perfResult {
	r := perfResult{Target: target, Writes: len(lat), Errors: errs, Throughput: float64(len(lat)) / d.Seconds()}
	if len(lat) > 0 {
		slices.Sort(lat)
		q := func(p float64) float64 { return lat[min(len(lat)-1, int(p*float64(len(lat))))].Seconds() }
		r.P50, r.P99, r.Slowest = q(0.5), q(0.99), lat[len(lat)-1].Seconds()
		var sum, sq float64
		for _, x := range lat {
			sum += x.Seconds()
		}
		mean := sum / float64(len(lat))
		for _, x := range lat {
			sq += (x.Seconds() - mean) * (x.Seconds() - mean)
		}
		r.Stddev = math.Sqrt(sq / float64(len(lat)))
	}
	if r.Throughput < perfMinRateFraction*float64(target) {
		r.Failures = append(r.Failures, fmt.Sprintf("throughput %.0f writes/s is under %.0f%% of %d", r.Throughput,
			perfMinRateFraction*100, target))
	}
	if len(lat) == 0 || r.P99 > perfMaxP99.Seconds() {
		r.Failures = append(r.Failures, fmt.Sprintf("p99 %.3fs is over %v", r.P99, perfMaxP99))
	}
	if errs > 0 {
		r.Failures = append(r.Failures, fmt.Sprintf("%d writes failed", errs))
	}
	r.Pass = len(r.Failures) == 0
	return r
}

func verdict(ok bool) string {
	if ok {
		return "PASS"
	}
	return "FAIL"
}

func printPerf(w io.Writer, format string, r perfResult) error {
	switch format {
	case "json":
		return writeJSON(w, r)
	case "table":
		return writeTable(w, []string{"TARGET", "WRITES/S", "ERRORS", "P50", "P99", "SLOWEST", "STDDEV", "VERDICT"},
			[][]string{{fmt.Sprint(r.Target), fmt.Sprintf("%.0f", r.Throughput), fmt.Sprint(r.Errors),
				fmt.Sprintf("%.4fs", r.P50), fmt.Sprintf("%.4fs", r.P99), fmt.Sprintf("%.4fs", r.Slowest),
				fmt.Sprintf("%.4fs", r.Stddev), verdict(r.Pass)}})
	}
	okRate := r.Throughput >= perfMinRateFraction*float64(r.Target)
	okP99 := r.Writes > 0 && r.P99 <= perfMaxP99.Seconds()
	_, err := fmt.Fprintf(w, "%s: Throughput is %.0f writes/s (target %d)\n%s: p99 is %.4fs (slowest %.4fs, p50 %.4fs)\n"+
		"%s: %d writes failed\nStddev is %.4fs\n%s\n", verdict(okRate), r.Throughput, r.Target, verdict(okP99), r.P99,
		r.Slowest, r.P50, verdict(r.Errors == 0), r.Errors, r.Stddev, verdict(r.Pass))
	return err
}
