package resourcequota

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/keeldb/keel/orchestrator/api"
	"github.com/keeldb/keel/orchestrator/informer"
	"github.com/keeldb/keel/orchestrator/registry"
	"github.com/keeldb/keel/orchestrator/workqueue"
)

// DefaultResyncPeriod is how often every quota is recomputed without a change seen
// (kube-controller-manager's --resource-quota-sync-period is 5m; Keel's objects are few).
const DefaultResyncPeriod = 30 * time.Second

// Config configures a Controller. The zero value means defaults.
type Config struct {
	// ResyncPeriod is how often every quota is recomputed; default DefaultResyncPeriod.
	ResyncPeriod time.Duration
	// Now decides whether a deleted pod still counts; default time.Now.
	Now func() time.Time
	// Logger defaults to discarding.
	Logger *slog.Logger
}

// Controller keeps ResourceQuotas' status (hard and used) in step with their namespaces.
type Controller struct {
	cli      *clientv3.Client
	log      *slog.Logger
	now      func() time.Time
	resync   time.Duration
	stores   *registry.Stores
	claims   *registry.Store[api.PersistentVolumeClaim, *api.PersistentVolumeClaim]
	quotaInf *informer.Informer[api.ResourceQuota, *api.ResourceQuota]
	podInf   *informer.Informer[api.Pod, *api.Pod]
	svcInf   *informer.Informer[api.Service, *api.Service]
	claimInf *informer.Informer[api.PersistentVolumeClaim, *api.PersistentVolumeClaim]
	queue    *workqueue.Queue[string] // quota keys "ns/name"
}

// New returns a Controller; call Run to start it.
func New(cli *clientv3.Client, cfg Config) *Controller {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if cfg.ResyncPeriod <= 0 {
		cfg.ResyncPeriod = DefaultResyncPeriod
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	st := registry.NewStores(cli, registry.Config{})
	c := &Controller{cli: cli, log: cfg.Logger.With("component", "resourcequota-controller"), now: cfg.Now,
		resync: cfg.ResyncPeriod, stores: st, claims: registry.New[api.PersistentVolumeClaim](cli, registry.Config{}),
		queue: workqueue.New[string](workqueue.Config{})}
	icfg := informer.Config{Logger: cfg.Logger}
	c.quotaInf = informer.New(cli, st.ResourceQuotas, icfg)
	c.podInf = informer.New(cli, st.Pods, icfg)
	c.svcInf = informer.New(cli, st.Services, icfg)
	c.claimInf = informer.New(cli, c.claims, icfg)

	enqueue := func(q *api.ResourceQuota) { c.queue.Add(api.KeyFunc(q)) }
	c.quotaInf.AddHandler(informer.Handler[*api.ResourceQuota]{OnAdd: enqueue, OnUpdate: func(_, q *api.ResourceQuota) { enqueue(q) }})
	c.podInf.AddHandler(namespaceHandler[*api.Pod](c))
	c.svcInf.AddHandler(namespaceHandler[*api.Service](c))
	c.claimInf.AddHandler(namespaceHandler[*api.PersistentVolumeClaim](c))
	return c
}

// namespaceHandler re-syncs the quotas of the namespace of any object that changes.
func namespaceHandler[P api.Object](c *Controller) informer.Handler[P] {
	ns := func(o P) { c.enqueueNamespace(o.Meta().Namespace) }
	return informer.Handler[P]{OnAdd: ns, OnUpdate: func(_, o P) { ns(o) }, OnDelete: ns}
}

func (c *Controller) enqueueNamespace(ns string) {
	for _, q := range c.quotaInf.Cache().List() {
		if q.Namespace == ns {
			c.queue.Add(api.KeyFunc(q))
		}
	}
}

// Run runs the controller until ctx ends, then returns nil.
func Run(ctx context.Context, cli *clientv3.Client, cfg Config) error {
	return New(cli, cfg).Run(ctx)
}

// Run runs the informers, the resync and the worker until ctx ends, then returns nil. It
// may be called once.
func (c *Controller) Run(ctx context.Context) error {
	workqueue.RunWorkers(ctx, c.queue, 1, c.sync, func(key string, err error) {
		c.log.Debug("sync failed", "resourcequota", key, "err", err)
	}, c.quotaInf, c.podInf, c.svcInf, c.claimInf, resyncSource{c})
	return nil
}

// resyncSource enqueues every quota each resync period; it is synced at once.
type resyncSource struct{ c *Controller }

func (r resyncSource) WaitForSync(context.Context) error { return nil }

func (r resyncSource) Run(ctx context.Context) error {
	t := time.NewTicker(r.c.resync)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			for _, q := range r.c.quotaInf.Cache().List() {
				r.c.queue.Add(api.KeyFunc(q))
			}
		}
	}
}

// sync recomputes the quota key's status and writes it when it changed.
func (c *Controller) sync(ctx context.Context, key string) error {
	ns, name, _ := strings.Cut(key, "/")
	q, err := c.stores.ResourceQuotas.Get(ctx, ns, name)
	if err != nil {
		if errors.Is(err, registry.ErrNotFound) {
			return nil
		}
		return err
	}
	used, err := c.usage(ctx, ns, q.Spec.Hard)
	if err != nil {
		return err
	}
	if maps.Equal(q.Status.Hard, q.Spec.Hard) && maps.Equal(q.Status.Used, used) {
		return nil
	}
	next := api.DeepCopy(q)
	next.Status = api.ResourceQuotaStatus{Hard: maps.Clone(q.Spec.Hard), Used: used}
	if len(next.Status.Hard) == 0 {
		next.Status.Hard = nil
	}
	// With q's resourceVersion: a create charged meanwhile makes this conflict, and the
	// sync is retried with its pod counted.
	_, err = c.stores.ResourceQuotas.UpdateStatus(ctx, next)
	return err
}

// usage lists, from the store, the namespace's objects of the kinds hard counts and
// returns status.used.
func (c *Controller) usage(ctx context.Context, ns string, hard api.ResourceList) (api.ResourceList, error) {
	if len(hard) == 0 {
		return nil, nil
	}
	decoded := map[string]bool{}
	counts := map[string]int64{}
	for name := range hard {
		res := countedResource(name)
		switch res {
		case "pods", "services", "persistentvolumeclaims":
			decoded[res] = true
		case "":
		default:
			prefix := registry.DefaultPrefix + "/" + res + "/" + ns + "/"
			resp, err := c.cli.Get(ctx, prefix, clientv3.WithPrefix(), clientv3.WithCountOnly())
			if err != nil {
				return nil, fmt.Errorf("resourcequota: count %s: %w", prefix, err)
			}
			counts[name] = resp.Count
		}
	}
	var objs []api.Object
	opts := registry.ListOptions{Namespace: ns}
	if decoded["pods"] {
		l, err := c.stores.Pods.List(ctx, opts)
		if err != nil {
			return nil, err
		}
		for _, o := range l.Items {
			objs = append(objs, o)
		}
	}
	if decoded["services"] {
		l, err := c.stores.Services.List(ctx, opts)
		if err != nil {
			return nil, err
		}
		for _, o := range l.Items {
			objs = append(objs, o)
		}
	}
	if decoded["persistentvolumeclaims"] {
		l, err := c.claims.List(ctx, opts)
		if err != nil {
			return nil, err
		}
		for _, o := range l.Items {
			objs = append(objs, o)
		}
	}
	return api.QuotaUsed(hard, objs, counts, c.now()), nil
}

// countedResource is the resource (plural) whose objects a quota resource name counts:
// "pods" for pods, cpu and the like, "deployments" for count/deployments.apps, "" when
// unknown.
func countedResource(name string) string {
	if rest, ok := strings.CutPrefix(name, "count/"); ok {
		res, _, _ := strings.Cut(rest, ".")
		return res
	}
	switch {
	case strings.HasPrefix(name, "services"):
		return "services"
	case name == "persistentvolumeclaims" || name == "requests.storage" || strings.Contains(name, ".storageclass.storage.k8s.io/"):
		return "persistentvolumeclaims"
	case name == "pods" || strings.HasPrefix(name, "requests.") || strings.HasPrefix(name, "limits.") ||
		name == "cpu" || name == "memory" || name == "ephemeral-storage":
		return "pods"
	case name == "configmaps", name == "secrets", name == "replicationcontrollers", name == "resourcequotas":
		return name
	}
	return ""
}
