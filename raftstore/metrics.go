package raftstore

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// metrics are raftstore's Prometheus metrics, named like etcd's where etcd has one.
type metrics struct {
	leaderChanges  prometheus.Counter
	committed      prometheus.Counter
	applied        prometheus.Counter
	failed         prometheus.Counter
	pending        prometheus.Gauge
	readIndexBatch prometheus.Histogram
}

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
	}
}
