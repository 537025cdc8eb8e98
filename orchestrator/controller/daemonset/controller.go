package daemonset

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/keeldb/keel/orchestrator/api"
	"github.com/keeldb/keel/orchestrator/controller/internal/expectations"
	"github.com/keeldb/keel/orchestrator/events"
	"github.com/keeldb/keel/orchestrator/informer"
	"github.com/keeldb/keel/orchestrator/registry"
	"github.com/keeldb/keel/orchestrator/workqueue"
)

// Defaults.
const (
	DefaultWorkers = 2
	// DefaultBurstReplicas caps the pods created or deleted per sync, as Kubernetes' 250.
	DefaultBurstReplicas = 250
	// DefaultExpectationsTimeout bounds how long unseen creations block a DaemonSet.
	DefaultExpectationsTimeout = 5 * time.Minute
	// writeParallelism is how many pod writes one sync has in flight.
	writeParallelism = 32
)

// Config configures a Controller. The zero value means defaults.
type Config struct {
	// Workers is the number of DaemonSets synced in parallel; default 2.
	Workers int
	// BurstReplicas caps the pods created or deleted per sync; default 250.
	BurstReplicas int
	// ExpectationsTimeout is how long unmet expectations block a DaemonSet; default 5 min.
	ExpectationsTimeout time.Duration
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Logger defaults to discarding.
	Logger *slog.Logger
	// Recorder records SuccessfulCreate, FailedCreate and SuccessfulDelete events on the
	// DaemonSet; nil records none.
	Recorder *events.Recorder
}

// Controller is the DaemonSet controller.
type Controller struct {
	cfg     Config
	log     *slog.Logger
	stores  *registry.Stores
	dsInf   *informer.Informer[api.DaemonSet, *api.DaemonSet]
	podInf  *informer.Informer[api.Pod, *api.Pod]
	nodeInf *informer.Informer[api.Node, *api.Node]
	queue   *workqueue.Queue[string]
	exp     *expectations.Expectations
}

const controllerIndex = "controller"

// New returns a Controller; call Run to start it.
func New(cli *clientv3.Client, cfg Config) *Controller {
	if cfg.Workers <= 0 {
		cfg.Workers = DefaultWorkers
	}
	if cfg.BurstReplicas <= 0 {
		cfg.BurstReplicas = DefaultBurstReplicas
	}
	if cfg.ExpectationsTimeout <= 0 {
		cfg.ExpectationsTimeout = DefaultExpectationsTimeout
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	c := &Controller{cfg: cfg, log: cfg.Logger.With("component", "daemonset-controller"),
		stores: registry.NewStores(cli, registry.Config{Now: cfg.Now})}
	c.exp = expectations.New(cfg.Now, cfg.ExpectationsTimeout)
	c.queue = workqueue.New[string](workqueue.Config{})
	ic := informer.Config{Logger: cfg.Logger}
	c.dsInf = informer.New(cli, c.stores.DaemonSets, ic)
	c.podInf = informer.New(cli, c.stores.Pods, ic)
	c.nodeInf = informer.New(cli, c.stores.Nodes, ic)
	c.podInf.AddIndex(controllerIndex, func(p *api.Pod) []string {
		if ref := p.ControllerRef(); ref != nil && ref.Kind == "DaemonSet" {
			return []string{ref.UID}
		}
		return nil
	})
	enqueue := func(ds *api.DaemonSet) { c.queue.Add(api.KeyFunc(ds)) }
	c.dsInf.AddHandler(informer.Handler[*api.DaemonSet]{
		OnAdd:    enqueue,
		OnUpdate: func(_, ds *api.DaemonSet) { enqueue(ds) },
		OnDelete: enqueue,
	})
	c.podInf.AddHandler(informer.Handler[*api.Pod]{
		OnAdd: func(p *api.Pod) {
			if key, ok := ownerKey(p); ok {
				c.exp.ObserveAdd(key)
				c.queue.Add(key)
			}
		},
		OnUpdate: func(_, p *api.Pod) {
			if key, ok := ownerKey(p); ok {
				c.queue.Add(key)
			}
		},
		OnDelete: func(p *api.Pod) {
			if key, ok := ownerKey(p); ok {
				c.exp.ObserveDelete(key, api.KeyFunc(p))
				c.queue.Add(key)
			}
		},
	})
	nodeChanged := func(*api.Node) {
		for _, ds := range c.dsInf.Cache().List() {
			enqueue(ds)
		}
	}
	c.nodeInf.AddHandler(informer.Handler[*api.Node]{
		OnAdd: nodeChanged,
		OnUpdate: func(old, n *api.Node) {
			if !maps.Equal(old.Labels, n.Labels) || !taintsEqual(old.Spec.Taints, n.Spec.Taints) {
				nodeChanged(n)
			}
		},
		OnDelete: nodeChanged,
	})
	return c
}

func taintsEqual(a, b []api.Taint) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Key != b[i].Key || a[i].Value != b[i].Value || a[i].Effect != b[i].Effect {
			return false
		}
	}
	return true
}

func ownerKey(p *api.Pod) (string, bool) {
	ref := p.ControllerRef()
	if ref == nil || ref.Kind != "DaemonSet" {
		return "", false
	}
	return p.Namespace + "/" + ref.Name, true
}

// Run runs the controller until ctx ends, then returns nil.
func Run(ctx context.Context, cli *clientv3.Client, cfg Config) error {
	return New(cli, cfg).Run(ctx)
}

// Run runs the informers and workers until ctx ends, then returns nil. It may be called
// once.
func (c *Controller) Run(ctx context.Context) error {
	workqueue.RunWorkers(ctx, c.queue, c.cfg.Workers, c.sync, c.syncFailed, c.dsInf, c.podInf, c.nodeInf)
	return nil
}

func (c *Controller) syncFailed(key string, err error) {
	c.log.Debug("sync failed", "daemonset", key, "err", err)
}

// sync reconciles one DaemonSet: plans with Compute, writes the plan, then the status.
func (c *Controller) sync(ctx context.Context, key string) error {
	ds, ok := c.dsInf.Cache().Get(key)
	if !ok {
		c.exp.Forget(key)
		return nil // its pods are the garbage collector's
	}
	hash := TemplateHash(ds.Spec.Template)
	nodes := c.nodeInf.Cache().List()
	// Expectations are checked before the pods are listed (see the ReplicaSet controller).
	satisfied := c.exp.Satisfied(key)
	pods := c.podInf.Cache().ByIndex(controllerIndex, ds.UID)
	var manageErr error
	if satisfied && ds.DeletionTimestamp == nil {
		plan := Compute(ds, hash, nodes, pods, c.cfg.Now())
		manageErr = c.apply(ctx, ds, hash, plan)
	}
	st, recheck := ComputeStatus(ds, hash, nodes, pods, c.cfg.Now())
	if recheck > 0 {
		c.queue.AddAfter(key, recheck+time.Second)
	}
	if st == ds.Status {
		return manageErr
	}
	next := api.DeepCopy(ds)
	next.Status = st
	_, err := c.stores.DaemonSets.UpdateStatus(ctx, next)
	if errors.Is(err, registry.ErrConflict) || errors.Is(err, registry.ErrNotFound) {
		err = nil // a newer DaemonSet event queues another sync
	}
	return errors.Join(manageErr, err)
}

// apply writes a plan: at most BurstReplicas creations and deletions, writeParallelism at
// a time, each expected until the pod informer shows it.
func (c *Controller) apply(ctx context.Context, ds *api.DaemonSet, hash string, plan Plan) error {
	key := api.KeyFunc(ds)
	create := plan.Create[:min(len(plan.Create), c.cfg.BurstReplicas)]
	remove := plan.Delete[:min(len(plan.Delete), c.cfg.BurstReplicas)]
	c.exp.ExpectAdds(key, len(create))
	c.exp.ExpectDeletes(key, podKeys(remove))
	var mu sync.Mutex
	var errs []error
	sem := make(chan struct{}, writeParallelism)
	var wg sync.WaitGroup
	run := func(fn func() error, unexpect func()) {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if err := fn(); err != nil {
				unexpect()
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		})
	}
	for _, node := range create {
		run(func() error { return c.createPod(ctx, ds, hash, node) }, func() { c.exp.ObserveAdd(key) })
	}
	for _, p := range remove {
		run(func() error {
			_, err := c.stores.Pods.Delete(ctx, p.Namespace, p.Name, registry.DeleteOptions{UID: p.UID})
			if errors.Is(err, registry.ErrNotFound) || errors.Is(err, registry.ErrConflict) {
				c.exp.ObserveDelete(key, api.KeyFunc(p))
				return nil
			}
			if err == nil {
				c.cfg.Recorder.Eventf(ds, events.TypeNormal, "SuccessfulDelete", "Deleted pod: %s", p.Name)
			}
			return err
		}, func() { c.exp.ObserveDelete(key, api.KeyFunc(p)) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("daemonset %s: %w", key, err)
	}
	return nil
}

func controllerRef(ds *api.DaemonSet) api.OwnerReference {
	t := true
	return api.OwnerReference{APIVersion: "apps/v1", Kind: "DaemonSet", Name: ds.Name, UID: ds.UID,
		Controller: &t, BlockOwnerDeletion: &t}
}

// NewPod returns ds's pod for node, as the controller creates it.
func NewPod(ds *api.DaemonSet, hash, node string) *api.Pod {
	lbls := maps.Clone(ds.Spec.Template.Labels)
	if lbls == nil {
		lbls = map[string]string{}
	}
	lbls[ControllerRevisionHashLabel] = hash
	return &api.Pod{
		ObjectMeta: api.ObjectMeta{
			Namespace:       ds.Namespace,
			GenerateName:    ds.Name + "-",
			Labels:          lbls,
			Annotations:     maps.Clone(ds.Spec.Template.Annotations),
			OwnerReferences: []api.OwnerReference{controllerRef(ds)},
		},
		Spec: PodSpecFor(ds, node),
	}
}

func (c *Controller) createPod(ctx context.Context, ds *api.DaemonSet, hash, node string) error {
	out, err := c.stores.Pods.Create(ctx, NewPod(ds, hash, node))
	if err != nil {
		if ctx.Err() == nil {
			c.cfg.Recorder.Eventf(ds, events.TypeWarning, "FailedCreate", "Error creating: %v", err)
		}
		return err
	}
	c.cfg.Recorder.Eventf(ds, events.TypeNormal, "SuccessfulCreate", "Created pod: %s", out.Name)
	return nil
}

// podKeys returns the keys of pods.
func podKeys(pods []*api.Pod) []string {
	keys := make([]string, len(pods))
	for i, p := range pods {
		keys[i] = api.KeyFunc(p)
	}
	return keys
}
