package server

import (
	"context"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"google.golang.org/grpc"
	"google.golang.org/grpc/status"

	"github.com/keeldb/keel/raftstore"
)

type metrics struct {
	handled  *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

func newMetrics(reg prometheus.Registerer, node *raftstore.Node) *metrics {
	f := promauto.With(reg)
	m := &metrics{
		handled: f.NewCounterVec(prometheus.CounterOpts{
			Name: "grpc_server_handled_total", Help: "RPCs completed on the server, by method and code.",
		}, []string{"grpc_service", "grpc_method", "grpc_code"}),
		duration: f.NewHistogramVec(prometheus.HistogramOpts{
			Name: "grpc_server_handling_seconds", Help: "RPC latency on the server (unary), by method.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 18),
		}, []string{"grpc_service", "grpc_method"}),
	}
	f.NewGaugeFunc(prometheus.GaugeOpts{Name: "etcd_server_has_leader", Help: "1 if a leader is known."},
		func() float64 { return boolFloat(node.Leader() != 0) })
	f.NewGaugeFunc(prometheus.GaugeOpts{Name: "etcd_server_is_leader", Help: "1 if this member is the leader."},
		func() float64 { return boolFloat(node.IsLeader()) })
	f.NewGaugeFunc(prometheus.GaugeOpts{Name: "etcd_mvcc_db_total_size_in_bytes", Help: "Backend file size."},
		func() float64 { size, _ := node.Store().Size(); return float64(size) })
	f.NewGaugeFunc(prometheus.GaugeOpts{Name: "etcd_mvcc_db_total_size_in_use_in_bytes", Help: "Backend bytes in use."},
		func() float64 { _, inUse := node.Store().Size(); return float64(inUse) })
	f.NewGaugeFunc(prometheus.GaugeOpts{Name: "etcd_server_quota_backend_bytes", Help: "Backend size quota (NOSPACE above it)."},
		func() float64 { return float64(node.BackendQuota()) })
	f.NewGaugeFunc(prometheus.GaugeOpts{Name: "etcd_debugging_mvcc_current_revision", Help: "Current store revision."},
		func() float64 { return float64(node.Store().Rev()) })
	f.NewGaugeFunc(prometheus.GaugeOpts{Name: "etcd_server_applied_index", Help: "Raft index applied by the FSM."},
		func() float64 { return float64(node.AppliedIndex()) })
	f.NewGaugeFunc(prometheus.GaugeOpts{Name: "etcd_server_term", Help: "Current raft term."},
		func() float64 { return float64(node.Term()) })
	return m
}

func boolFloat(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func splitMethod(full string) (string, string) {
	full = strings.TrimPrefix(full, "/")
	if i := strings.LastIndex(full, "/"); i >= 0 {
		return full[:i], full[i+1:]
	}
	return "unknown", full
}

func (m *metrics) unaryInterceptor(ctx context.Context, req any, info *grpc.UnaryServerInfo,
	h grpc.UnaryHandler) (any, error) {
	start := time.Now()
	resp, err := h(ctx, req)
	svc, method := splitMethod(info.FullMethod)
	m.duration.WithLabelValues(svc, method).Observe(time.Since(start).Seconds())
	m.handled.WithLabelValues(svc, method, status.Code(err).String()).Inc()
	return resp, err
}

func (m *metrics) streamInterceptor(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo,
	h grpc.StreamHandler) error {
	err := h(srv, ss)
	svc, method := splitMethod(info.FullMethod)
	m.handled.WithLabelValues(svc, method, status.Code(err).String()).Inc()
	return err
}
