package server

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"math"
	"net"
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"golang.org/x/crypto/bcrypt"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/protobuf/proto"

	keelpb "github.com/keeldb/keel/api/proto"
	"github.com/keeldb/keel/apply"
	"github.com/keeldb/keel/raftstore"
	"github.com/keeldb/keel/watch"

	"github.com/prometheus/client_golang/prometheus"
)

// Version is the etcd version Keel reports in Status and /version. Kubernetes gates
// watch-progress features on it (>= 3.5.13), so it names the etcd API level Keel implements.
const Version = "3.6.0"

// Config configures a Server. Zero values mean etcd's defaults.
type Config struct {
	// MaxRequestBytes is etcd's --max-request-bytes. Default 1.5 MiB.
	MaxRequestBytes int
	// MaxTxnOps is etcd's --max-txn-ops. Default 128.
	MaxTxnOps int
	// RequestTimeout bounds a write or a linearizable read. Default 7s.
	RequestTimeout time.Duration
	// QuotaBackendBytes is etcd's --quota-backend-bytes: writes that would take the backend
	// past it raise a NOSPACE alarm and are refused (see quota.go); reported as
	// Status.dbSizeQuota. Default 2 GiB.
	QuotaBackendBytes int64
	// Logger receives logs; nil discards.
	Logger *slog.Logger
	// Registerer receives the server's metrics; nil registers nowhere.
	Registerer prometheus.Registerer
	// Gatherer is served on /metrics; nil serves an empty page.
	Gatherer prometheus.Gatherer
	// Pprof serves runtime profiles under /debug/pprof (etcd's --enable-pprof).
	Pprof bool
	// ElectionTimeout paces the no-leader check of hasleader streams. Default 1s.
	ElectionTimeout time.Duration
	// WatchProgressInterval is the periodic progress-notify interval. Default 10 minutes.
	WatchProgressInterval time.Duration
	// AutoCompaction is etcd's --auto-compaction-mode/--auto-compaction-retention.
	AutoCompaction CompactionPolicy
	// UnsafeLocalLinearizableReads is a TEST-ONLY fault: linearizable reads skip the read
	// index and serve local state like serializable ones, so they can be stale. It exists so
	// that tests/chaos can prove its linearizability checker catches stale reads. Never set
	// it in production.
	UnsafeLocalLinearizableReads bool
	// UnsafeDropWatchEvents is a TEST-ONLY fault that breaks the watch guarantees: every
	// unsafeDropEvery-th watch response with events loses its first event. It exists so that
	// tests/robustness can prove its watch checks catch a dropped event. Never set it in
	// production.
	UnsafeDropWatchEvents bool
	// BcryptCost is the bcrypt cost of the password hashes this member proposes
	// (--bcrypt-cost); 0 means bcrypt.DefaultCost (10), as etcd's.
	BcryptCost int
	// ClientCertAuth (--client-cert-auth) makes a verified client certificate's common name
	// the user of a request that carries no token while auth is enabled, as etcd does.
	ClientCertAuth bool
}

// unsafeDropEvery paces Config.UnsafeDropWatchEvents.
const unsafeDropEvery = 16

func (c *Config) applyDefaults() {
	if c.MaxRequestBytes == 0 {
		c.MaxRequestBytes = 3 * 512 * 1024
	}
	if c.MaxTxnOps == 0 {
		c.MaxTxnOps = 128
	}
	if c.RequestTimeout == 0 {
		c.RequestTimeout = 7 * time.Second
	}
	if c.QuotaBackendBytes == 0 {
		c.QuotaBackendBytes = 2 << 30
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.ElectionTimeout == 0 {
		c.ElectionTimeout = time.Second
	}
	if c.BcryptCost == 0 {
		c.BcryptCost = bcrypt.DefaultCost
	}
}

// grpcOverheadBytes is what etcd adds to --max-request-bytes for gRPC's receive limit.
const grpcOverheadBytes = 512 * 1024

// Server serves the etcd v3 API of one member. Safe for concurrent use.
type Server struct {
	cfg     Config
	node    *raftstore.Node
	log     *slog.Logger
	grpc    *grpc.Server
	http    *http.Server
	metrics *metrics
	hub     *watch.Hub

	runOnce sync.Once
	stopHub context.CancelFunc
	hubDone chan struct{}

	// eventResponses counts watch responses with events, for Config.UnsafeDropWatchEvents.
	eventResponses atomic.Int64
	bcryptSem      chan struct{} // see acquireBcrypt

	mu sync.Mutex
	// guarded by mu
	listeners []net.Listener
}

// New builds the gRPC and HTTP servers for node. Serve starts them on a listener.
func New(cfg Config, node *raftstore.Node) *Server {
	cfg.applyDefaults()
	s := &Server{cfg: cfg, node: node, log: cfg.Logger.With("component", "server"),
		bcryptSem: make(chan struct{}, max(1, runtime.GOMAXPROCS(0)/2))}
	node.SetBackendQuota(cfg.QuotaBackendBytes)
	s.metrics = newMetrics(cfg.Registerer, node)
	s.hub = watch.New(watch.Config{ProgressInterval: cfg.WatchProgressInterval, Logger: cfg.Logger},
		storeHistory{node.Store()}, 0)
	s.hub.Advance(node.Subscribe(s.notify, s.hub.Restored))
	s.grpc = grpc.NewServer(
		grpc.NumStreamWorkers(streamWorkers),
		grpc.Creds(connInfoCreds{}),
		grpc.MaxRecvMsgSize(cfg.MaxRequestBytes+grpcOverheadBytes),
		grpc.MaxSendMsgSize(math.MaxInt32),
		grpc.MaxConcurrentStreams(math.MaxUint32),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 5 * time.Second}),
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: 2 * time.Hour, Timeout: 20 * time.Second}),
		grpc.ChainUnaryInterceptor(s.metrics.unaryInterceptor, s.unaryLeaderInterceptor, s.unaryAuthInterceptor),
		grpc.ChainStreamInterceptor(s.metrics.streamInterceptor, s.streamLeaderInterceptor, s.streamAuthInterceptor),
	)
	pb.RegisterKVServer(s.grpc, &kvServer{s: s})
	pb.RegisterWatchServer(s.grpc, &watchServer{s: s})
	pb.RegisterLeaseServer(s.grpc, &leaseServer{s: s})
	pb.RegisterClusterServer(s.grpc, &clusterServer{s: s})
	pb.RegisterMaintenanceServer(s.grpc, &maintenanceServer{s: s})
	pb.RegisterAuthServer(s.grpc, &authServer{s: s})
	hs := health.NewServer()
	hs.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	healthpb.RegisterHealthServer(s.grpc, hs)
	s.http = &http.Server{Handler: s.httpHandler(), ReadHeaderTimeout: 10 * time.Second}
	return s
}

// Serve serves gRPC (HTTP/2) and HTTP/1 on ln until Stop. It returns nil after Stop.
func (s *Server) Serve(ln net.Listener) error {
	s.runOnce.Do(func() {
		ctx, cancel := context.WithCancel(context.Background())
		s.stopHub, s.hubDone = cancel, make(chan struct{})
		go func() {
			defer close(s.hubDone)
			if s.cfg.AutoCompaction.Mode != "" {
				c := &compactor{policy: s.cfg.AutoCompaction, node: s.node, log: s.log, now: time.Now}
				go c.run(ctx)
			}
			s.hub.Run(ctx)
		}()
	})
	s.mu.Lock()
	s.listeners = append(s.listeners, ln)
	s.mu.Unlock()
	m := newClientMux(ln)
	errc := make(chan error, 2)
	go func() { errc <- ignoreClosed(s.grpc.Serve(m.grpc)) }()
	go func() { errc <- ignoreClosed(s.http.Serve(m.http)) }()
	go m.serve()
	err := <-errc
	if err2 := <-errc; err == nil {
		err = err2
	}
	return err
}

// ServeTLS serves like Serve on an https client URL: connections to ln run TLS with cfg
// (its certificates, and ClientCAs with ClientAuth for client-certificate authentication),
// and gRPC (HTTP/2) and HTTP/1 are then told apart inside the session. A client that fails
// the handshake (no certificate, or one cfg does not trust) is disconnected. It returns nil
// after Stop.
func (s *Server) ServeTLS(ln net.Listener, cfg *tls.Config) error {
	return s.Serve(tls.NewListener(ln, clientTLSConfig(cfg)))
}

// Stop stops serving: gRPC calls in flight get until ctx ends to finish, then the
// connections are closed.
func (s *Server) Stop(ctx context.Context) {
	s.mu.Lock()
	for _, ln := range s.listeners {
		_ = ln.Close()
	}
	s.mu.Unlock()
	done := make(chan struct{})
	go func() {
		s.grpc.GracefulStop()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		s.grpc.Stop()
	}
	_ = s.http.Shutdown(ctx)
	if s.stopHub != nil {
		s.stopHub()
		<-s.hubDone
	}
}

// notify hands applied events to the watch hub (on the apply goroutine; never blocks).
func (s *Server) notify(rev int64, evs []mvccpb.Event) {
	ptrs := make([]*mvccpb.Event, len(evs))
	for i := range evs {
		ptrs[i] = &evs[i]
	}
	s.hub.Notify(rev, ptrs)
}

func ignoreClosed(err error) error {
	if err == nil || errors.Is(err, net.ErrClosed) || errors.Is(err, http.ErrServerClosed) ||
		errors.Is(err, grpc.ErrServerStopped) {
		return nil
	}
	return err
}

// streamWorkers is how many goroutines each gRPC server keeps to run requests. A request
// that finds none idle gets a goroutine of its own, as without workers; with them most
// requests run on a goroutine whose stack has already grown (starting a goroutine per request
// and growing its stack was 3-4% of a member's CPU under put load).
const streamWorkers = 128

// NewPeerServer returns the gRPC server for the Peer service on the peer listener. It also
// carries etcd's Maintenance service with HashKV alone, which members call for the
// corruption checks (raftstore.Node.InitialCorruptCheck and the leader's periodic check).
func NewPeerServer(node *raftstore.Node) *grpc.Server {
	g := grpc.NewServer(grpc.NumStreamWorkers(streamWorkers), grpc.MaxRecvMsgSize(math.MaxInt32),
		grpc.MaxSendMsgSize(math.MaxInt32))
	keelpb.RegisterPeerServer(g, node.PeerService())
	pb.RegisterMaintenanceServer(g, &peerHashServer{node: node})
	node.RegisterCompactHashService(g)
	return g
}

// peerHashServer is the Maintenance service on the peer listener: HashKV only.
type peerHashServer struct {
	pb.UnimplementedMaintenanceServer
	node *raftstore.Node
}

// HashKV hashes this member's MVCC history up to r.Revision (see maintenanceServer.HashKV).
func (p *peerHashServer) HashKV(_ context.Context, r *pb.HashKVRequest) (*pb.HashKVResponse, error) {
	h, hashRev, compactRev, err := p.node.Store().HashKV(r.Revision)
	if err != nil {
		return nil, toGRPCError(err)
	}
	return &pb.HashKVResponse{Header: &pb.ResponseHeader{MemberId: p.node.ID()}, Hash: h,
		CompactRevision: compactRev, HashRevision: hashRev}, nil
}

func (s *Server) limits() apply.Limits {
	return apply.Limits{MaxTxnOps: s.cfg.MaxTxnOps, MaxRequestBytes: s.cfg.MaxRequestBytes}
}

// checkWrite returns the gRPC error for an invalid or oversized write, or nil.
func (s *Server) checkWrite(r proto.Message, validation error) error {
	if validation != nil {
		return toGRPCError(validation)
	}
	if proto.Size(r) > s.cfg.MaxRequestBytes {
		return rpctypes.ErrGRPCRequestTooLarge
	}
	return nil
}

func (s *Server) requestContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, s.cfg.RequestTimeout)
}

// linearize waits until local state reflects every write acknowledged before the call.
// readBarrier makes local state fit for a read: a read index for a linearizable read, the
// member's own acknowledged writes for a serializable one.
func (s *Server) readBarrier(ctx context.Context, serializable bool) error {
	if !serializable && !s.cfg.UnsafeLocalLinearizableReads {
		return s.linearize(ctx)
	}
	ctx, cancel := s.requestContext(ctx)
	defer cancel()
	return s.node.SerializableBarrier(ctx)
}

func (s *Server) linearize(ctx context.Context) error {
	ctx, cancel := s.requestContext(ctx)
	defer cancel()
	return s.node.LinearizableBarrier(ctx)
}
