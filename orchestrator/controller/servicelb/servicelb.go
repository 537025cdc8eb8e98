package servicelb

import (
	"context"
	"io"
	"log/slog"
	"slices"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/keeldb/keel/orchestrator/api"
	"github.com/keeldb/keel/orchestrator/informer"
	"github.com/keeldb/keel/orchestrator/registry"
	"github.com/keeldb/keel/orchestrator/workqueue"
)

// Config configures a Controller. The zero value means defaults.
type Config struct {
	// Logger defaults to discarding.
	Logger *slog.Logger
}

// Ingress returns the status.loadBalancer.ingress svc should have: one IP per Ready node's
// InternalIP, sorted, for a LoadBalancer Service; none otherwise.
func Ingress(svc *api.Service, nodes []*api.Node) []api.LoadBalancerIngress {
	if svc.Spec.Type != api.ServiceTypeLoadBalancer {
		return nil
	}
	var ips []string
	for _, n := range nodes {
		if !ready(n) {
			continue
		}
		for _, a := range n.Status.Addresses {
			if a.Type == "InternalIP" && a.Address != "" {
				ips = append(ips, a.Address)
			}
		}
	}
	slices.Sort(ips)
	ips = slices.Compact(ips)
	var out []api.LoadBalancerIngress
	for _, ip := range ips {
		out = append(out, api.LoadBalancerIngress{IP: ip})
	}
	return out
}

func ready(n *api.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == "Ready" {
			return c.Status == "True"
		}
	}
	return false
}

// Controller writes LoadBalancer Services' ingress.
type Controller struct {
	log     *slog.Logger
	stores  *registry.Stores
	svcInf  *informer.Informer[api.Service, *api.Service]
	nodeInf *informer.Informer[api.Node, *api.Node]
	queue   *workqueue.Queue[string]
}

// New returns a Controller; call Run to start it.
func New(cli *clientv3.Client, cfg Config) *Controller {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	c := &Controller{log: cfg.Logger.With("component", "servicelb-controller"), stores: registry.NewStores(cli, registry.Config{})}
	c.queue = workqueue.New[string](workqueue.Config{})
	c.svcInf = informer.New(cli, c.stores.Services, informer.Config{Logger: cfg.Logger})
	c.nodeInf = informer.New(cli, c.stores.Nodes, informer.Config{Logger: cfg.Logger})
	enqueue := func(s *api.Service) { c.queue.Add(api.KeyFunc(s)) }
	c.svcInf.AddHandler(informer.Handler[*api.Service]{OnAdd: enqueue, OnUpdate: func(_, s *api.Service) { enqueue(s) }})
	all := func(*api.Node) {
		for _, s := range c.svcInf.Cache().List() {
			if s.Spec.Type == api.ServiceTypeLoadBalancer {
				enqueue(s)
			}
		}
	}
	c.nodeInf.AddHandler(informer.Handler[*api.Node]{OnAdd: all, OnUpdate: func(_, n *api.Node) { all(n) }, OnDelete: all})
	return c
}

// Run runs the controller until ctx ends, then returns nil.
func Run(ctx context.Context, cli *clientv3.Client, cfg Config) error {
	return New(cli, cfg).Run(ctx)
}

// Run runs the informers and the worker until ctx ends, then returns nil. It may be
// called once.
func (c *Controller) Run(ctx context.Context) error {
	workqueue.RunWorkers(ctx, c.queue, 1, c.sync, func(key string, err error) {
		c.log.Debug("sync failed", "service", key, "err", err)
	}, c.svcInf, c.nodeInf)
	return nil
}

// sync writes the ingress of the Service key when it differs.
func (c *Controller) sync(ctx context.Context, key string) error {
	svc, ok := c.svcInf.Cache().Get(key)
	if !ok {
		return nil
	}
	want := Ingress(svc, c.nodeInf.Cache().List())
	if slices.Equal(svc.Status.LoadBalancer.Ingress, want) {
		return nil
	}
	next := api.DeepCopy(svc)
	next.Status.LoadBalancer.Ingress = want
	_, err := c.stores.Services.UpdateStatus(ctx, next)
	return err
}
