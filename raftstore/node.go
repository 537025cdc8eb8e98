package raftstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
	"go.etcd.io/etcd/api/v3/mvccpb"

	keelpb "github.com/keeldb/keel/api/proto"
	"github.com/keeldb/keel/auth"
	"github.com/keeldb/keel/lease"
	"github.com/keeldb/keel/mvcc"
)

// Auxiliary mvcc buckets owned by raftstore (replicated, part of snapshots).
var (
	bucketCluster = []byte("cluster")
	bucketMembers = []byte("members")
	keyClusterID  = []byte("id")
)

// Node is one member of a Keel cluster. Safe for concurrent use.
type Node struct {
	cfg       Config
	log       *slog.Logger
	id        uint64
	clusterID uint64

	store      *mvcc.Store
	logStore   logStore
	logBackend LogBackend // the backend logStore is, which may differ from cfg.LogBackend
	snaps      raft.SnapshotStore
	trans      raft.Transport
	guard      *guardedTransport // trans, tracking replication pipelines
	raft       *raft.Raft
	fsm        *fsm
	peers      *peerClients
	fwd        *forwarder
	metrics    *metrics

	lessor *lease.Lessor
	alarms alarmState
	auth   *auth.Store

	// subMu orders event delivery with Subscribe, so a subscriber misses no revision.
	subMu     sync.Mutex
	onEvents  func(rev int64, evs []mvccpb.Event) // guarded by subMu
	onRestore func(rev int64)                     // guarded by subMu
	applied   appliedWaiter
	reads     *readIndexer

	// readyTerm is the term whose first Noop command this member applied as leader;
	// readyIndex is that Noop's index. Linearizable reads wait for readyTerm == current term.
	readyMu    sync.Mutex
	readyTerm  uint64
	readyIndex uint64
	readyCh    chan struct{} // closed and replaced whenever readiness or leadership changes

	leaderCh chan bool
	stop     chan struct{}
	// ctx is canceled when stop is closed, for calls that take a context.
	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	closed  atomic.Bool
	removed chan struct{} // closed once this member is removed from the cluster
}

// Open starts the member described by cfg: it opens (or creates) its data dir, bootstraps a
// new cluster from cfg.InitialCluster when the data dir is empty and cfg.NewCluster is set,
// and starts raft. Close releases everything.
func Open(cfg Config) (*Node, error) {
	cfg.applyDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Transport == nil {
		return nil, errors.New("raftstore: a transport is required")
	}
	n := &Node{
		cfg:      cfg,
		readyCh:  make(chan struct{}),
		leaderCh: make(chan bool, 16),
		stop:     make(chan struct{}),
	}
	n.ctx, n.cancel = context.WithCancel(context.Background())
	self, err := cfg.self()
	if err != nil {
		return nil, err
	}
	n.id = MemberID(self.PeerURLs, cfg.Token)
	n.log = cfg.Logger.With("component", "raftstore")
	n.metrics = newMetrics(cfg.Registerer)
	n.lessor = lease.New(lease.Config{})
	n.auth = auth.New(cfg.AuthTokens)
	n.removed = make(chan struct{})
	n.peers = newPeerClients(cfg.PeerDialer, cfg.PeerClients)
	n.fwd = newForwarder(n)
	if err := n.openStorage(); err != nil {
		n.closeStorage()
		return nil, err
	}
	if err := n.resolveIdentity(self); err != nil {
		n.peers.close()
		n.closeStorage()
		return nil, err
	}
	n.log = cfg.Logger.With("component", "raftstore", "member_id", fmt.Sprintf("%x", n.id))
	if err := n.startRaft(); err != nil {
		n.peers.close()
		n.closeStorage()
		return nil, err
	}
	if err := n.saveIdentity(n.id, n.ClusterID()); err != nil {
		_ = n.raft.Shutdown().Error()
		n.peers.close()
		n.closeStorage()
		return nil, fmt.Errorf("raftstore: save member identity: %w", err)
	}
	n.reads = newReadIndexer(n)
	n.goFunc(n.watchLeadership)
	n.goFunc(n.countLeaderChanges)
	n.goFunc(n.reads.run)
	n.goFunc(n.publishAttributes)
	n.goFunc(n.runLeaseExpiry)
	n.goFunc(n.runLeaseCheckpoints)
	n.goFunc(n.watchRemoval)
	if cfg.CorruptCheckInterval > 0 {
		n.goFunc(n.runCorruptCheck)
	}
	if cfg.CompactHashCheckInterval > 0 {
		n.goFunc(n.runCompactHashCheck)
	}
	return n, nil
}

func (n *Node) goFunc(f func()) {
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		f()
	}()
}

func (c *Config) self() (Member, error) {
	for _, m := range c.InitialCluster {
		if m.Name == c.Name {
			return m, nil
		}
	}
	return Member{}, fmt.Errorf("raftstore: member %q is not in the initial cluster", c.Name)
}

// resolveIdentity settles this member's ID: the one recorded in its data dir; else, for a
// member of a new cluster or a data dir from before the record existed, the ID derived from
// its peer URLs and the cluster token; else (joining an existing cluster) the ID the cluster
// added it under.
func (n *Node) resolveIdentity(self Member) error {
	if id, cid, ok := n.loadIdentity(); ok {
		n.id, n.clusterID = id, cid
		return nil
	}
	existing, err := raft.HasExistingState(n.logStore, n.logStore, n.snaps)
	if err != nil {
		return fmt.Errorf("raftstore: inspect raft state: %w", err)
	}
	if existing || n.cfg.NewCluster {
		return nil
	}
	id, cid, err := n.discoverIdentity(self)
	if err != nil {
		return err
	}
	n.id, n.clusterID = id, cid
	n.log.Info("joining an existing cluster", "member_id", fmt.Sprintf("%x", id), "cluster_id", fmt.Sprintf("%x", cid))
	return nil
}

func (n *Node) openStorage() error {
	dir := filepath.Join(n.cfg.DataDir, "member")
	if err := os.MkdirAll(filepath.Join(dir, "snap"), 0o700); err != nil {
		return fmt.Errorf("raftstore: create data dir: %w", err)
	}
	var err error
	mc := mvcc.Config{Path: filepath.Join(dir, "kv.db"), Logger: n.cfg.Logger,
		CommitObserver: observeSeconds(n.metrics.backendCommit), CompactionObserver: n.metrics.compactionObserver(),
		CompactionBatchRevisions: n.cfg.CompactionBatchLimit, CompactionBatchPause: n.cfg.CompactionSleepInterval,
		UnsafeLoseDataOnClose: n.cfg.UnsafeLoseDataOnClose}
	if n.cfg.Disk != nil {
		mc.OpenFile = n.cfg.Disk.OpenFile
	}
	n.store, err = mvcc.Open(mc)
	if err != nil {
		return err
	}
	n.logStore, n.logBackend, err = openLogStore(dir, &n.cfg, n.log, n.metrics.wal)
	if err != nil {
		return err
	}
	n.metrics.setLogBackend(n.logBackend)
	n.snaps, err = raft.NewFileSnapshotStoreWithLogger(filepath.Join(dir, "snap"), 2, newHCLog(n.log))
	if err != nil {
		return fmt.Errorf("raftstore: open snapshot store: %w", err)
	}
	if err := n.catchUpWithSnapshot(); err != nil {
		return err
	}
	n.applied.set(n.store.ConsistentIndex())
	if err := n.rebuildLessor(); err != nil {
		return fmt.Errorf("raftstore: load leases: %w", err)
	}
	return n.loadAuth()
}

// catchUpWithSnapshot restores the backend from raft's newest snapshot if that snapshot is
// newer than the backend's applied index.
//
// raft marks everything up to its newest snapshot as applied when it starts (with
// NoSnapshotRestoreOnStart it does not hand the snapshot to the FSM) and replays only the
// entries after it. Our own snapshots are copies of the backend, so the backend is never
// behind them; but a snapshot installed from the leader is stored (InstallSnapshot closes the
// sink) before the FSM's Restore swaps the backend, and a crash in between leaves the old
// backend under a newer snapshot. Without this the member would come back without the
// snapshot's entries and apply the leader's later entries on top of the stale data:
// diverged, found by tests/failpoints (beforeRestoreSwap) and docs/RELIABILITY.md
// "Failpoints".
func (n *Node) catchUpWithSnapshot() error {
	metas, err := n.snaps.List()
	if err != nil {
		return fmt.Errorf("raftstore: list snapshots: %w", err)
	}
	ci := n.store.ConsistentIndex()
	if len(metas) == 0 || metas[0].Index <= ci {
		return nil
	}
	meta, rc, err := n.snaps.Open(metas[0].ID)
	if err != nil {
		return fmt.Errorf("raftstore: open snapshot %s: %w", metas[0].ID, err)
	}
	defer rc.Close()
	n.log.Warn("backend is behind the newest raft snapshot; restoring it from the snapshot",
		"applied_index", ci, "snapshot_index", meta.Index, "snapshot", meta.ID)
	if err := n.store.Restore(rc); err != nil {
		return fmt.Errorf("raftstore: restore snapshot %s at start: %w", meta.ID, err)
	}
	if got := n.store.ConsistentIndex(); got < meta.Index {
		return fmt.Errorf("raftstore: snapshot %s holds applied index %d, below its index %d", meta.ID, got, meta.Index)
	}
	return nil
}

func (n *Node) closeStorage() {
	if n.logStore != nil {
		_ = n.logStore.Close()
	}
	if n.store != nil {
		_ = n.store.Close()
	}
}

func (n *Node) raftConfig() *raft.Config {
	rc := raft.DefaultConfig()
	rc.LocalID = serverID(n.id)
	rc.HeartbeatTimeout = n.cfg.ElectionTimeout
	rc.ElectionTimeout = n.cfg.ElectionTimeout
	rc.LeaderLeaseTimeout = n.cfg.ElectionTimeout / 2
	rc.CommitTimeout = n.cfg.CommitTimeout
	rc.SnapshotThreshold = n.cfg.SnapshotCount
	rc.SnapshotInterval = n.cfg.SnapshotCheckInterval
	rc.TrailingLogs = n.cfg.SnapshotCatchupEntries
	rc.MaxAppendEntries = n.cfg.MaxAppendEntries
	rc.BatchApplyCh = true
	rc.NoSnapshotRestoreOnStart = true
	rc.NotifyCh = n.leaderCh
	rc.Logger = newHCLog(n.log)
	return rc
}

func (n *Node) startRaft() error {
	rc := n.raftConfig()
	n.guard = newGuardedTransport(n.cfg.Transport)
	n.trans = n.guard
	n.fsm = &fsm{n: n}
	existing, err := raft.HasExistingState(n.logStore, n.logStore, n.snaps)
	if err != nil {
		return fmt.Errorf("raftstore: inspect raft state: %w", err)
	}
	if !existing && n.cfg.NewCluster {
		if err := n.bootstrap(rc); err != nil {
			return err
		}
	}
	if v := n.store.Aux(bucketCluster, keyClusterID); len(v) == 8 {
		n.clusterID = beUint64(v)
	}
	// Recent entries are kept in memory so that replication and the FSM do not read them back
	// from the log store.
	logs, err := raft.NewLogCache(2*n.cfg.MaxAppendEntries, &timedLogStore{LogStore: n.logStore, observe: observeSeconds(n.metrics.walFsync)})
	if err != nil {
		return fmt.Errorf("raftstore: log cache: %w", err)
	}
	n.raft, err = raft.NewRaft(rc, n.fsm, logs, n.logStore, n.snaps, n.trans)
	if err != nil {
		return fmt.Errorf("raftstore: start raft: %w", err)
	}
	n.log.Info("raft started", "bootstrapped", !existing && n.cfg.NewCluster, "raft_log", n.logBackend,
		"applied_index", n.store.ConsistentIndex(), "revision", n.store.Rev())
	return nil
}

func (n *Node) bootstrap(rc *raft.Config) error {
	conf, ids, err := bootstrapConfiguration(n.cfg.InitialCluster, n.cfg.Token)
	if err != nil {
		return err
	}
	if err := raft.BootstrapCluster(rc, n.logStore, n.logStore, n.snaps, n.trans, conf); err != nil {
		return fmt.Errorf("raftstore: bootstrap: %w", err)
	}
	// Every initial member derives the same cluster ID; it is stored before the first raft
	// entry so that snapshots carry it to members added later.
	w := n.store.Write(0)
	w.SetAux(bucketCluster, keyClusterID, beAppend(nil, ClusterID(ids)))
	w.End()
	return n.store.Commit()
}

// Close stops the member: it hands leadership to another voter if it is the leader of a
// multi-member cluster, shuts raft down and closes the stores. Idempotent.
func (n *Node) Close() error {
	if !n.closed.CompareAndSwap(false, true) {
		return nil
	}
	if n.raft.State() == raft.Leader && n.voters() > 1 {
		f := n.raft.LeadershipTransfer()
		done := make(chan error, 1)
		go func() { done <- f.Error() }()
		select {
		case err := <-done:
			if err != nil {
				n.log.Warn("leadership transfer on shutdown failed", "error", err)
			}
		case <-time.After(2 * n.cfg.ElectionTimeout):
			n.log.Warn("leadership transfer on shutdown timed out")
		}
	}
	close(n.stop)
	n.cancel()
	shutdown := n.raft.Shutdown()
	n.guard.closePipelines() // see guardedTransport
	err := shutdown.Error()
	n.wg.Wait()
	if c, ok := n.trans.(interface{ Close() error }); ok {
		_ = c.Close()
	}
	n.peers.close()
	n.closeStorage()
	n.log.Info("raft stopped")
	return err
}

func (n *Node) voters() int {
	f := n.raft.GetConfiguration()
	if f.Error() != nil {
		return 0
	}
	c := 0
	for _, s := range f.Configuration().Servers {
		if s.Suffrage == raft.Voter {
			c++
		}
	}
	return c
}

// ID returns this member's ID.
func (n *Node) ID() uint64 { return n.id }

// ClusterID returns the cluster's ID (0 until known, for a member that joined an existing
// cluster and has not received a snapshot yet).
func (n *Node) ClusterID() uint64 {
	if n.clusterID == 0 {
		if v := n.store.Aux(bucketCluster, keyClusterID); len(v) == 8 {
			return beUint64(v)
		}
	}
	return n.clusterID
}

// LogBackend returns the raft log backend this member runs on: the configured one for a
// new data dir, otherwise the one its data dir holds (see Config.LogBackend).
func (n *Node) LogBackend() LogBackend { return n.logBackend }

// Store returns the member's mvcc store (reads only; the FSM is its only writer).
func (n *Node) Store() *mvcc.Store { return n.store }

// Term returns the current raft term.
func (n *Node) Term() uint64 { return n.raft.CurrentTerm() }

// Leader returns the leader's member ID, or 0 if no leader is known.
func (n *Node) Leader() uint64 {
	_, id := n.raft.LeaderWithID()
	if id == "" {
		return 0
	}
	return parseServerID(id)
}

// IsLeader reports whether this member is the leader.
func (n *Node) IsLeader() bool { return n.raft.State() == raft.Leader }

// AppliedIndex returns the index of the last raft entry this member's FSM applied.
func (n *Node) AppliedIndex() uint64 { return n.applied.get() }

// CommitIndex returns the raft commit index this member knows.
func (n *Node) CommitIndex() uint64 { return n.raft.CommitIndex() }

// watchLeadership reacts to leadership changes: a new leader proposes a Noop and becomes
// ready for linearizable reads once it is applied.
func (n *Node) watchLeadership() {
	for {
		select {
		case <-n.stop:
			return
		case isLeader := <-n.leaderCh:
			n.setReady(0, 0)
			n.lessor.Demote()
			if isLeader {
				n.log.Info("became leader", "term", n.raft.CurrentTerm())
				n.goFunc(n.announceLeadership)
			} else {
				n.log.Info("lost leadership", "term", n.raft.CurrentTerm())
			}
		}
	}
}

func (n *Node) announceLeadership() {
	term := n.raft.CurrentTerm()
	data := mustMarshal(&keelpb.Command{Cmd: &keelpb.Command_Noop{Noop: &keelpb.Noop{Term: term}}})
	for n.raft.State() == raft.Leader && n.raft.CurrentTerm() == term {
		f := n.raft.Apply(data, n.cfg.RequestTimeout)
		if err := n.wait(f); err != nil {
			if errors.Is(err, ErrStopped) || errors.Is(err, raft.ErrRaftShutdown) {
				return
			}
			n.log.Warn("leader noop failed", "term", term, "error", err)
			continue
		}
		if n.raft.CurrentTerm() == term && n.raft.State() == raft.Leader {
			// Every lease gets its (remaining) TTL again plus the election gap, so no lease
			// expires because the cluster had no leader.
			n.lessor.Promote(n.cfg.ElectionTimeout)
			n.setReady(term, f.Index())
		}
		return
	}
}

// wait waits for a raft future or shutdown. hashicorp/raft never answers a future still
// queued for the leader loop when raft shuts down, so no wait may rely on it alone.
func (n *Node) wait(f raft.Future) error {
	done := make(chan error, 1)
	go func() { done <- f.Error() }()
	select {
	case err := <-done:
		return err
	case <-n.stop:
		return ErrStopped
	}
}

func (n *Node) setReady(term, index uint64) {
	n.readyMu.Lock()
	n.readyTerm, n.readyIndex = term, index
	close(n.readyCh)
	n.readyCh = make(chan struct{})
	n.readyMu.Unlock()
}

// leaderReady returns whether this leader may serve read indexes for term, the index of its
// term's first entry, and a channel closed on the next readiness change.
func (n *Node) leaderReady(term uint64) (bool, uint64, <-chan struct{}) {
	n.readyMu.Lock()
	defer n.readyMu.Unlock()
	return n.readyTerm == term && term != 0, n.readyIndex, n.readyCh
}

// waitLeader waits until some leader is known, the context ends, or about two election
// timeouts pass.
func (n *Node) waitLeader(ctx context.Context) (raft.ServerAddress, uint64, error) {
	// Every forwarded request asks; the timers are only made when there is no leader.
	if addr, id := n.raft.LeaderWithID(); id != "" {
		return addr, parseServerID(id), nil
	}
	deadline := time.NewTimer(2 * n.cfg.ElectionTimeout)
	defer deadline.Stop()
	tick := time.NewTicker(n.cfg.HeartbeatInterval / 2)
	defer tick.Stop()
	for {
		if addr, id := n.raft.LeaderWithID(); id != "" {
			return addr, parseServerID(id), nil
		}
		select {
		case <-ctx.Done():
			return "", 0, ctxErr(ctx)
		case <-n.stop:
			return "", 0, ErrStopped
		case <-deadline.C:
			return "", 0, ErrNoLeader
		case <-tick.C:
		}
	}
}

func ctxErr(ctx context.Context) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return ErrTimeout
	}
	return ctx.Err()
}
