package garbagecollector

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/keeldb/keel/orchestrator/api"
	"github.com/keeldb/keel/orchestrator/informer"
	"github.com/keeldb/keel/orchestrator/registry"
	"github.com/keeldb/keel/orchestrator/workqueue"
)

// DefaultWorkers is the number of objects checked in parallel by default.
const DefaultWorkers = 5

// Config configures a Controller. The zero value means defaults.
type Config struct {
	// Workers is the number of objects checked in parallel; default 5.
	Workers int
	// Now is the registry's clock; default time.Now.
	Now func() time.Time
	// Logger defaults to discarding.
	Logger *slog.Logger
}

// Controller is the garbage collector.
type Controller struct {
	cfg   Config
	log   *slog.Logger
	queue *workqueue.Queue[objectRef]
	// watched maps a kind to its informer-backed resource; fixed after New.
	watched map[string]resource
	// getters maps every kind to a store read, for owners of kinds not watched; fixed
	// after New.
	getters map[string]getter
}

// objectRef names a watched object.
type objectRef struct {
	Kind, Namespace, Name string
}

func (r objectRef) String() string {
	if r.Namespace == "" {
		return r.Kind + " " + r.Name
	}
	return r.Kind + " " + r.Namespace + "/" + r.Name
}

func refOf(obj api.Object) objectRef {
	return objectRef{Kind: api.ResourceOf(obj).Kind, Namespace: obj.Meta().Namespace, Name: obj.Meta().Name}
}

// New returns a Controller; call Run to start it.
func New(cli *clientv3.Client, cfg Config) *Controller {
	if cfg.Workers <= 0 {
		cfg.Workers = DefaultWorkers
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	c := &Controller{cfg: cfg, log: cfg.Logger.With("component", "garbage-collector"),
		queue: workqueue.New[objectRef](workqueue.Config{})}
	s := registry.NewStores(cli, registry.Config{Now: cfg.Now})
	ic := informer.Config{Logger: cfg.Logger}
	c.watched = map[string]resource{
		"Deployment": newWatched(cli, s.Deployments, ic, c),
		"ReplicaSet": newWatched(cli, s.ReplicaSets, ic, c),
		"Pod":        newWatched(cli, s.Pods, ic, c),
		"Service":    newWatched(cli, s.Services, ic, c),
		"Endpoints":  newWatched(cli, s.Endpoints, ic, c),
		"Job":        newWatched(cli, s.Jobs, ic, c),
		"CronJob":    newWatched(cli, s.CronJobs, ic, c),

		"DaemonSet":   newWatched(cli, s.DaemonSets, ic, c),
		"StatefulSet": newWatched(cli, s.StatefulSets, ic, c),
	}
	c.getters = map[string]getter{
		"Namespace": get(s.Namespaces), "Node": get(s.Nodes), "Pod": get(s.Pods), "Service": get(s.Services),
		"Endpoints": get(s.Endpoints), "Event": get(s.Events), "ReplicaSet": get(s.ReplicaSets),
		"Deployment": get(s.Deployments), "Lease": get(s.Leases),
		"Job": get(s.Jobs), "CronJob": get(s.CronJobs),
		"DaemonSet": get(s.DaemonSets), "StatefulSet": get(s.StatefulSets),
	}
	return c
}

// Run runs the controller until ctx ends, then returns nil.
func Run(ctx context.Context, cli *clientv3.Client, cfg Config) error {
	return New(cli, cfg).Run(ctx)
}

// Run runs the informers and workers until ctx ends, then returns nil. It may be called
// once.
func (c *Controller) Run(ctx context.Context) error {
	sources := make([]workqueue.Source, 0, len(c.watched))
	for _, r := range c.watched {
		sources = append(sources, r)
	}
	workqueue.RunWorkers(ctx, c.queue, c.cfg.Workers, c.process, c.checkFailed, sources...)
	return nil
}

// checkFailed logs a failed check before the object is retried.
func (c *Controller) checkFailed(ref objectRef, err error) {
	c.log.Debug("check failed", "object", ref.String(), "err", err)
}

// added queues objects that have owners: at start (the first list) every one of them is
// checked, which catches owners deleted while the collector was down.
func (c *Controller) added(obj api.Object) {
	if len(obj.Meta().OwnerReferences) > 0 {
		c.queue.Add(refOf(obj))
	}
}

func (c *Controller) updated(old, obj api.Object) {
	if len(obj.Meta().OwnerReferences) > 0 && !sameOwners(old.Meta().OwnerReferences, obj.Meta().OwnerReferences) {
		c.queue.Add(refOf(obj))
	}
}

// deleted queues the dependents of a deleted object.
func (c *Controller) deleted(obj api.Object) {
	uid := obj.Meta().UID
	if uid == "" {
		return
	}
	for _, r := range c.watched {
		for _, d := range r.dependents(uid) {
			c.queue.Add(refOf(d))
		}
	}
}

func sameOwners(a, b []api.OwnerReference) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].UID != b[i].UID {
			return false
		}
	}
	return true
}

// process checks one object's owners: when none of them exists any more the object is
// deleted; when some do, the dangling references are removed.
func (c *Controller) process(ctx context.Context, ref objectRef) error {
	r := c.watched[ref.Kind]
	obj, ok := r.cached(ref.Namespace, ref.Name)
	if !ok || len(obj.Meta().OwnerReferences) == 0 {
		return nil
	}
	dangling, solid, err := c.classify(ctx, obj)
	if err != nil || len(dangling) == 0 {
		return err
	}
	m := obj.Meta()
	if solid > 0 {
		if err := r.removeOwners(ctx, m.Namespace, m.Name, m.UID, dangling); err != nil {
			return fmt.Errorf("remove dangling owner references of %s: %w", ref, err)
		}
		c.log.Info("removed dangling owner references", "object", ref.String(), "count", len(dangling))
		return nil
	}
	// Every owner is gone. Re-read the object: delete it only if it is still the same one
	// with no other owner (someone may have orphaned it or added an owner meanwhile), and
	// only at the version read.
	cur, err := r.fetch(ctx, m.Namespace, m.Name)
	if errors.Is(err, registry.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	cm := cur.Meta()
	if cm.UID != m.UID {
		return nil // replaced; the new object's own add event queues it
	}
	for _, o := range cm.OwnerReferences {
		if !dangling[o.UID] {
			return nil // owners changed; the cache's update event queues the object again
		}
	}
	if len(cm.OwnerReferences) == 0 {
		return nil // orphaned meanwhile
	}
	err = r.delete(ctx, cm.Namespace, cm.Name, cm.ResourceVersion)
	switch {
	case err == nil:
		c.log.Info("deleted object whose owners are gone", "object", ref.String(), "uid", cm.UID)
		return nil
	case errors.Is(err, registry.ErrNotFound):
		return nil
	default:
		return fmt.Errorf("delete %s: %w", ref, err) // a conflict is retried on fresh data
	}
}

// classify returns the uids of obj's owners that no longer exist, and how many do exist.
func (c *Controller) classify(ctx context.Context, obj api.Object) (map[string]bool, int, error) {
	dangling := map[string]bool{}
	solid := 0
	for _, o := range obj.Meta().OwnerReferences {
		exists, err := c.ownerExists(ctx, obj.Meta().Namespace, o)
		if err != nil {
			return nil, 0, err
		}
		if exists {
			solid++
		} else {
			dangling[o.UID] = true
		}
	}
	return dangling, solid, nil
}

// ownerExists reports whether the owner o of an object in namespace ns exists: an object
// of its kind and name with its uid. The informer cache answers yes; a no is confirmed by
// a fresh store read, so an owner created after the cache was filled is never missed.
// Owners of unknown kinds are assumed to exist.
func (c *Controller) ownerExists(ctx context.Context, ns string, o api.OwnerReference) (bool, error) {
	res, ok := api.ResourceForKind(o.Kind)
	getter := c.getters[o.Kind]
	if !ok || getter == nil {
		return true, nil
	}
	if !res.Namespaced {
		ns = ""
	}
	if w, ok := c.watched[o.Kind]; ok {
		if cur, ok := w.cached(ns, o.Name); ok && cur.Meta().UID == o.UID {
			return true, nil
		}
	}
	cur, err := getter(ctx, ns, o.Name)
	if errors.Is(err, registry.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("get owner %s %s: %w", o.Kind, o.Name, err)
	}
	return cur.Meta().UID == o.UID, nil
}
