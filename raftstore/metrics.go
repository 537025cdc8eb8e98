package raftstore

import (
	"time"

	"github.com/hashicorp/raft"
	wal "github.com/hashicorp/raft-wal"
	walmetrics "github.com/hashicorp/raft-wal/metrics"
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
	logBackend     *prometheus.GaugeVec // 1 for the raft log backend in use
	wal            *walCollector        // raft-wal's own counters
	hashChecks     prometheus.Counter   // hash comparisons run as leader (periodic and compaction)
	hashMismatches prometheus.Counter   // members found corrupt by them

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
		hashChecks: f.NewCounter(prometheus.CounterOpts{
			Name: "keel_raftstore_corruption_checks_total", Help: "Hash comparisons this member ran as leader (periodic checks and compaction records)."}),
		hashMismatches: f.NewCounter(prometheus.CounterOpts{
			Name: "keel_raftstore_corruption_mismatches_total",
			Help: "Members whose HashKV differed in this member's corruption checks (each raises CORRUPT)."}),
		readIndexBatch: f.NewHistogram(prometheus.HistogramOpts{
			Name: "keel_raft_read_index_batch_size", Help: "Linearizable reads served by one leadership confirmation.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 12)}),
		walFsync: f.NewHistogram(prometheus.HistogramOpts{
			Name: "etcd_disk_wal_fsync_duration_seconds", Buckets: diskBuckets,
			Help: "Latency of appending a batch of entries to the raft log (write and fsync)."}),
		backendCommit: f.NewHistogram(prometheus.HistogramOpts{
			Name: "etcd_disk_backend_commit_duration_seconds", Buckets: diskBuckets,
			Help: "Latency of the backend's batch commits (bbolt commit with fsync)."}),
		logBackend: f.NewGaugeVec(prometheus.GaugeOpts{
			Name: "keel_raft_log_backend", Help: "1 for the raft log backend this member uses (wal or bolt)."},
			[]string{"backend"}),
		wal: newWALCollector(f),
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

func (m *metrics) setLogBackend(b LogBackend) {
	for _, x := range []LogBackend{LogBackendWAL, LogBackendBolt} {
		v := 0.0
		if x == b {
			v = 1
		}
		m.logBackend.WithLabelValues(string(x)).Set(v)
	}
}

// walCollector bridges raft-wal's metrics (wal.MetricDefinitions) to Prometheus as
// keel_raft_wal_<name>_total counters and keel_raft_wal_<name> gauges.
type walCollector struct {
	counters map[string]prometheus.Counter
	gauges   map[string]prometheus.Gauge
}

var _ walmetrics.Collector = (*walCollector)(nil)

func newWALCollector(f promauto.Factory) *walCollector {
	c := &walCollector{counters: map[string]prometheus.Counter{}, gauges: map[string]prometheus.Gauge{}}
	for _, d := range wal.MetricDefinitions.Counters {
		c.counters[d.Name] = f.NewCounter(prometheus.CounterOpts{Name: "keel_raft_wal_" + d.Name + "_total", Help: d.Desc})
	}
	for _, d := range wal.MetricDefinitions.Gauges {
		c.gauges[d.Name] = f.NewGauge(prometheus.GaugeOpts{Name: "keel_raft_wal_" + d.Name, Help: d.Desc})
	}
	return c
}

// IncrementCounter implements metrics.Collector; unknown names are ignored.
func (c *walCollector) IncrementCounter(name string, delta uint64) {
	if m, ok := c.counters[name]; ok {
		m.Add(float64(delta))
	}
}

// SetGauge implements metrics.Collector; unknown names are ignored.
func (c *walCollector) SetGauge(name string, val uint64) {
	if m, ok := c.gauges[name]; ok {
		m.Set(float64(val))
	}
}
