package statefulset

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/keeldb/keel/orchestrator/api"
	"github.com/keeldb/keel/orchestrator/events"
	"github.com/keeldb/keel/orchestrator/informer"
	"github.com/keeldb/keel/orchestrator/registry"
	"github.com/keeldb/keel/orchestrator/workqueue"
)

// DefaultWorkers is the number of StatefulSets synced in parallel.
const DefaultWorkers = 2

// Config configures a Controller. The zero value means defaults.
type Config struct {
	// Workers is the number of StatefulSets synced in parallel; default 2.
	Workers int
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Logger defaults to discarding.
	Logger *slog.Logger
	// Recorder records SuccessfulCreate, FailedCreate and SuccessfulDelete events on the
	// StatefulSet; nil records none.
	Recorder *events.Recorder
}

// Controller is the StatefulSet controller.
type Controller struct {
	cfg    Config
	log    *slog.Logger
	stores *registry.Stores
	// pvcs creates the claims of volumeClaimTemplates before their pods.
	pvcs   *registry.Store[api.PersistentVolumeClaim, *api.PersistentVolumeClaim]
	stsInf *informer.Informer[api.StatefulSet, *api.StatefulSet]
	podInf *informer.Informer[api.Pod, *api.Pod]
	queue  *workqueue.Queue[string]
}

const controllerIndex = "controller"

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
	c := &Controller{cfg: cfg, log: cfg.Logger.With("component", "statefulset-controller"),
		stores: registry.NewStores(cli, registry.Config{Now: cfg.Now}),
		pvcs:   registry.New[api.PersistentVolumeClaim](cli, registry.Config{Now: cfg.Now})}
	c.queue = workqueue.New[string](workqueue.Config{})
	ic := informer.Config{Logger: cfg.Logger}
	c.stsInf = informer.New(cli, c.stores.StatefulSets, ic)
	c.podInf = informer.New(cli, c.stores.Pods, ic)
	c.podInf.AddIndex(controllerIndex, func(p *api.Pod) []string {
		if ref := p.ControllerRef(); ref != nil && ref.Kind == "StatefulSet" {
			return []string{ref.UID}
		}
		return nil
	})
	enqueue := func(s *api.StatefulSet) { c.queue.Add(api.KeyFunc(s)) }
	c.stsInf.AddHandler(informer.Handler[*api.StatefulSet]{
		OnAdd:    enqueue,
		OnUpdate: func(_, s *api.StatefulSet) { enqueue(s) },
		OnDelete: enqueue,
	})
	podEvent := func(p *api.Pod) {
		if ref := p.ControllerRef(); ref != nil && ref.Kind == "StatefulSet" {
			c.queue.Add(p.Namespace + "/" + ref.Name)
		}
	}
	c.podInf.AddHandler(informer.Handler[*api.Pod]{
		OnAdd:    podEvent,
		OnUpdate: func(_, p *api.Pod) { podEvent(p) },
		OnDelete: podEvent,
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
	workqueue.RunWorkers(ctx, c.queue, c.cfg.Workers, c.sync, c.syncFailed, c.stsInf, c.podInf)
	return nil
}

func (c *Controller) syncFailed(key string, err error) {
	c.log.Debug("sync failed", "statefulset", key, "err", err)
}

// sync reconciles one StatefulSet: the actions of Next, then the status.
func (c *Controller) sync(ctx context.Context, key string) error {
	sts, ok := c.stsInf.Cache().Get(key)
	if !ok {
		return nil // its pods are the garbage collector's
	}
	pods := c.podInf.Cache().ByIndex(controllerIndex, sts.UID)
	update := Revision(sts)
	current := sts.Status.CurrentRevision
	if current == "" {
		current = update
	}
	now := c.cfg.Now()
	var actErr error
	if sts.DeletionTimestamp == nil {
		actErr = c.act(ctx, sts, current, update, pods, Next(sts, current, update, pods, now))
	}
	st := ComputeStatus(sts, current, update, pods, now)
	if sts.Spec.MinReadySeconds > 0 && st.AvailableReplicas < st.ReadyReplicas {
		c.queue.AddAfter(key, time.Duration(sts.Spec.MinReadySeconds)*time.Second)
	}
	if statusEqual(st, sts.Status) {
		return actErr
	}
	next := api.DeepCopy(sts)
	next.Status = st
	_, err := c.stores.StatefulSets.UpdateStatus(ctx, next)
	if errors.Is(err, registry.ErrConflict) || errors.Is(err, registry.ErrNotFound) {
		err = nil // a newer StatefulSet event queues another sync
	}
	return errors.Join(actErr, err)
}

func statusEqual(a, b api.StatefulSetStatus) bool {
	return a.ObservedGeneration == b.ObservedGeneration && a.Replicas == b.Replicas && a.ReadyReplicas == b.ReadyReplicas &&
		a.CurrentReplicas == b.CurrentReplicas && a.UpdatedReplicas == b.UpdatedReplicas &&
		a.AvailableReplicas == b.AvailableReplicas && a.CurrentRevision == b.CurrentRevision && a.UpdateRevision == b.UpdateRevision
}

// act runs the actions in parallel (there is at most one under OrderedReady).
func (c *Controller) act(ctx context.Context, sts *api.StatefulSet, current, update string, pods []*api.Pod, acts []Action) error {
	var wg sync.WaitGroup
	errs := make([]error, len(acts))
	for i, a := range acts {
		wg.Go(func() {
			switch a.Type {
			case Create:
				errs[i] = c.create(ctx, sts, c.templateFor(sts, a.Revision, update, pods), a)
			case Delete:
				errs[i] = c.delete(ctx, sts, a.Pod)
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("statefulset %s: %w", api.KeyFunc(sts), err)
	}
	return nil
}

// templateFor returns the template of revision: the set's own for the update revision,
// else one reconstructed from a pod of that revision (the set's own when none is left).
func (c *Controller) templateFor(sts *api.StatefulSet, revision, update string, pods []*api.Pod) api.PodTemplateSpec {
	if revision != update {
		for _, p := range pods {
			if p.Labels[ControllerRevisionHashLabel] == revision {
				return TemplateOf(p)
			}
		}
	}
	return sts.Spec.Template
}

func (c *Controller) create(ctx context.Context, sts *api.StatefulSet, tmpl api.PodTemplateSpec, a Action) error {
	p := NewPod(sts, tmpl, a.Revision, a.Ordinal)
	for _, pvc := range NewClaims(sts, a.Ordinal) {
		if _, err := c.pvcs.Create(ctx, pvc); err != nil && !errors.Is(err, registry.ErrAlreadyExists) {
			if ctx.Err() == nil {
				c.cfg.Recorder.Eventf(sts, events.TypeWarning, "FailedCreate", "create Claim %s for Pod %s in StatefulSet %s failed error: %v", pvc.Name, p.Name, sts.Name, err)
			}
			return err
		}
	}
	_, err := c.stores.Pods.Create(ctx, p)
	switch {
	case errors.Is(err, registry.ErrAlreadyExists):
		return nil // the cache lags; the pod's event queues another sync
	case err != nil:
		if ctx.Err() == nil {
			c.cfg.Recorder.Eventf(sts, events.TypeWarning, "FailedCreate", "create Pod %s in StatefulSet %s failed error: %v", p.Name, sts.Name, err)
		}
		return err
	}
	c.cfg.Recorder.Eventf(sts, events.TypeNormal, "SuccessfulCreate", "create Pod %s in StatefulSet %s successful", p.Name, sts.Name)
	return nil
}

// delete deletes p through the registry's graceful delete (one code path with every other
// deleter): a bound pod gets its deletionTimestamp and its agent stops it and removes it, so
// the next ordinal waits for it to be gone; an unbound or finished pod is removed at once.
func (c *Controller) delete(ctx context.Context, sts *api.StatefulSet, p *api.Pod) error {
	if p.DeletionTimestamp != nil {
		return nil
	}
	_, err := c.stores.Pods.Delete(ctx, p.Namespace, p.Name, registry.DeleteOptions{UID: p.UID})
	if errors.Is(err, registry.ErrNotFound) || errors.Is(err, registry.ErrConflict) {
		return nil
	}
	if err == nil {
		c.cfg.Recorder.Eventf(sts, events.TypeNormal, "SuccessfulDelete", "delete Pod %s in StatefulSet %s successful", p.Name, sts.Name)
	}
	return err
}
