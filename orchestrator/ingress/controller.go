package ingress

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/keeldb/keel/orchestrator/api"
	"github.com/keeldb/keel/orchestrator/informer"
	"github.com/keeldb/keel/orchestrator/registry"
)

// DefaultClass is the IngressClass the controller serves by default; it creates it, marked
// as the default class, when it does not exist (as k3s ships its Traefik class).
const DefaultClass = "keel"

// ControllerName is spec.controller of the IngressClass the controller creates.
const ControllerName = "keel.dev/ingress-controller"

// statusRetryInterval is how often a failed status write is retried.
const statusRetryInterval = time.Second

// Config configures a Controller.
type Config struct {
	// Listen is the HOST:PORT of the plain HTTP listener.
	Listen string
	// ListenTLS, when set, is the HOST:PORT of the HTTPS listener, with the certificates of
	// the served Ingresses' TLS Secrets chosen by server name (SNI).
	ListenTLS string
	// Secrets configures the Secrets' registry (their encryption at rest).
	Secrets registry.Config
	// Class is the IngressClass name served (default DefaultClass).
	Class string
	// Logger defaults to discarding.
	Logger *slog.Logger
}

// Controller serves the Ingresses of one IngressClass: an HTTP reverse proxy routing each
// request by host and path (Router) to a ready endpoint of the backend Service.
type Controller struct {
	cfg      Config
	log      *slog.Logger
	ingStore *registry.Store[api.Ingress, *api.Ingress]
	clsStore *registry.Store[api.IngressClass, *api.IngressClass]
	ingInf   *informer.Informer[api.Ingress, *api.Ingress]
	clsInf   *informer.Informer[api.IngressClass, *api.IngressClass]
	svcInf   *informer.Informer[api.Service, *api.Service]
	epInf    *informer.Informer[api.Endpoints, *api.Endpoints]
	secInf   *informer.Informer[api.Secret, *api.Secret] // nil without ListenTLS
	certs    atomic.Pointer[Certificates]
	changed  chan struct{}
	router   atomic.Pointer[Router]
	proxy    *httputil.ReverseProxy
}

type backendKey struct{}

// New returns a Controller; call Run to start it.
func New(cli *clientv3.Client, cfg Config) *Controller {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if cfg.Class == "" {
		cfg.Class = DefaultClass
	}
	c := &Controller{cfg: cfg, log: cfg.Logger.With("component", "ingress-controller", "class", cfg.Class),
		changed: make(chan struct{}, 1)}
	icfg := informer.Config{Logger: cfg.Logger}
	rcfg := registry.Config{}
	c.ingStore = registry.New[api.Ingress](cli, rcfg)
	c.clsStore = registry.New[api.IngressClass](cli, rcfg)
	c.ingInf = informer.New(cli, c.ingStore, icfg)
	c.clsInf = informer.New(cli, c.clsStore, icfg)
	c.svcInf = informer.New(cli, registry.New[api.Service](cli, rcfg), icfg)
	c.epInf = informer.New(cli, registry.New[api.Endpoints](cli, rcfg), icfg)
	addNotify(c.ingInf, c.notify)
	addNotify(c.clsInf, c.notify)
	addNotify(c.svcInf, c.notify)
	addNotify(c.epInf, c.notify)
	if cfg.ListenTLS != "" {
		c.secInf = informer.New(cli, registry.New[api.Secret](cli, cfg.Secrets), icfg)
		addNotify(c.secInf, c.notify)
	}
	c.router.Store(Build(nil, nil, nil))
	c.certs.Store(BuildCertificates(nil, nil))
	c.proxy = &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			addr := r.In.Context().Value(backendKey{}).(string)
			r.Out.URL.Scheme = "http"
			r.Out.URL.Host = addr
			r.Out.Host = r.In.Host
			r.SetXForwarded()
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			c.log.Debug("backend failed", "host", r.Host, "path", r.URL.Path, "err", err)
			http.Error(w, "502 Bad Gateway", http.StatusBadGateway)
		},
	}
	return c
}

func addNotify[T any, P registry.ObjectPtr[T]](inf *informer.Informer[T, P], notify func()) {
	inf.AddHandler(informer.Handler[P]{
		OnAdd:    func(P) { notify() },
		OnUpdate: func(_, _ P) { notify() },
		OnDelete: func(P) { notify() },
	})
}

func (c *Controller) notify() {
	select {
	case c.changed <- struct{}{}:
	default:
	}
}

// Run creates the default IngressClass if missing, listens on cfg.Listen (and
// cfg.ListenTLS), and serves until
// ctx ends; it then stops the listener, waits for its goroutines and returns nil. A failed
// listen is returned.
func (c *Controller) Run(ctx context.Context) error {
	ln, err := net.Listen("tcp", c.cfg.Listen)
	if err != nil {
		return err
	}
	servers := []*http.Server{{Handler: c, ReadHeaderTimeout: 10 * time.Second}}
	listeners := []net.Listener{ln}
	runs := []func(context.Context) error{c.ingInf.Run, c.clsInf.Run, c.svcInf.Run, c.epInf.Run}
	if c.cfg.ListenTLS != "" {
		tln, err := net.Listen("tcp", c.cfg.ListenTLS)
		if err != nil {
			_ = ln.Close()
			return err
		}
		tcfg := &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: func(h *tls.ClientHelloInfo) (*tls.Certificate, error) {
			if cert := c.certs.Load().Get(h.ServerName); cert != nil {
				return cert, nil
			}
			return nil, fmt.Errorf("no certificate for %q", h.ServerName)
		}}
		servers = append(servers, &http.Server{Handler: c, ReadHeaderTimeout: 10 * time.Second})
		listeners = append(listeners, tls.NewListener(tln, tcfg))
		runs = append(runs, c.secInf.Run)
		c.log.Info("listening", "listen_tls", tln.Addr().String())
	}
	c.ensureClass(ctx)
	var wg sync.WaitGroup
	for i, srv := range servers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := srv.Serve(listeners[i]); err != nil && !errors.Is(err, http.ErrServerClosed) {
				c.log.Error("serve failed", "err", err)
			}
		}()
	}
	for _, run := range runs {
		wg.Add(1)
		go func() { defer wg.Done(); _ = run(ctx) }()
	}
	c.log.Info("listening", "listen", ln.Addr().String())
	if c.ingInf.WaitForSync(ctx) == nil && c.clsInf.WaitForSync(ctx) == nil &&
		c.svcInf.WaitForSync(ctx) == nil && c.epInf.WaitForSync(ctx) == nil &&
		(c.secInf == nil || c.secInf.WaitForSync(ctx) == nil) {
		c.loop(ctx, statusIP(ln.Addr()))
	}
	shutCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	for _, srv := range servers {
		_ = srv.Shutdown(shutCtx)
		_ = srv.Close()
	}
	cancel()
	wg.Wait()
	return nil
}

// statusIP is the IP written to the served Ingresses' status: the listen address's, or
// 127.0.0.1 when it listens on every address.
func statusIP(addr net.Addr) string {
	ap, err := netip.ParseAddrPort(addr.String())
	if err != nil || ap.Addr().IsUnspecified() {
		return "127.0.0.1"
	}
	return ap.Addr().Unmap().String()
}

// ensureClass creates the IngressClass cfg.Class, marked default, when it does not exist.
func (c *Controller) ensureClass(ctx context.Context) {
	cls := &api.IngressClass{ObjectMeta: api.ObjectMeta{Name: c.cfg.Class,
		Annotations: map[string]string{api.AnnotationIsDefaultIngressClass: "true"}},
		Spec: api.IngressClassSpec{Controller: ControllerName}}
	if _, err := c.clsStore.Create(ctx, cls); err == nil {
		c.log.Info("created the default IngressClass")
	} else if !errors.Is(err, registry.ErrAlreadyExists) {
		c.log.Warn("cannot create the IngressClass", "err", err)
	}
}

// loop rebuilds the router and writes the served Ingresses' status after every change,
// until ctx ends.
func (c *Controller) loop(ctx context.Context, ip string) {
	retry := time.NewTimer(statusRetryInterval)
	defer retry.Stop()
	for {
		served := Served(c.ingInf.Cache().List(), c.clsInf.Cache().List(), c.cfg.Class)
		c.router.Store(Build(served, c.svcInf.Cache().List(), c.epInf.Cache().List()))
		if c.secInf != nil {
			c.certs.Store(BuildCertificates(served, c.secInf.Cache().List()))
		}
		if c.writeStatus(ctx, served, ip) {
			retry.Reset(statusRetryInterval)
		} else {
			retry.Stop()
		}
		select {
		case <-ctx.Done():
			return
		case <-c.changed:
		case <-retry.C:
		}
	}
}

// writeStatus sets status.loadBalancer.ingress of the served Ingresses to ip; it reports
// whether some write failed.
func (c *Controller) writeStatus(ctx context.Context, served []*api.Ingress, ip string) bool {
	want := []api.LoadBalancerIngress{{IP: ip}}
	failed := false
	for _, ing := range served {
		if slices.Equal(ing.Status.LoadBalancer.Ingress, want) {
			continue
		}
		_, err := c.ingStore.GuaranteedUpdate(ctx, ing.Namespace, ing.Name, func(cur *api.Ingress) (*api.Ingress, error) {
			cur.Status.LoadBalancer.Ingress = want
			return cur, nil
		})
		if err != nil && !errors.Is(err, registry.ErrNotFound) && ctx.Err() == nil {
			c.log.Warn("status update failed", "ingress", ing.Namespace+"/"+ing.Name, "err", err)
			failed = true
		}
	}
	return failed
}

// Served returns the Ingresses of class: those naming it in spec.ingressClassName, and
// those naming none when the IngressClass class exists and is marked default.
func Served(ingresses []*api.Ingress, classes []*api.IngressClass, class string) []*api.Ingress {
	isDefault := slices.ContainsFunc(classes, func(c *api.IngressClass) bool { return c.Name == class && c.IsDefault() })
	var out []*api.Ingress
	for _, ing := range ingresses {
		if n := ing.Spec.IngressClassName; (n != nil && *n == class) || (n == nil && isDefault) {
			out = append(out, ing)
		}
	}
	return out
}

// ServeHTTP routes r: 404 without a matching rule or default backend, 503 when the backend
// has no ready endpoint (as ingress-nginx answers), else a reverse proxy to the next ready
// endpoint.
func (c *Controller) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, ok := c.router.Load().Route(r.Host, r.URL.Path)
	if !ok {
		http.Error(w, "default backend - 404", http.StatusNotFound)
		return
	}
	addr, ok := b.Pick()
	if !ok {
		http.Error(w, "503 Service Temporarily Unavailable", http.StatusServiceUnavailable)
		return
	}
	c.proxy.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), backendKey{}, addr)))
}
