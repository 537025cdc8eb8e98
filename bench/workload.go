package bench

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// Params are the knobs of every workload; each workload reads the ones it needs. Zero
// values mean defaults.
type Params struct {
	KeySize  int    // bytes per key, prefix included; longer when the number needs more digits (default 8)
	ValSize  int    // bytes per value (default 256)
	KeySpace int    // distinct keys (default 10000)
	Prefix   string // key prefix; default per workload ("" for put, "kb-range/" for range, …)

	Sequential bool // put: keys in order 0, 1, 2 … instead of at random

	Consistency string // range, txn-mixed, k8s reads: "l" linearizable (default) or "s" serializable
	RangePrefix bool   // range: read from a random key to the end of the prefix, up to Limit keys
	Limit       int64  // range: keys per prefix range (default 100); k8s: list page size (default 500)
	KeysOnly    bool   // range: keys without values
	CountOnly   bool   // range: the count only

	HotKeys   int     // txn-cas: contended keys (default 8)
	TxnOps    int     // txn-mixed: operations per txn (default 4); load: puts per txn (default 100)
	ReadRatio float64 // txn-mixed: share of the txn's operations that are reads (default 0.5)

	Watchers  int // watch: watchers over the key space (default 16)
	Streams   int // watch: gRPC watch streams the watchers share (default 4)
	WatchRevs int // watch-get: revisions a catching-up watcher replays (default 1000)

	LeaseTTL   int64 // lease: TTL in seconds (default 5)
	Keepalives int   // lease: keepalive requests per lease (default 1)
	Expire     bool  // lease: leave leases to expire and measure expiry lag instead of revoking

	Namespaces int // k8s: namespaces the objects are spread over (default 10)

	Keys     int           // compaction: keys of the history (default 50000)
	Versions int           // compaction: times each key of the history is written (default 10)
	Leases   int           // lease-expiry: leases granted, one key each (default 20000)
	DefragMB int           // defrag: backend size the bulk keys fill, in MiB (default 1024)
	Window   time.Duration // compaction, lease-expiry, defrag: the "before" window and the least "during" one (default 5s)
}

func (p Params) withDefaults(prefix string) Params {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&p.KeySize, 8)
	def(&p.ValSize, 256)
	def(&p.KeySpace, 10000)
	def(&p.HotKeys, 8)
	def(&p.TxnOps, 4)
	def(&p.Watchers, 16)
	def(&p.Streams, 4)
	def(&p.WatchRevs, 1000)
	def(&p.Keepalives, 1)
	def(&p.Namespaces, 10)
	if p.Prefix == "" {
		p.Prefix = prefix
	}
	if p.ReadRatio <= 0 {
		p.ReadRatio = 0.5
	}
	if p.LeaseTTL <= 0 {
		p.LeaseTTL = 5
	}
	return p
}

// readOpts returns the range options for p.Consistency.
func (p Params) readOpts() []clientv3.OpOption {
	if p.Consistency == "s" {
		return []clientv3.OpOption{clientv3.WithSerializable()}
	}
	return nil
}

var workloads = map[string]func(Params) Workload{
	"put":       newPut,
	"range":     newRange,
	"txn-cas":   newTxnCAS,
	"txn-mixed": newTxnMixed,
	"watch":     newWatch,
	"watch-get": newWatchGet,
	"lease":     newLease,
	"k8s":       newK8s,
	"load":      newLoad,
	"auth":      newAuthenticate,

	"compaction":   newCompaction,
	"lease-expiry": newLeaseExpiry,
	"defrag":       newDefrag,
}

// Names lists the workloads New knows, sorted.
func Names() []string { return slices.Sorted(maps.Keys(workloads)) }

// New builds the named workload.
func New(name string, p Params) (Workload, error) {
	f, ok := workloads[name]
	if !ok {
		return nil, fmt.Errorf("bench: unknown workload %q (have %s)", name, strings.Join(Names(), ", "))
	}
	if p.Consistency != "" && p.Consistency != "l" && p.Consistency != "s" {
		return nil, fmt.Errorf("bench: consistency %q: want l or s", p.Consistency)
	}
	return f(p), nil
}

// key returns the n-th key: prefix, then n zero-padded so that the key is size bytes, or
// longer when n needs more digits.
func key(prefix string, n, size int) string {
	d := strconv.Itoa(n)
	if pad := size - len(prefix) - len(d); pad > 0 {
		return prefix + strings.Repeat("0", pad) + d
	}
	return prefix + d
}

// loadKeys puts n keys (keyOf(0) … keyOf(n-1)) with val, using every connection with up to
// s.Config.Clients requests in flight. It is part of setup and is not measured.
func loadKeys(ctx context.Context, s *Session, n int, keyOf func(int) string, val string) error {
	return parallel(n, min(s.Config.Clients, 64), func(g, i int) error {
		if _, err := putRetry(ctx, s.Client(g), keyOf(i), val); err != nil {
			return fmt.Errorf("load %s: %w", keyOf(i), err)
		}
		return nil
	})
}

// parallel calls f(g, i) for i in 0 … n-1 from up to workers goroutines (g is the
// goroutine's index) and returns the first error, after which no new calls start.
func parallel(n, workers int, f func(g, i int) error) error {
	var next atomic.Int64
	var failed atomic.Bool
	var once sync.Once
	var first error
	var wg sync.WaitGroup
	for g := range min(workers, n) {
		wg.Go(func() {
			for i := int(next.Add(1)) - 1; i < n && !failed.Load(); i = int(next.Add(1)) - 1 {
				if err := f(g, i); err != nil {
					once.Do(func() { first = err })
					failed.Store(true)
					return
				}
			}
		})
	}
	wg.Wait()
	return first
}

// setupRetries bounds retry's attempts.
const setupRetries = 10

// putRetry puts k during setup, retrying while the cluster is unavailable.
func putRetry(ctx context.Context, cli *clientv3.Client, k, v string) (*clientv3.PutResponse, error) {
	var resp *clientv3.PutResponse
	err := retry(ctx, func() error {
		var err error
		resp, err = cli.Put(ctx, k, v)
		return err
	})
	return resp, err
}

// retry runs a setup request f, retrying while the cluster is unavailable (a leader
// election, say), for setup must not fail on what the measured phase would count as an error.
func retry(ctx context.Context, f func() error) error {
	for attempt := 1; ; attempt++ {
		err := f()
		if err == nil || attempt == setupRetries || !strings.HasPrefix(ClassifyError(err), "Unavailable") {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(time.Duration(attempt) * 100 * time.Millisecond):
		}
	}
}
