package endpoints

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"reflect"
	"strings"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/keeldb/keel/orchestrator/api"
	"github.com/keeldb/keel/orchestrator/informer"
	"github.com/keeldb/keel/orchestrator/labels"
	"github.com/keeldb/keel/orchestrator/registry"
	"github.com/keeldb/keel/orchestrator/workqueue"
)

// DefaultWorkers is Kubernetes' --concurrent-endpoint-syncs default.
const DefaultWorkers = 5

// Config configures a Controller. The zero value means defaults.
type Config struct {
	// Workers is the number of Services synced in parallel; default 5.
	Workers int
	// Logger defaults to discarding.
	Logger *slog.Logger
}

// Controller is the Endpoints controller.
type Controller struct {
	cfg    Config
	log    *slog.Logger
	stores *registry.Stores
	svcInf *informer.Informer[api.Service, *api.Service]
	podInf *informer.Informer[api.Pod, *api.Pod]
	epInf  *informer.Informer[api.Endpoints, *api.Endpoints]
	queue  *workqueue.Queue[string]
}

// New returns a Controller; call Run to start it.
func New(cli *clientv3.Client, cfg Config) *Controller {
	if cfg.Workers <= 0 {
		cfg.Workers = DefaultWorkers
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	c := &Controller{cfg: cfg, log: cfg.Logger.With("component", "endpoints-controller"),
		stores: registry.NewStores(cli, registry.Config{})}
	c.queue = workqueue.New[string](workqueue.Config{})
	c.svcInf = informer.New(cli, c.stores.Services, informer.Config{Logger: cfg.Logger})
	c.podInf = informer.New(cli, c.stores.Pods, informer.Config{Logger: cfg.Logger})
	c.epInf = informer.New(cli, c.stores.Endpoints, informer.Config{Logger: cfg.Logger})
	enqueue := func(s *api.Service) { c.queue.Add(api.KeyFunc(s)) }
	c.svcInf.AddHandler(informer.Handler[*api.Service]{
		OnAdd:    enqueue,
		OnUpdate: func(_, s *api.Service) { enqueue(s) },
		OnDelete: enqueue,
	})
	c.podInf.AddHandler(informer.Handler[*api.Pod]{
		OnAdd:    func(p *api.Pod) { c.enqueueServicesOf(p) },
		OnUpdate: c.podUpdated,
		OnDelete: func(p *api.Pod) { c.enqueueServicesOf(p) },
	})
	c.epInf.AddHandler(informer.Handler[*api.Endpoints]{
		// Before the first sync: every existing Endpoints, so that those whose Service was
		// deleted while no controller ran are removed (Kubernetes' checkLeftoverEndpoints).
		OnAdd: func(ep *api.Endpoints) {
			if !c.svcInf.HasSynced() || !c.epInf.HasSynced() {
				c.queue.Add(api.KeyFunc(ep))
			}
		},
		// A managed Endpoints changed by someone else is put back; our own writes cost one
		// sync that finds nothing to do.
		OnUpdate: func(_, ep *api.Endpoints) { c.enqueueIfManaged(api.KeyFunc(ep)) },
		// A managed Endpoints deleted by someone else is recreated.
		OnDelete: func(ep *api.Endpoints) { c.enqueueIfManaged(api.KeyFunc(ep)) },
	})
	return c
}

// Run runs the controller until ctx ends, then returns nil.
func Run(ctx context.Context, cli *clientv3.Client, cfg Config) error {
	return New(cli, cfg).Run(ctx)
}

// Run runs the informers and workers until ctx ends, then returns nil. It may be called
// once.
func (c *Controller) Run(ctx context.Context) error {
	workqueue.RunWorkers(ctx, c.queue, c.cfg.Workers, c.sync, c.syncFailed, c.svcInf, c.podInf, c.epInf)
	return nil
}

// syncFailed logs a failed sync before the key is retried.
func (c *Controller) syncFailed(key string, err error) {
	c.log.Debug("sync failed", "service", key, "err", err)
}

// selector returns the selector of svc, and false when svc has none (its Endpoints are
// not managed by the controller).
func selector(svc *api.Service) (labels.Selector, bool) {
	if len(svc.Spec.Selector) == 0 {
		return labels.Selector{}, false
	}
	return labels.SelectorFromSet(svc.Spec.Selector), true
}

// enqueueServicesOf queues every Service of p's namespace whose selector matches p's labels.
func (c *Controller) enqueueServicesOf(p *api.Pod) {
	for _, svc := range c.svcInf.Cache().ByIndex(informer.NamespaceIndex, p.Namespace) {
		if sel, ok := selector(svc); ok && sel.Matches(p.Labels) {
			c.queue.Add(api.KeyFunc(svc))
		}
	}
}

func (c *Controller) podUpdated(old, p *api.Pod) {
	if !maps.Equal(old.Labels, p.Labels) {
		c.enqueueServicesOf(old)
		c.enqueueServicesOf(p)
		return
	}
	if endpointChanged(old, p) {
		c.enqueueServicesOf(p)
	}
}

// endpointChanged reports whether an update of a pod, labels aside, can change any
// Endpoints: its address, readiness, eligibility, node or ports.
func endpointChanged(old, p *api.Pod) bool {
	return old.UID != p.UID || old.Status.PodIP != p.Status.PodIP || podReady(old) != podReady(p) ||
		podEligible(old) != podEligible(p) || old.Spec.NodeName != p.Spec.NodeName ||
		!reflect.DeepEqual(containerPorts(old), containerPorts(p))
}

func containerPorts(p *api.Pod) [][]api.ContainerPort {
	var out [][]api.ContainerPort
	for _, cs := range [][]api.Container{p.Spec.Containers, p.Spec.InitContainers} {
		for _, ct := range cs {
			out = append(out, ct.Ports)
		}
	}
	return out
}

// enqueueIfManaged queues key when it names a cached Service with a selector, whose
// Endpoints the controller owns.
func (c *Controller) enqueueIfManaged(key string) {
	svc, ok := c.svcInf.Cache().Get(key)
	if !ok {
		return
	}
	if _, managed := selector(svc); managed {
		c.queue.Add(key)
	}
}

// sync reconciles the Endpoints of the Service key.
func (c *Controller) sync(ctx context.Context, key string) error {
	ns, name, _ := strings.Cut(key, "/")
	svc, ok := c.svcInf.Cache().Get(key)
	if !ok {
		return c.deleteLeftover(ctx, ns, name)
	}
	sel, managed := selector(svc)
	if !managed || svc.DeletionTimestamp != nil {
		return nil
	}
	var pods []*api.Pod
	for _, p := range c.podInf.Cache().ByIndex(informer.NamespaceIndex, ns) {
		if sel.Matches(p.Labels) {
			pods = append(pods, p)
		}
	}
	subsets := Subsets(svc, pods)
	cur, exists := c.epInf.Cache().Get(key)
	if exists && upToDate(cur, subsets, svc.Labels) {
		return nil
	}
	if !exists {
		ep := &api.Endpoints{ObjectMeta: api.ObjectMeta{Namespace: ns, Name: name, Labels: maps.Clone(svc.Labels)},
			Subsets: subsets}
		if _, err := c.stores.Endpoints.Create(ctx, ep); err != nil {
			// ErrAlreadyExists: the cache lags; retry once it caught up.
			return fmt.Errorf("endpoints: create %s: %w", key, err)
		}
		c.log.Debug("created endpoints", "service", key, "subsets", len(subsets))
		return nil
	}
	next := api.DeepCopy(cur)
	next.Labels = maps.Clone(svc.Labels)
	next.Subsets = subsets
	if _, err := c.stores.Endpoints.Update(ctx, next); err != nil {
		if errors.Is(err, registry.ErrNotFound) {
			// Deleted meanwhile: its delete event queues a sync that recreates it.
			return nil
		}
		// ErrConflict: the cache lags or someone else wrote; retry with back-off.
		return fmt.Errorf("endpoints: update %s: %w", key, err)
	}
	c.log.Debug("updated endpoints", "service", key, "subsets", len(subsets))
	return nil
}

// deleteLeftover deletes the Endpoints ns/name of a Service that no longer exists. It
// deletes from the store even when the cache has no such Endpoints, because the cache may
// not show one created just before the Service went away.
func (c *Controller) deleteLeftover(ctx context.Context, ns, name string) error {
	_, err := c.stores.Endpoints.Delete(ctx, ns, name, registry.DeleteOptions{})
	if errors.Is(err, registry.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("endpoints: delete %s/%s: %w", ns, name, err)
	}
	c.log.Info("deleted endpoints of deleted service", "namespace", ns, "service", name)
	return nil
}
