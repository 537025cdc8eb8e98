package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/keeldb/keel/mvcc"
	"github.com/keeldb/keel/raftstore"
)

// options are keeld's settings, named after etcd's flags so a member starts from exactly the
// command line etcd would be started with.
type options struct {
	name                     string
	dataDir                  string
	listenClientURLs         string
	advertiseClientURLs      string
	listenPeerURLs           string
	initialAdvertisePeerURLs string
	initialCluster           string
	initialClusterState      string
	initialClusterToken      string
	heartbeatInterval        uint
	electionTimeout          uint
	snapshotCount            uint64
	snapshotCatchupEntries   uint64
	leaseCheckpointInterval  time.Duration
	snapshotCheckInterval    time.Duration
	maxRequestBytes          uint
	maxTxnOps                uint
	quotaBackendBytes        int64
	listenMetricsURLs        string
	enablePprof              bool
	watchProgressInterval    time.Duration
	autoCompactionMode       string
	autoCompactionRetention  string
	raftLogBackend           string
	raftLogMigrate           bool
	raftWALSegmentBytes      int
	raftMaxAppendEntries     int
	raftCommitTimeout        time.Duration
	raftMaxInFlight          int
	gcHeadroomBytes          int64
	compactionBatchLimit     int
	compactionSleepInterval  time.Duration
	logLevel                 string
	logFormat                string
	clientTLS                tlsInfo
	peerTLS                  tlsInfo
	// unsafeLocalLinearizableReads is test-only: see server.Config.UnsafeLocalLinearizableReads.
	unsafeLocalLinearizableReads bool
	// peerDialProxy is for fault injection in tests: see raftstore.NewPeerDialer.
	peerDialProxy string
	// unsafeDropWatchEvents is test-only: see server.Config.UnsafeDropWatchEvents.
	unsafeDropWatchEvents bool
	// unsafeLoseAckedWrites is test-only: see mvcc.Config.UnsafeLoseDataOnClose.
	unsafeLoseAckedWrites bool
	// initialCorruptCheck and corruptCheckTime: docs/RELIABILITY.md "Corruption checks".
	initialCorruptCheck  bool
	corruptCheckTime     time.Duration
	compactHashCheck     bool
	compactHashCheckTime time.Duration
	// authToken, authTokenTTL, bcryptCost: etcd's auth flags (cmd/keeld/auth.go).
	authToken    string
	authTokenTTL uint
	bcryptCost   uint
	// printVersion: print the build information and exit (etcd's --version).
	printVersion bool
}

// ignoredFlags are etcd flags keeld accepts so etcd command lines work, but does not act on.
var ignoredFlags = []string{"logger", "log-outputs", "enable-v2", "strict-reconfig-check", "max-snapshots", "max-wals", "cors"}

func parseFlags(args []string, stderr io.Writer) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("keeld", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.name, "name", "default", "human-readable name for this member")
	fs.StringVar(&o.dataDir, "data-dir", "", "path to the data directory (default ${name}.etcd)")
	fs.StringVar(&o.listenClientURLs, "listen-client-urls", "http://localhost:2379", "URLs to listen on for client traffic")
	fs.StringVar(&o.advertiseClientURLs, "advertise-client-urls", "http://localhost:2379", "client URLs advertised to the cluster")
	fs.StringVar(&o.listenPeerURLs, "listen-peer-urls", "http://localhost:2380", "URLs to listen on for peer traffic")
	fs.StringVar(&o.initialAdvertisePeerURLs, "initial-advertise-peer-urls", "http://localhost:2380", "this member's peer URLs to advertise")
	fs.StringVar(&o.initialCluster, "initial-cluster", "", "initial cluster configuration for bootstrapping (name=peerURL,...)")
	fs.StringVar(&o.initialClusterState, "initial-cluster-state", "new", "initial cluster state: new or existing")
	fs.StringVar(&o.initialClusterToken, "initial-cluster-token", "etcd-cluster", "initial cluster token")
	fs.UintVar(&o.heartbeatInterval, "heartbeat-interval", 100, "time (in milliseconds) of a heartbeat interval")
	fs.UintVar(&o.electionTimeout, "election-timeout", 1000, "time (in milliseconds) for an election to timeout")
	fs.Uint64Var(&o.snapshotCount, "snapshot-count", raftstore.DefaultSnapshotCount, "number of committed entries that triggers a raft snapshot")
	fs.Uint64Var(&o.snapshotCatchupEntries, "snapshot-catchup-entries", 10240,
		"number of entries kept after a snapshot for slow followers to catch up from")
	fs.Uint64Var(&o.snapshotCatchupEntries, "experimental-snapshot-catchup-entries", 10240,
		"deprecated alias of --snapshot-catchup-entries")
	fs.DurationVar(&o.snapshotCheckInterval, "snapshot-check-interval", 30*time.Second,
		"Keel only: how often to check whether --snapshot-count entries call for a snapshot")
	fs.DurationVar(&o.leaseCheckpointInterval, "lease-checkpoint-interval", 5*time.Minute,
		"Keel only: how often the leader records the remaining TTL of leases longer than it through the log")
	fs.UintVar(&o.maxRequestBytes, "max-request-bytes", 1572864, "maximum client request size in bytes")
	fs.UintVar(&o.maxTxnOps, "max-txn-ops", 128, "maximum number of operations permitted in a transaction")
	fs.Int64Var(&o.quotaBackendBytes, "quota-backend-bytes", 0, "backend size quota (0 = 2 GiB)")
	fs.StringVar(&o.listenMetricsURLs, "listen-metrics-urls", "", "extra URLs serving /metrics and /health")
	fs.BoolVar(&o.enablePprof, "enable-pprof", false, "serve runtime profiling data under /debug/pprof on client URLs")
	fs.DurationVar(&o.watchProgressInterval, "experimental-watch-progress-notify-interval", 10*time.Minute,
		"duration of periodic watch progress notifications")
	fs.DurationVar(&o.watchProgressInterval, "watch-progress-notify-interval", 10*time.Minute,
		"duration of periodic watch progress notifications")
	fs.StringVar(&o.autoCompactionMode, "auto-compaction-mode", "periodic", "interpret retention as periodic or revision")
	fs.StringVar(&o.autoCompactionRetention, "auto-compaction-retention", "0", "auto compaction retention (0 = off)")
	fs.StringVar(&o.raftLogBackend, "raft-log-backend", "wal",
		"Keel only: raft log of a new data dir, wal (raft-wal) or bolt (raft-boltdb); a data dir keeps the log it has")
	fs.BoolVar(&o.raftLogMigrate, "raft-log-migrate", false,
		"Keel only: copy a data dir's raft-boltdb log (raft.db) into a raft-wal log at start, once; raft.db is kept as raft.db.migrated")
	fs.IntVar(&o.raftWALSegmentBytes, "raft-wal-segment-bytes", raftstore.DefaultWALSegmentBytes,
		"Keel only: size of each raft-wal segment file (preallocated); a sealed segment is deleted once a snapshot covers it")
	fs.IntVar(&o.raftMaxAppendEntries, "raft-max-append-entries", raftstore.DefaultMaxAppendEntries,
		"Keel only, tuning: most entries per AppendEntries request and per batch of proposals")
	fs.DurationVar(&o.raftCommitTimeout, "raft-commit-timeout", raftstore.DefaultCommitTimeout,
		"Keel only, tuning: how soon an idle leader sends followers the commit index")
	fs.IntVar(&o.raftMaxInFlight, "raft-max-appends-in-flight", raftstore.DefaultMaxAppendsInFlight,
		"Keel only, tuning: AppendEntries requests the leader pipelines to each follower (1: no pipelining)")
	fs.Int64Var(&o.gcHeadroomBytes, "gc-headroom-bytes", 128<<20,
		"Keel only: let the heap grow by at least this much between Go GCs (GOGC raised for small heaps, never below 100); 0 or a GOGC in the environment turns it off")
	fs.IntVar(&o.compactionBatchLimit, "experimental-compaction-batch-limit", mvcc.DefaultCompactionBatchRevisions,
		"revisions deleted from the backend per compaction batch")
	fs.DurationVar(&o.compactionSleepInterval, "experimental-compaction-sleep-interval", mvcc.DefaultCompactionBatchPause,
		"pause between two compaction batches")
	fs.StringVar(&o.logLevel, "log-level", "info", "log level: debug, info, warn, error")
	fs.StringVar(&o.logFormat, "log-format", "json", "log format: json or text")
	o.clientTLS.register(fs, "", "client")
	o.peerTLS.register(fs, "peer-", "peer")
	fs.BoolVar(&o.unsafeLocalLinearizableReads, "unsafe-local-linearizable-reads", false,
		"TEST ONLY, breaks linearizability: serve linearizable reads from local state without a read index")
	fs.StringVar(&o.peerDialProxy, "peer-dial-proxy", "",
		"Keel only, for tests and fault injection: open every outgoing peer connection (raft and forwarded requests) "+
			"through the HTTP CONNECT proxy at this host:port, e.g. internal/netfault's; peer TLS stays end to end")
	fs.BoolVar(&o.unsafeDropWatchEvents, "unsafe-drop-watch-events", false,
		"TEST ONLY, breaks the watch guarantees: drop an event from every 16th watch response with events")
	fs.BoolVar(&o.unsafeLoseAckedWrites, "unsafe-lose-acked-writes", false,
		"TEST ONLY, breaks durability: a graceful shutdown drops the backend's uncommitted writes but records them as applied")
	fs.BoolVar(&o.initialCorruptCheck, "experimental-initial-corrupt-check", false,
		"compare this member's HashKV with its peers' before serving clients; refuse to start on a mismatch")
	fs.DurationVar(&o.corruptCheckTime, "experimental-corrupt-check-time", 0,
		"how often the leader compares every member's HashKV and raises CORRUPT on a mismatch (0 = off)")
	fs.DurationVar(&o.corruptCheckTime, "corrupt-check-time", 0, "etcd 3.6's name of --experimental-corrupt-check-time")
	fs.BoolVar(&o.compactHashCheck, "experimental-compact-hash-check-enabled", false,
		"let the leader compare the hashes members record as they compact, raising CORRUPT on a mismatch")
	fs.DurationVar(&o.compactHashCheckTime, "experimental-compact-hash-check-time", time.Minute,
		"how often the compaction hash check runs")
	fs.DurationVar(&o.compactHashCheckTime, "compact-hash-check-time", time.Minute,
		"etcd 3.6's name of --experimental-compact-hash-check-time")
	fs.StringVar(&o.authToken, "auth-token", "simple",
		"auth token type: simple, or jwt,pub-key=<file>,priv-key=<file>,sign-method=<RS256|ES256|...>,ttl=<duration>")
	fs.UintVar(&o.authTokenTTL, "auth-token-ttl", 300, "seconds a simple token stays valid after its last use")
	fs.UintVar(&o.bcryptCost, "bcrypt-cost", 10, "bcrypt cost of password hashes (4 to 31)")
	fs.BoolVar(&o.printVersion, "version", false, "print the version and exit")
	for _, name := range ignoredFlags {
		fs.String(name, "", "accepted for etcd compatibility; ignored")
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	if o.printVersion {
		return o, nil // as etcd: --version wins over every other setting
	}
	if err := applyEnv(fs, os.LookupEnv); err != nil {
		return nil, err
	}
	if o.dataDir == "" {
		o.dataDir = o.name + ".etcd"
	}
	if o.initialCluster == "" {
		o.initialCluster = o.name + "=" + o.initialAdvertisePeerURLs
	}
	return o, o.validate()
}

// applyEnv sets every flag not given on the command line from ETCD_<FLAG> or KEEL_<FLAG>
// (upper case, dashes as underscores), as etcd does.
func applyEnv(fs *flag.FlagSet, lookup func(string) (string, bool)) error {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var errs []error
	fs.VisitAll(func(f *flag.Flag) {
		if set[f.Name] {
			return
		}
		key := strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		for _, prefix := range []string{"KEEL_", "ETCD_"} {
			if v, ok := lookup(prefix + key); ok {
				if err := fs.Set(f.Name, v); err != nil {
					errs = append(errs, fmt.Errorf("%s%s: %w", prefix, key, err))
				}
				return
			}
		}
	})
	return errors.Join(errs...)
}

func (o *options) validate() error {
	errs := o.validateAuth()
	if o.compactHashCheck && o.compactHashCheckTime <= 0 {
		errs = append(errs, fmt.Errorf("--experimental-compact-hash-check-time must be positive, got %v", o.compactHashCheckTime))
	}
	if o.corruptCheckTime < 0 {
		errs = append(errs, fmt.Errorf("--experimental-corrupt-check-time must not be negative, got %v", o.corruptCheckTime))
	}
	if _, err := raftstore.ParseLogBackend(o.raftLogBackend); err != nil {
		errs = append(errs, fmt.Errorf("--raft-log-backend: %w", err))
	}
	if o.raftWALSegmentBytes < 4096 || o.raftWALSegmentBytes > 1<<30 {
		errs = append(errs, fmt.Errorf("--raft-wal-segment-bytes must be between 4096 and 1073741824, got %d", o.raftWALSegmentBytes))
	}
	if o.raftMaxInFlight < 1 || o.raftMaxInFlight > 1024 {
		errs = append(errs, fmt.Errorf("--raft-max-appends-in-flight must be between 1 and 1024, got %d", o.raftMaxInFlight))
	}
	if o.compactionBatchLimit < 1 {
		errs = append(errs, fmt.Errorf("--experimental-compaction-batch-limit must be positive, got %d", o.compactionBatchLimit))
	}
	if o.initialClusterState != "new" && o.initialClusterState != "existing" {
		errs = append(errs, fmt.Errorf("--initial-cluster-state must be new or existing, got %q", o.initialClusterState))
	}
	for _, list := range []string{o.listenClientURLs, o.advertiseClientURLs, o.listenPeerURLs, o.initialAdvertisePeerURLs} {
		for _, u := range splitList(list) {
			if _, err := parseURL(u); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if o.electionTimeout < 5*o.heartbeatInterval {
		errs = append(errs, fmt.Errorf("--election-timeout[%vms] should be at least 5 times --heartbeat-interval[%vms]",
			o.electionTimeout, o.heartbeatInterval))
	}
	if o.peerDialProxy != "" {
		if _, _, err := net.SplitHostPort(o.peerDialProxy); err != nil {
			errs = append(errs, fmt.Errorf("--peer-dial-proxy must be host:port: %w", err))
		}
	}
	errs = append(errs, o.validateTLS())
	return errors.Join(errs...)
}

// compactHashCheckInterval is raftstore's CompactHashCheckInterval: 0 unless the check is enabled.
func (o *options) compactHashCheckInterval() time.Duration {
	if !o.compactHashCheck {
		return 0
	}
	return o.compactHashCheckTime
}

func (o *options) heartbeat() time.Duration {
	return time.Duration(o.heartbeatInterval) * time.Millisecond
}
func (o *options) election() time.Duration {
	return time.Duration(o.electionTimeout) * time.Millisecond
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func parseURL(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("bad URL %q: %w", s, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("URL %q: scheme must be http or https", s)
	}
	if u.Port() == "" {
		return nil, fmt.Errorf("URL %q: a port is required", s)
	}
	return u, nil
}

// parseInitialCluster parses name=url[,name=url...]; a name may repeat for several URLs.
func parseInitialCluster(s string) ([]member, error) {
	var out []member
	idx := map[string]int{}
	for _, kv := range splitList(s) {
		name, u, ok := strings.Cut(kv, "=")
		if !ok || name == "" || u == "" {
			return nil, fmt.Errorf("--initial-cluster: bad entry %q (want name=url)", kv)
		}
		if _, err := parseURL(u); err != nil {
			return nil, fmt.Errorf("--initial-cluster: %w", err)
		}
		if i, ok := idx[name]; ok {
			out[i].peerURLs = append(out[i].peerURLs, u)
			continue
		}
		idx[name] = len(out)
		out = append(out, member{name: name, peerURLs: []string{u}})
	}
	return out, nil
}

type member struct {
	name     string
	peerURLs []string
}
