package main

import (
	"flag"
	"io"
	"time"
)

// newFlagSet defines every flag into o. The defaults and names of the put flags predate the
// other workloads; scripts rely on them.
func newFlagSet(o *options, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("keelbench "+o.workload, flag.ContinueOnError)
	fs.SetOutput(stderr)
	c, p := &o.cfg, &o.params
	fs.StringVar(&o.endpoints, "endpoints", "127.0.0.1:2379", "comma-separated endpoints")
	fs.StringVar(&o.user, "user", "", "authenticate as name:password (as etcdctl --user); needed with auth enabled")
	fs.IntVar(&c.Clients, "clients", 64, "concurrent clients")
	fs.IntVar(&c.Conns, "conns", 8, "gRPC connections shared by the clients")
	fs.IntVar(&c.Total, "total", 20000, "units of work in all (0 with --duration: until the duration ends)")
	fs.DurationVar(&c.Duration, "duration", 0, "run for this long (instead of --total unless it is also set)")
	fs.Float64Var(&c.Rate, "rate", 0, "units of work per second over all clients (0 = unlimited)")
	fs.BoolVar(&c.TargetLeader, "target-leader", false, "send only to the leader (found through Maintenance.Status)")
	fs.DurationVar(&c.DialTimeout, "dial-timeout", 5*time.Second, "dial timeout")
	fs.Uint64Var(&c.Seed, "seed", 1, "random seed")
	fs.IntVar(&p.KeySize, "key-size", 8, "key size in bytes, prefix included")
	fs.IntVar(&p.ValSize, "val-size", 256, "value size in bytes")
	fs.IntVar(&p.KeySpace, "key-space", 10000, "distinct keys (k8s: objects)")
	fs.StringVar(&p.Prefix, "key-prefix", "", "key prefix (default per workload)")
	fs.BoolVar(&p.Sequential, "sequential-keys", false, "put: write keys in order instead of at random")
	fs.StringVar(&p.Consistency, "consistency", "l", "range, txn-mixed, k8s: l (linearizable) or s (serializable)")
	fs.BoolVar(&p.RangePrefix, "prefix", false, "range: read a prefix range from a random key, up to --limit keys")
	fs.Int64Var(&p.Limit, "limit", 0, "range: keys per prefix range (default 100); k8s: list page size (default 500)")
	fs.BoolVar(&p.KeysOnly, "keys-only", false, "range: keys only")
	fs.BoolVar(&p.CountOnly, "count-only", false, "range: count only")
	fs.IntVar(&p.HotKeys, "hot-keys", 8, "txn-cas: contended keys")
	fs.IntVar(&p.TxnOps, "txn-ops", 0, "txn-mixed: operations per txn (default 4); load: puts per txn (default 100)")
	fs.Float64Var(&p.ReadRatio, "read-ratio", 0.5, "txn-mixed: share of reads among a txn's operations")
	fs.IntVar(&p.Watchers, "watchers", 16, "watch: watchers")
	fs.IntVar(&p.Streams, "streams", 4, "watch: watch streams the watchers share")
	fs.IntVar(&p.WatchRevs, "watch-revs", 1000, "watch-get: revisions a watcher catches up on")
	fs.Int64Var(&p.LeaseTTL, "lease-ttl", 0, "lease, lease-expiry: TTL in seconds (default 5; lease-expiry 15)")
	fs.Int64Var(&p.LeaseTTL, "ttl", 0, "same as --lease-ttl")
	fs.IntVar(&p.Keepalives, "keepalives", 1, "lease: keepalives per lease")
	fs.BoolVar(&p.Expire, "expire", false, "lease: let leases expire and measure the expiry lag instead of revoking")
	fs.IntVar(&p.Namespaces, "namespaces", 10, "k8s: namespaces")
	fs.IntVar(&p.Keys, "keys", 50000, "compaction: keys of the history")
	fs.IntVar(&p.Versions, "versions", 10, "compaction: times each key of the history is written")
	fs.IntVar(&p.Leases, "leases", 20000, "lease-expiry: leases granted, one key each")
	fs.IntVar(&p.DefragMB, "db-mb", 1024, "defrag: MiB of bulk keys written (half then deleted and compacted) before defragmenting")
	fs.DurationVar(&p.Window, "window", 5*time.Second,
		"compaction, lease-expiry, defrag: foreground window before the housekeeping, and the least one during it")
	fs.StringVar(&c.PprofDir, "pprof-dir", "", "write a CPU profile of every endpoint serving /debug/pprof here")
	fs.IntVar(&c.PprofSeconds, "pprof-seconds", 10,
		"seconds per CPU profile, taken mid-run (compaction, lease-expiry: from the start of phase during)")
	fs.BoolVar(&o.compare, "compare", false, "compare --endpoints (A) with --compare-endpoints (B), alternating rounds")
	fs.StringVar(&o.compareEndpoints, "compare-endpoints", "", "endpoints of B for --compare")
	fs.StringVar(&o.names, "names", "A,B", "names of the endpoint sets, comma-separated")
	fs.IntVar(&o.rounds, "rounds", 5, "--compare: rounds (each runs A then B)")
	fs.StringVar(&o.jsonPath, "json", "", "write the reports as JSON to this file (- = stdout)")
	fs.StringVar(&o.csvPath, "csv", "", "write the reports as CSV to this file (- = stdout)")
	fs.StringVar(&o.plotPath, "plot", "", "draw latency by percentile into this .svg or .png file")
	fs.BoolVar(&o.histogram, "histogram", true, "print a latency histogram")
	fs.BoolVar(&o.progress, "progress", true, "draw a progress bar when stderr is a terminal")
	return fs
}
