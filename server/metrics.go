package server

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/status"

	"github.com/keeldb/keel/raftstore"
)

type metrics struct {
	handled  *prometheus.CounterVec
	duration *prometheus.HistogramVec
	started  *prometheus.CounterVec
	streamed *prometheus.HistogramVec
	watchers prometheus.Gauge
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
		started: f.NewCounterVec(prometheus.CounterOpts{
			Name: "grpc_server_started_total", Help: "RPCs started on the server, by method.",
		}, []string{"grpc_service", "grpc_method"}),
		streamed: f.NewHistogramVec(prometheus.HistogramOpts{
			Name: "grpc_server_stream_handling_seconds", Help: "Lifetime of server streams, by method.",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 12),
		}, []string{"grpc_service", "grpc_method"}),
		watchers: f.NewGauge(prometheus.GaugeOpts{
			Name: "etcd_debugging_mvcc_watcher_total", Help: "Watchers open on this member (etcd's name; a gauge).",
		}),
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
	f.NewGaugeFunc(prometheus.GaugeOpts{Name: "etcd_debugging_mvcc_keys_total",
		Help: "Keys in the index, deleted ones included until compacted (etcd's name; a gauge)."},
		func() float64 { return float64(node.Store().Keys()) })
	f.NewGaugeFunc(prometheus.GaugeOpts{Name: "keel_lease_active", Help: "Leases granted and not yet revoked or expired."},
		func() float64 { return float64(node.Lessor().Len()) })
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
	svc, method := splitMethod(info.FullMethod)
	m.started.WithLabelValues(svc, method).Inc()
	resp, err := h(ctx, req)
	m.duration.WithLabelValues(svc, method).Observe(time.Since(start).Seconds())
	m.handled.WithLabelValues(svc, method, status.Code(err).String()).Inc()
	return resp, err
}

func (m *metrics) streamInterceptor(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo,
	h grpc.StreamHandler) error {
	start := time.Now()
	svc, method := splitMethod(info.FullMethod)
	m.started.WithLabelValues(svc, method).Inc()
	ws := &watchCountingStream{ServerStream: ss, gauge: m.watchers}
	err := h(srv, ws)
	ws.closeAll()
	m.streamed.WithLabelValues(svc, method).Observe(time.Since(start).Seconds())
	m.handled.WithLabelValues(svc, method, status.Code(err).String()).Inc()
	return err
}

// watchCountingStream counts the watchers a Watch stream holds open by looking at the
// responses it sends: a created response (not refused) opens one, a canceled one closes it,
// and the end of the stream closes the rest. Other streams send no WatchResponse.
type watchCountingStream struct {
	grpc.ServerStream
	gauge prometheus.Gauge

	mu   sync.Mutex
	open map[int64]struct{} // guarded by mu
}

// SendMsg sends m and counts the watchers it creates or cancels.
func (s *watchCountingStream) SendMsg(m any) error {
	if r, ok := m.(*pb.WatchResponse); ok && (r.Created || r.Canceled) {
		s.mu.Lock()
		_, known := s.open[r.WatchId]
		switch {
		case r.Created && !r.Canceled && !known:
			if s.open == nil {
				s.open = map[int64]struct{}{}
			}
			s.open[r.WatchId] = struct{}{}
			s.gauge.Inc()
		case r.Canceled && known:
			delete(s.open, r.WatchId)
			s.gauge.Dec()
		}
		s.mu.Unlock()
	}
	return s.ServerStream.SendMsg(m)
}

// closeAll closes the watchers still open when the stream ends.
func (s *watchCountingStream) closeAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gauge.Sub(float64(len(s.open)))
	s.open = nil
}
