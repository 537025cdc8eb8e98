package proxy

import (
	"cmp"
	"context"
	"errors"
	"io"
	"log/slog"
	"maps"
	"net"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/keeldb/keel/orchestrator/api"
	"github.com/keeldb/keel/orchestrator/informer"
	"github.com/keeldb/keel/orchestrator/registry"
)

const (
	// listenRetryInterval is how often listens that failed (port in use) are retried.
	listenRetryInterval = time.Second
	// dialTimeout bounds each connection attempt to an endpoint.
	dialTimeout = 5 * time.Second
	// maxAcceptBackoff caps the pause after a failed Accept (e.g. out of file descriptors).
	maxAcceptBackoff = time.Second
)

// Config configures a Proxy. The zero value means defaults.
type Config struct {
	// Address is the node's IP address, where the proxy serves every TCP service port's
	// number and node port; "" listens on all addresses. Cluster IPs are served besides.
	Address string
	// Logger defaults to discarding.
	Logger *slog.Logger
}

// Proxy is a userspace service proxy: one listener per TCP service port, forwarding each
// connection to the next ready endpoint. See the package doc.
type Proxy struct {
	cfg    Config
	log    *slog.Logger
	svcInf *informer.Informer[api.Service, *api.Service]
	epInf  *informer.Informer[api.Endpoints, *api.Endpoints]
	// changed holds a token when the Services changed since the last reconcile.
	changed chan struct{}
	// conns counts the connection handlers; Add is only called by a listener's accept
	// loop, which Run waits for before waiting on conns.
	conns sync.WaitGroup
	// sticky holds the ClientIP session affinity of every service port.
	sticky affinity
}

// portKey names one port of one Service.
type portKey struct {
	namespace, service, port string // port is the service port's name, "" when unnamed
}

func (k portKey) serviceKey() string { return k.namespace + "/" + k.service }

func comparePortKeys(a, b portKey) int {
	return cmp.Or(cmp.Compare(a.namespace, b.namespace), cmp.Compare(a.service, b.service), cmp.Compare(a.port, b.port))
}

// listener serves one service port on one address.
type listener struct {
	key      portKey
	addr     string
	affinity time.Duration // ClientIP affinity timeout, 0 = none
	ln       net.Listener
	// next counts the connections accepted, for round-robin.
	next atomic.Uint64
	// done is closed when the accept loop has returned.
	done chan struct{}
}

// New returns a Proxy; call Run to start it.
func New(cli *clientv3.Client, cfg Config) *Proxy {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	stores := registry.NewStores(cli, registry.Config{})
	p := &Proxy{cfg: cfg, log: cfg.Logger.With("component", "proxy", "address", cfg.Address),
		changed: make(chan struct{}, 1)}
	p.svcInf = informer.New(cli, stores.Services, informer.Config{Logger: cfg.Logger})
	p.epInf = informer.New(cli, stores.Endpoints, informer.Config{Logger: cfg.Logger})
	p.svcInf.AddHandler(informer.Handler[*api.Service]{
		OnAdd:    func(*api.Service) { p.notify() },
		OnUpdate: func(_, _ *api.Service) { p.notify() },
		OnDelete: func(*api.Service) { p.notify() },
	})
	return p
}

// Run runs a proxy until ctx ends, then returns nil; see Proxy.Run.
func Run(ctx context.Context, cli *clientv3.Client, cfg Config) error {
	return New(cli, cfg).Run(ctx)
}

// Run watches Services and Endpoints and serves the service ports until ctx ends. It then
// closes every listener and every proxied connection, waits for all its goroutines and
// returns nil. It may be called once.
func (p *Proxy) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for _, run := range []func(context.Context) error{p.svcInf.Run, p.epInf.Run} {
		wg.Add(1)
		go func() { defer wg.Done(); _ = run(ctx) }()
	}
	listeners := map[listenKey]*listener{}
	if p.svcInf.WaitForSync(ctx) == nil && p.epInf.WaitForSync(ctx) == nil {
		p.loop(ctx, listeners)
	}
	for _, l := range listeners {
		p.closeListener(l)
	}
	p.conns.Wait()
	wg.Wait()
	return nil
}

func (p *Proxy) notify() {
	select {
	case p.changed <- struct{}{}:
	default:
	}
}

// loop reconciles the listeners with the Services after every change, and retries failed
// listens every listenRetryInterval, until ctx ends.
func (p *Proxy) loop(ctx context.Context, listeners map[listenKey]*listener) {
	retry := time.NewTimer(listenRetryInterval)
	defer retry.Stop()
	failing := map[listenKey]bool{} // ports whose last listen failed, to log only the first failure
	for {
		if p.reconcile(ctx, listeners, failing) {
			retry.Reset(listenRetryInterval)
		} else {
			retry.Stop()
		}
		select {
		case <-ctx.Done():
			return
		case <-p.changed:
		case <-retry.C:
		}
	}
}

// desired returns the addresses to serve for the cached Services (serviceListens), with
// their ClientIP affinity timeouts.
func (p *Proxy) desired() map[listenKey]time.Duration {
	out := map[listenKey]time.Duration{}
	for _, svc := range p.svcInf.Cache().List() {
		maps.Copy(out, serviceListens(svc, p.cfg.Address))
	}
	return out
}

// reconcile closes the listeners of addresses no longer served (or whose affinity
// changed), then opens the missing ones in key order (so that of two Services claiming one
// node port number the first keeps it). It reports whether some listen failed.
func (p *Proxy) reconcile(ctx context.Context, listeners map[listenKey]*listener, failing map[listenKey]bool) bool {
	want := p.desired()
	for key, l := range listeners {
		if aff, ok := want[key]; !ok || aff != l.affinity {
			p.closeListener(l)
			delete(listeners, key)
		}
	}
	for key := range failing {
		if _, ok := want[key]; !ok {
			delete(failing, key)
		}
	}
	keys := make([]listenKey, 0, len(want))
	for key := range want {
		if listeners[key] == nil {
			keys = append(keys, key)
		}
	}
	slices.SortFunc(keys, func(a, b listenKey) int {
		return cmp.Or(comparePortKeys(a.portKey, b.portKey), cmp.Compare(a.addr, b.addr))
	})
	for _, key := range keys {
		host, _, _ := net.SplitHostPort(key.addr)
		ln, err := listen(ctx, key.addr, host != p.cfg.Address)
		if err != nil {
			if !failing[key] {
				p.log.Warn("listen failed, retrying", "service", key.serviceKey(), "port_name", key.port,
					"listen", key.addr, "err", err)
			}
			failing[key] = true
			continue
		}
		delete(failing, key)
		l := &listener{key: key.portKey, addr: key.addr, affinity: want[key], ln: ln, done: make(chan struct{})}
		listeners[key] = l
		p.log.Info("listening", "service", key.serviceKey(), "port_name", key.port, "listen", l.addr)
		go p.accept(ctx, l)
	}
	return len(failing) > 0
}

// closeListener closes l and waits for its accept loop; connections already accepted keep
// running.
func (p *Proxy) closeListener(l *listener) {
	_ = l.ln.Close()
	<-l.done
	p.log.Info("stopped listening", "service", l.key.serviceKey(), "port_name", l.key.port, "listen", l.addr)
}

// accept hands every connection accepted on l to a handler until l is closed.
func (p *Proxy) accept(ctx context.Context, l *listener) {
	defer close(l.done)
	backoff := 5 * time.Millisecond
	for {
		c, err := l.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			p.log.Debug("accept failed", "listen", l.addr, "err", err, "backoff", backoff)
			t := time.NewTimer(backoff)
			select {
			case <-ctx.Done():
			case <-t.C:
			}
			t.Stop()
			backoff = min(2*backoff, maxAcceptBackoff)
			continue
		}
		backoff = 5 * time.Millisecond
		p.conns.Add(1)
		go func() {
			defer p.conns.Done()
			p.handle(ctx, l, c)
		}()
	}
}

// backends returns the "ip:port" of the ready endpoints of key, in the Endpoints' order:
// the addresses (not notReadyAddresses) of every subset having a TCP port named like the
// service port, with that port's number.
func (p *Proxy) backends(key portKey) []string {
	ep, ok := p.epInf.Cache().Get(key.serviceKey())
	if !ok {
		return nil
	}
	return readyAddrs(ep, key.port)
}

// readyAddrs returns the "ip:port" of the ready endpoints of ep for the service port named
// portName ("" for an unnamed port): the addresses of every subset having a TCP port of
// that name, with that port's number, in subset and address order.
func readyAddrs(ep *api.Endpoints, portName string) []string {
	var out []string
	for _, s := range ep.Subsets {
		for _, port := range s.Ports {
			if port.Name != portName || protocolOr(port.Protocol) != "TCP" {
				continue
			}
			for _, a := range s.Addresses {
				out = append(out, net.JoinHostPort(a.IP, strconv.Itoa(int(port.Port))))
			}
			break
		}
	}
	return out
}

func protocolOr(proto string) string {
	if proto == "" {
		return "TCP"
	}
	return proto
}
