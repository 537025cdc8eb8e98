package raftstore

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/raft"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/keeldb/keel/auth"
)

// Member is one entry of the initial cluster: a name and its peer URLs.
type Member struct {
	Name     string
	PeerURLs []string
}

// Config configures a Node. Zero values mean defaults where a default is stated.
// DefaultSnapshotCount is etcd's default --snapshot-count (since v3.2).
const DefaultSnapshotCount = 100000

type Config struct {
	// Name is this member's name; it must appear in InitialCluster.
	Name string
	// DataDir holds the raft log, snapshots and the mvcc backend.
	DataDir string
	// InitialCluster lists every member of a new cluster (etcd's --initial-cluster).
	InitialCluster []Member
	// NewCluster bootstraps the cluster from InitialCluster when the data dir is empty
	// (etcd's --initial-cluster-state new). When false the member expects to be added by an
	// existing cluster.
	NewCluster bool
	// Token is etcd's --initial-cluster-token; it seeds member and cluster IDs.
	Token string
	// ClientURLs are the advertised client URLs published to the cluster.
	ClientURLs []string
	// HeartbeatInterval is etcd's --heartbeat-interval. Default 100ms.
	HeartbeatInterval time.Duration
	// ElectionTimeout is etcd's --election-timeout. Default 1s.
	ElectionTimeout time.Duration
	// SnapshotCount is the number of applied entries between raft snapshots: etcd's
	// --snapshot-count, with etcd's default 100000. A snapshot copies the whole backend (the
	// bbolt file; a gigabyte at 150,000 pods), so a smaller count turns a large store's
	// write load into snapshot copying.
	SnapshotCount uint64
	// SnapshotCatchupEntries is etcd's --snapshot-catchup-entries: how many entries the
	// leader keeps after a snapshot for slow followers (hashicorp/raft TrailingLogs); a
	// follower further behind is sent a snapshot. Default 10240.
	SnapshotCatchupEntries uint64
	// SnapshotCheckInterval is how often raft checks whether SnapshotCount entries were
	// applied since the last snapshot (hashicorp/raft SnapshotInterval, jittered up to 2×).
	// Default 30s.
	SnapshotCheckInterval time.Duration
	// RequestTimeout bounds a proposal or read index. Default 5s + 2×ElectionTimeout.
	RequestTimeout time.Duration
	// Transport overrides the network transport (in-process tests use raft.InmemTransport).
	// When nil, PeerListener must be set.
	Transport raft.Transport
	// PeerDialer dials another member's peer address for forwarded requests. When nil the
	// default TCP dialer with Keel's connection preamble is used.
	PeerDialer PeerDialer
	// PeerClients overrides how Peer clients are made (in-process tests); nil uses gRPC over
	// PeerDialer.
	PeerClients PeerClientFunc
	// JoinTimeout bounds how long a member joining an existing cluster asks the members of
	// InitialCluster for its ID. Default 60s.
	JoinTimeout time.Duration
	// CorruptCheckInterval is how often the leader compares every member's HashKV and raises
	// CORRUPT for those that differ (etcd's --experimental-corrupt-check-time). 0 disables
	// the periodic check.
	CorruptCheckInterval time.Duration
	// CompactHashCheckInterval is how often the leader compares the hashes that members'
	// compactions recorded (etcd's --experimental-compact-hash-check-time, with
	// --experimental-compact-hash-check-enabled). 0 disables the check.
	CompactHashCheckInterval time.Duration
	// LeaseCheckpointInterval is how often the leader records remaining TTLs of long leases.
	// Default 5 minutes.
	LeaseCheckpointInterval time.Duration
	// LogBackend is the raft log and stable store of a new data dir (--raft-log-backend):
	// LogBackendWAL (the default, for "" too) or LogBackendBolt. A data dir that already holds
	// a log keeps its backend: raft.db is used as it is unless MigrateLog is set, and a WAL is
	// never opened as bolt (Open returns ErrLogBackendMismatch).
	LogBackend LogBackend
	// MigrateLog copies a data dir's raft.db into a new WAL at Open (--raft-log-migrate),
	// once; raft.db is kept as raft.db.migrated. It does nothing for a data dir on the WAL.
	MigrateLog bool
	// WALSegmentBytes is the size of each raft-wal segment file. Default
	// DefaultWALSegmentBytes.
	WALSegmentBytes int
	// MaxAppendEntries is the most entries the leader puts in one AppendEntries request and
	// takes from the proposal queue in one batch (hashicorp/raft MaxAppendEntries). Default
	// DefaultMaxAppendEntries.
	MaxAppendEntries int
	// CommitTimeout is how long the leader's replication waits for new entries before it sends
	// followers the commit index on its own (hashicorp/raft CommitTimeout). Default
	// DefaultCommitTimeout.
	CommitTimeout time.Duration
	// CompactionBatchLimit is how many revisions the background compactor deletes from the
	// backend in one transaction (etcd's --experimental-compaction-batch-limit); 0 means
	// mvcc's default.
	CompactionBatchLimit int
	// CompactionSleepInterval is the compactor's pause between two delete batches (etcd's
	// --experimental-compaction-sleep-interval); 0 means mvcc's default.
	CompactionSleepInterval time.Duration
	// Disk, when set, puts a simulated disk under the member's files (power-loss tests).
	Disk *Disk
	// UnsafeLoseDataOnClose is a TEST-ONLY fault: see mvcc.Config.UnsafeLoseDataOnClose (a
	// graceful restart loses acknowledged writes). Never set it in production.
	UnsafeLoseDataOnClose bool
	// LeaseRevokeBatch is how many expired leases the leader revokes in one raft entry (their
	// keys deleted in one revision). Default 500.
	LeaseRevokeBatch int
	// LeaseRevokeRate bounds the expired leases the leader revokes per second, in bursts of
	// at most LeaseRevokeBatch (etcd's leaseRevokeRate, 1000/s there). Default 5000.
	LeaseRevokeRate int
	// AuthTokens issues and resolves this member's auth tokens (--auth-token); nil uses
	// simple tokens with etcd's 300 s TTL.
	AuthTokens auth.TokenProvider
	// Logger receives logs; nil discards.
	Logger *slog.Logger
	// Registerer receives the package's metrics; nil registers nowhere.
	Registerer prometheus.Registerer
}

func (c *Config) applyDefaults() {
	if c.AuthTokens == nil {
		c.AuthTokens = auth.NewSimpleTokens(0, nil)
	}
	if c.HeartbeatInterval == 0 {
		c.HeartbeatInterval = 100 * time.Millisecond
	}
	if c.ElectionTimeout == 0 {
		c.ElectionTimeout = time.Second
	}
	if c.SnapshotCount == 0 {
		c.SnapshotCount = DefaultSnapshotCount
	}
	if c.SnapshotCatchupEntries == 0 {
		c.SnapshotCatchupEntries = 10240
	}
	if c.SnapshotCheckInterval == 0 {
		c.SnapshotCheckInterval = 30 * time.Second
	}
	if c.RequestTimeout == 0 {
		c.RequestTimeout = 5*time.Second + 2*c.ElectionTimeout
	}
	if c.JoinTimeout == 0 {
		c.JoinTimeout = time.Minute
	}
	if c.LeaseCheckpointInterval == 0 {
		c.LeaseCheckpointInterval = 5 * time.Minute
	}
	if c.MaxAppendEntries == 0 {
		c.MaxAppendEntries = DefaultMaxAppendEntries
	}
	if c.CommitTimeout == 0 {
		c.CommitTimeout = DefaultCommitTimeout
	}
	if c.LogBackend == "" {
		c.LogBackend = LogBackendWAL
	}
	if c.WALSegmentBytes == 0 {
		c.WALSegmentBytes = DefaultWALSegmentBytes
	}
	if c.LeaseRevokeBatch == 0 {
		c.LeaseRevokeBatch = 500
	}
	if c.LeaseRevokeRate == 0 {
		c.LeaseRevokeRate = 5000
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// Raft tuning defaults (see bench/PERFORMANCE.md for the measurements behind them).
const (
	DefaultMaxAppendEntries = 512
	DefaultCommitTimeout    = 5 * time.Millisecond
)

// Validate reports every problem with the configuration.
func (c *Config) Validate() error {
	var errs []error
	if c.Name == "" {
		errs = append(errs, errors.New("raftstore: name is required"))
	}
	if c.DataDir == "" {
		errs = append(errs, errors.New("raftstore: data dir is required"))
	}
	if c.NewCluster {
		if len(c.InitialCluster) == 0 {
			errs = append(errs, errors.New("raftstore: initial cluster is empty"))
		}
		found := false
		for _, m := range c.InitialCluster {
			if m.Name == c.Name {
				found = true
			}
			if len(m.PeerURLs) == 0 {
				errs = append(errs, fmt.Errorf("raftstore: member %q has no peer URL", m.Name))
			}
			for _, u := range m.PeerURLs {
				if _, err := hostPort(u); err != nil {
					errs = append(errs, err)
				}
			}
		}
		if !found {
			errs = append(errs, fmt.Errorf("raftstore: member %q is not in the initial cluster", c.Name))
		}
	}
	if c.MaxAppendEntries < 0 || c.MaxAppendEntries > 1024 { // hashicorp/raft's limit
		errs = append(errs, fmt.Errorf("raftstore: max append entries %d is out of range [1, 1024]", c.MaxAppendEntries))
	}
	if c.CommitTimeout < 0 {
		errs = append(errs, fmt.Errorf("raftstore: commit timeout %v is negative", c.CommitTimeout))
	}
	if _, err := ParseLogBackend(string(c.LogBackend)); err != nil {
		errs = append(errs, err)
	}
	if c.WALSegmentBytes < 0 || c.WALSegmentBytes > 1<<30 {
		errs = append(errs, fmt.Errorf("raftstore: WAL segment size %d is out of range (0, 1 GiB]", c.WALSegmentBytes))
	}
	if c.LeaseRevokeBatch < 0 || c.LeaseRevokeRate < 0 {
		errs = append(errs, fmt.Errorf("raftstore: lease revoke batch %d and rate %d must not be negative",
			c.LeaseRevokeBatch, c.LeaseRevokeRate))
	}
	if c.ElectionTimeout < 5*c.HeartbeatInterval && c.HeartbeatInterval > 0 {
		errs = append(errs, fmt.Errorf("raftstore: election timeout %v should be at least 5 heartbeat intervals (%v)",
			c.ElectionTimeout, c.HeartbeatInterval))
	}
	return errors.Join(errs...)
}

// MemberID derives a member's ID from its peer URLs and the cluster token, so that every member
// computes the same IDs from the same --initial-cluster (as etcd does).
func MemberID(peerURLs []string, token string) uint64 {
	urls := slices.Clone(peerURLs)
	slices.Sort(urls)
	sum := sha256.Sum256([]byte(strings.Join(urls, ",") + "\x00" + token))
	id := binary.BigEndian.Uint64(sum[:8])
	if id == 0 {
		id = 1
	}
	return id
}

// ClusterID derives the cluster ID from the initial member IDs.
func ClusterID(memberIDs []uint64) uint64 {
	ids := slices.Clone(memberIDs)
	slices.Sort(ids)
	buf := make([]byte, 0, 8*len(ids))
	for _, id := range ids {
		buf = binary.BigEndian.AppendUint64(buf, id)
	}
	sum := sha256.Sum256(buf)
	return binary.BigEndian.Uint64(sum[:8])
}

// serverID is the raft ServerID of a member ID: its hex form, as etcdctl prints IDs.
func serverID(id uint64) raft.ServerID { return raft.ServerID(strconv.FormatUint(id, 16)) }

// parseServerID is the inverse of serverID (0 for an ID that is not hex). It runs for every
// proposal (the leader's ID), so it avoids fmt.
func parseServerID(s raft.ServerID) uint64 {
	id, _ := strconv.ParseUint(string(s), 16, 64)
	return id
}

// hostPort returns the host:port of a peer or client URL.
func hostPort(u string) (string, error) {
	p, err := url.Parse(u)
	if err != nil {
		return "", fmt.Errorf("raftstore: bad URL %q: %w", u, err)
	}
	if p.Host == "" || p.Port() == "" {
		return "", fmt.Errorf("raftstore: URL %q needs host:port", u)
	}
	return p.Host, nil
}
