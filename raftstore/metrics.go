package raftstore

import (
	"time"

	"github.com/hashicorp/raft"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/keeldb/keel/mvcc"
)

// metrics are raftstore's Prometheus metrics, named like etcd's where etcd has one.
type metrics struct {
	leaderChanges  prometheus.Counter
	committed      prometheus.Counter
	applied        prometheus.Counter
	failed         prometheus.Counter
	pending        prometheus.Gauge
	readIndexBatch prometheus.Histogram
	walFsync       prometheus.Histogram // raft log appends (StoreLogs: bbolt commit + fsync)
	backendCommit  prometheus.Histogram // mvcc batch commits

	// The mvcc compactor's, with etcd's names and units (milliseconds) for its dashboards.
	indexCompactionPause prometheus.Histogram
	dbCompactionPause    prometheus.Histogram
	dbCompactionTotal    prometheus.Histogram
	dbCompactionKeys     prometheus.Counter
}

// diskBuckets are etcd's buckets for disk latencies: 1ms to about 8s.
var diskBuckets = prometheus.ExponentialBuckets(0.001, 2, 14)

func newMetrics(reg prometheus.Registerer) *metrics {
	f := promauto.With(reg)
	return &metrics{
		leaderChanges: f.NewCounter(prometheus.CounterOpts{
			Name: "etcd_server_leader_changes_seen_total", Help: "Leader changes seen by this member."}),
		committed: f.NewCounter(prometheus.CounterOpts{
			Name: "etcd_server_proposals_committed_total", Help: "Proposals committed by this member's requests."}),
		applied: f.NewCounter(prometheus.CounterOpts{
			Name: "etcd_server_proposals_applied_total", Help: "Raft entries applied by this member's FSM."}),
		failed: f.NewCounter(prometheus.CounterOpts{
			Name: "etcd_server_proposals_failed_total", Help: "Proposals that failed (no leader, timeout, leader change)."}),
		pending: f.NewGauge(prometheus.GaugeOpts{
			Name: "etcd_server_proposals_pending", Help: "Proposals in flight from this member."}),
		readIndexBatch: f.NewHistogram(prometheus.HistogramOpts{
			Name: "keel_raft_read_index_batch_size", Help: "Linearizable reads served by one leadership confirmation.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 12)}),
		walFsync: f.NewHistogram(prometheus.HistogramOpts{
			Name: "etcd_disk_wal_fsync_duration_seconds", Buckets: diskBuckets,
			Help: "Latency of appending entries to the raft log (Keel's WAL: one bbolt commit with fsync)."}),
		backendCommit: f.NewHistogram(prometheus.HistogramOpts{
			Name: "etcd_disk_backend_commit_duration_seconds", Buckets: diskBuckets,
			Help: "Latency of the backend's batch commits (bbolt commit with fsync)."}),
		indexCompactionPause: f.NewHistogram(prometheus.HistogramOpts{
			Name:    "etcd_debugging_mvcc_index_compaction_pause_duration_milliseconds",
			Buckets: prometheus.ExponentialBuckets(0.5, 2, 14),
			Help:    "Time one chunk of index compaction holds the store's writer and index locks (etcd's name)."}),
		dbCompactionPause: f.NewHistogram(prometheus.HistogramOpts{
			Name:    "etcd_debugging_mvcc_db_compaction_pause_duration_milliseconds",
			Buckets: prometheus.ExponentialBuckets(1, 2, 13),
			Help:    "Duration of one backend compaction delete batch, bbolt commit and fsync included (etcd's name)."}),
		dbCompactionTotal: f.NewHistogram(prometheus.HistogramOpts{
			Name:    "etcd_debugging_mvcc_db_compaction_total_duration_milliseconds",
			Buckets: prometheus.ExponentialBuckets(100, 2, 14),
			Help:    "Duration of a whole compaction, from its start by the compactor to its last delete batch (etcd's name)."}),
		dbCompactionKeys: f.NewCounter(prometheus.CounterOpts{
			Name: "etcd_debugging_mvcc_db_compaction_keys_total",
			Help: "Revisions deleted from the backend by compaction."}),
	}
}

// compactionObserver feeds the mvcc compactor's measurements to the metrics.
func (m *metrics) compactionObserver() mvcc.CompactionObserver {
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	return mvcc.CompactionObserver{
		IndexChunk: func(d time.Duration) { m.indexCompactionPause.Observe(ms(d)) },
		DeleteBatch: func(d time.Duration, deleted int) {
			m.dbCompactionPause.Observe(ms(d))
			m.dbCompactionKeys.Add(float64(deleted))
		},
		Finished: func(_ int64, total time.Duration) { m.dbCompactionTotal.Observe(ms(total)) },
	}
}

// countLeaderChanges counts, like etcd, every time this member learns of a leader other than
// the one it knew (including the first). Raft's NotifyCh reports only this member's own
// leadership, so leader observations are used. It runs until Close.
func (n *Node) countLeaderChanges() {
	ch := make(chan raft.Observation, 16)
	obs := raft.NewObserver(ch, false, func(o *raft.Observation) bool {
		_, ok := o.Data.(raft.LeaderObservation)
		return ok
	})
	n.raft.RegisterObserver(obs)
	defer n.raft.DeregisterObserver(obs)
	last, _ := n.raft.LeaderWithID()
	if last != "" {
		n.metrics.leaderChanges.Inc()
	}
	for {
		select {
		case <-n.stop:
			return
		case o := <-ch:
			lo := o.Data.(raft.LeaderObservation)
			if lo.LeaderAddr != "" && lo.LeaderAddr != last {
				n.metrics.leaderChanges.Inc()
			}
			last = lo.LeaderAddr
		}
	}
}
