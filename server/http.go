package server

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/pprof"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
)

func (s *Server) httpHandler() http.Handler {
	mux := http.NewServeMux()
	g := s.cfg.Gatherer
	if g == nil {
		g = prometheus.NewRegistry()
	}
	mux.Handle("/metrics", promhttp.HandlerFor(g, promhttp.HandlerOpts{}))
	mux.HandleFunc("/health", s.serveHealth)
	mux.HandleFunc("/readyz", s.serveHealth)
	mux.HandleFunc("/livez", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("/version", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"etcdserver": Version, "etcdcluster": "3.6.0", "storage": "3.6.0"})
	})
	if s.cfg.Pprof {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	return mux
}

// serveHealth answers like etcd's /health: healthy when a leader is known and a read
// (linearizable unless ?serializable=true) succeeds within a second, and no alarm is active
// but those named by ?exclude=<ALARM> (on /readyz, no CORRUPT alarm).
func (s *Server) serveHealth(w http.ResponseWriter, r *http.Request) {
	if s.node.Leader() == 0 {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"health": "false", "reason": "RAFT NO LEADER"})
		return
	}
	excluded := r.URL.Query()["exclude"]
	for _, a := range s.node.Alarms() {
		// etcd's /readyz looks only at data corruption: a member out of space still serves reads.
		if slices.Contains(excluded, a.Alarm.String()) || (r.URL.Path == "/readyz" && a.Alarm != pb.AlarmType_CORRUPT) {
			continue
		}
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"health": "false", "reason": "ALARM " + a.Alarm.String()})
		return
	}
	if r.URL.Query().Get("serializable") != "true" {
		ctx, cancel := context.WithTimeout(r.Context(), time.Second)
		defer cancel()
		if err := s.node.LinearizableBarrier(ctx); err != nil {
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"health": "false", "reason": "QGET ERROR:" + err.Error()})
			return
		}
	}
	writeJSON(w, http.StatusOK, map[string]string{"health": "true", "reason": ""})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
