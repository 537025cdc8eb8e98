// Command keeld runs one member of a Keel cluster. It takes etcd's flags (and ETCD_*/KEEL_*
// environment variables) and serves etcd's v3 gRPC API on the client URLs.
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/keeldb/keel/internal/failpoint"
	"github.com/keeldb/keel/raftstore"
	"github.com/keeldb/keel/server"
	"github.com/keeldb/keel/version"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, errHelp) {
			fmt.Fprintln(os.Stderr, "keeld:", err)
		}
		os.Exit(1)
	}
}

var errHelp = errors.New("help requested")

func run(args []string, stdout, stderr io.Writer) error {
	opts, err := parseFlags(args, stderr)
	if err != nil {
		if strings.Contains(err.Error(), "help requested") {
			return errHelp
		}
		return err
	}
	if opts.printVersion {
		version.Print(stdout, "keeld")
		return nil
	}
	log := newLogger(opts, stderr)
	if failpoint.Enabled {
		// docs/RELIABILITY.md "Failpoints": a test binary; never run it in production.
		log.Warn("BUILT WITH FAILPOINTS: this keeld can be made to panic or stall over GOFAIL_HTTP; for tests only",
			"gofail_http", os.Getenv("GOFAIL_HTTP"), "gofail_failpoints", os.Getenv("GOFAIL_FAILPOINTS"))
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if _, set := os.LookupEnv("GOGC"); !set && opts.gcHeadroomBytes > 0 {
		gcCtx, stopGC := context.WithCancel(context.Background())
		gcDone := make(chan struct{})
		go func() {
			defer close(gcDone)
			newGCTuner(uint64(opts.gcHeadroomBytes)).run(gcCtx, time.Second)
		}()
		defer func() { stopGC(); <-gcDone }()
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	members, err := parseInitialCluster(opts.initialCluster)
	if err != nil {
		return err
	}
	tlsCfg, err := loadTLS(opts, log)
	if err != nil {
		return err
	}
	peerURL, _ := parseURL(splitList(opts.listenPeerURLs)[0])
	peerLn, err := net.Listen("tcp", peerURL.Host)
	if err != nil {
		return fmt.Errorf("listen on peer URL: %w", err)
	}
	advPeer, _ := parseURL(splitList(opts.initialAdvertisePeerURLs)[0])
	advAddr, err := net.ResolveTCPAddr("tcp", advPeer.Host)
	if err != nil {
		_ = peerLn.Close()
		return fmt.Errorf("resolve advertised peer URL: %w", err)
	}
	var peerDial raftstore.PeerDialer
	if tlsCfg.peerServer != nil {
		// The preamble byte and everything after it travel inside TLS.
		peerLn = tls.NewListener(peerLn, tlsCfg.peerServer)
		peerDial = raftstore.NewTLSPeerDialer(tlsCfg.peerClient)
	}
	if opts.peerDialProxy != "" {
		// Test fault injection: outgoing peer traffic crosses a proxy (docs/RELIABILITY.md
		// "Network faults"); TLS, if any, still runs end to end over the tunnel.
		peerDial = raftstore.NewPeerDialer(opts.peerDialProxy, tlsCfg.peerClient)
		log.Warn("dialing peers through a proxy, for fault injection", "peer_dial_proxy", opts.peerDialProxy)
	}
	mux := raftstore.NewPeerMux(peerLn, advAddr, peerDial)
	go func() { _ = mux.Serve() }()
	defer mux.Close()

	tokens, err := opts.tokenProvider()
	if err != nil {
		return err
	}
	cfg := raftstore.Config{
		Name:                     opts.name,
		DataDir:                  opts.dataDir,
		NewCluster:               opts.initialClusterState == "new",
		Token:                    opts.initialClusterToken,
		ClientURLs:               splitList(opts.advertiseClientURLs),
		HeartbeatInterval:        opts.heartbeat(),
		ElectionTimeout:          opts.election(),
		SnapshotCount:            opts.snapshotCount,
		SnapshotCatchupEntries:   opts.snapshotCatchupEntries,
		SnapshotCheckInterval:    opts.snapshotCheckInterval,
		LeaseCheckpointInterval:  opts.leaseCheckpointInterval,
		CorruptCheckInterval:     opts.corruptCheckTime,
		CompactHashCheckInterval: opts.compactHashCheckInterval(),
		LogBackend:               raftstore.LogBackend(opts.raftLogBackend),
		MigrateLog:               opts.raftLogMigrate,
		WALSegmentBytes:          opts.raftWALSegmentBytes,
		Transport:                raftstore.NewNetworkTransport(mux, log, opts.raftMaxInFlight),
		MaxAppendEntries:         opts.raftMaxAppendEntries,
		CommitTimeout:            opts.raftCommitTimeout,
		CompactionBatchLimit:     opts.compactionBatchLimit,
		CompactionSleepInterval:  opts.compactionSleepInterval,
		PeerDialer:               mux.Dialer(),
		// Test-only fault injection (tests/robustness); off unless the flag is given.
		UnsafeLoseDataOnClose: opts.unsafeLoseAckedWrites,
		AuthTokens:            tokens,
		Logger:                log,
		Registerer:            reg,
	}
	for _, m := range members {
		cfg.InitialCluster = append(cfg.InitialCluster, raftstore.Member{Name: m.name, PeerURLs: m.peerURLs})
	}
	node, err := raftstore.Open(cfg)
	if err != nil {
		return err
	}
	peerSrv := server.NewPeerServer(node)
	go func() { _ = peerSrv.Serve(mux.GRPCListener()) }()
	if opts.initialCorruptCheck {
		// As etcd: before serving clients (docs/RELIABILITY.md "Corruption checks").
		if err := node.InitialCorruptCheck(ctx); err != nil {
			log.Error("initial corruption check failed", "error", err)
			_ = node.Close()
			peerSrv.Stop()
			return err
		}
	}

	policy, err := server.ParseCompactionPolicy(opts.autoCompactionMode, opts.autoCompactionRetention)
	if err != nil {
		_ = node.Close()
		return err
	}
	srv := server.New(server.Config{
		AutoCompaction:        policy,
		MaxRequestBytes:       int(opts.maxRequestBytes),
		MaxTxnOps:             int(opts.maxTxnOps),
		QuotaBackendBytes:     opts.quotaBackendBytes,
		Logger:                log,
		Registerer:            reg,
		Gatherer:              reg,
		Pprof:                 opts.enablePprof,
		ElectionTimeout:       opts.election(),
		WatchProgressInterval: opts.watchProgressInterval,
		BcryptCost:            int(opts.bcryptCost),
		ClientCertAuth:        opts.clientTLS.clientCertAuth,
		// Test-only fault injection (tests/chaos); off unless the flag is given.
		UnsafeLocalLinearizableReads: opts.unsafeLocalLinearizableReads,
		UnsafeDropWatchEvents:        opts.unsafeDropWatchEvents,
	}, node)
	errc := make(chan error, 4)
	for _, u := range splitList(opts.listenClientURLs) {
		cu, _ := parseURL(u)
		ln, err := net.Listen("tcp", cu.Host)
		if err != nil {
			_ = node.Close()
			return fmt.Errorf("listen on client URL: %w", err)
		}
		if cu.Scheme == "https" {
			go func() { errc <- srv.ServeTLS(ln, tlsCfg.client) }()
		} else {
			go func() { errc <- srv.Serve(ln) }()
		}
		log.Info("serving client requests", "url", u)
	}
	for _, u := range splitList(opts.listenMetricsURLs) {
		mu, _ := parseURL(u)
		var mtls *tls.Config
		if mu.Scheme == "https" {
			mtls = tlsCfg.client
		}
		go func() { errc <- serveMetrics(mu.Host, reg, mtls) }()
	}
	if opts.unsafeLocalLinearizableReads {
		log.Warn("TEST ONLY: --unsafe-local-linearizable-reads is set; linearizable reads may be stale")
	}
	if opts.unsafeDropWatchEvents {
		log.Warn("TEST ONLY: --unsafe-drop-watch-events is set; watch streams lose events")
	}
	if opts.unsafeLoseAckedWrites {
		log.Warn("TEST ONLY: --unsafe-lose-acked-writes is set; a restart loses acknowledged writes")
	}
	log.Info("keeld started", "name", opts.name, "member_id", fmt.Sprintf("%x", node.ID()),
		"data_dir", opts.dataDir, "peer_url", peerURL.String())

	select {
	case <-ctx.Done():
		log.Info("shutting down", "signal", "received")
	case err = <-errc:
		log.Error("server failed", "error", err)
	case <-node.Removed():
		err = errors.New("the member has been permanently removed from the cluster")
		log.Error("stopping", "reason", err)
	}
	shutdown(log, srv, peerSrv, node)
	return err
}

type stopper interface{ Stop() }

// shutdown stops in the house order: client gRPC (graceful with a deadline), then raft and
// the stores, then peer traffic.
func shutdown(log *slog.Logger, srv *server.Server, peer stopper, node *raftstore.Node) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	srv.Stop(ctx)
	if err := node.Close(); err != nil {
		log.Error("raft shutdown", "error", err)
	}
	peer.Stop()
	log.Info("stopped")
}

// serveMetrics serves /metrics on addr, over TLS when tlsCfg is not nil.
func serveMetrics(addr string, reg *prometheus.Registry, tlsCfg *tls.Config) error {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	s := &http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: 10 * time.Second, TLSConfig: tlsCfg}
	if tlsCfg != nil {
		return s.ListenAndServeTLS("", "")
	}
	return s.ListenAndServe()
}

func newLogger(o *options, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(o.logLevel))
	hopts := &slog.HandlerOptions{Level: level}
	if o.logFormat == "text" {
		return slog.New(slog.NewTextHandler(w, hopts))
	}
	return slog.New(slog.NewJSONHandler(w, hopts))
}
