package job

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"reflect"
	"strconv"
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

// Kubernetes' defaults.
const (
	DefaultWorkers             = 5
	DefaultBackoffBase         = 10 * time.Second
	DefaultBackoffMax          = 6 * time.Minute
	DefaultExpectationsTimeout = 5 * time.Minute
)

// Config configures a Controller. The zero value means defaults.
type Config struct {
	// Workers is the number of Jobs synced in parallel; default 5.
	Workers int
	// BackoffBase and BackoffMax bound the delay before a pod replaces a failed one; default
	// 10 s doubling to 6 min, as Kubernetes. Tests lower BackoffBase.
	BackoffBase, BackoffMax time.Duration
	// ExpectationsTimeout is how long unmet expectations block a Job; default 5 min.
	ExpectationsTimeout time.Duration
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Logger defaults to discarding.
	Logger *slog.Logger
	// Recorder records the Job's events; nil records none.
	Recorder *events.Recorder
}

// Controller is the Job controller.
type Controller struct {
	cfg    Config
	log    *slog.Logger
	stores *registry.Stores
	jobInf *informer.Informer[api.Job, *api.Job]
	podInf *informer.Informer[api.Pod, *api.Pod]
	queue  *workqueue.Queue[string]
	exp    *expectations.Expectations
}

const controllerIndex = "controller"

// New returns a Controller; call Run to start it.
func New(cli *clientv3.Client, cfg Config) *Controller {
	if cfg.Workers <= 0 {
		cfg.Workers = DefaultWorkers
	}
	if cfg.BackoffBase <= 0 {
		cfg.BackoffBase = DefaultBackoffBase
	}
	if cfg.BackoffMax <= 0 {
		cfg.BackoffMax = DefaultBackoffMax
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
	c := &Controller{cfg: cfg, log: cfg.Logger.With("component", "job-controller"),
		stores: registry.NewStores(cli, registry.Config{Now: cfg.Now})}
	c.exp = expectations.New(cfg.Now, cfg.ExpectationsTimeout)
	c.queue = workqueue.New[string](workqueue.Config{})
	c.jobInf = informer.New(cli, c.stores.Jobs, informer.Config{Logger: cfg.Logger})
	c.podInf = informer.New(cli, c.stores.Pods, informer.Config{Logger: cfg.Logger})
	c.podInf.AddIndex(controllerIndex, func(p *api.Pod) []string {
		if ref := p.ControllerRef(); ref != nil && ref.Kind == "Job" {
			return []string{ref.UID}
		}
		return nil
	})
	c.jobInf.AddHandler(informer.Handler[*api.Job]{
		OnAdd:    func(j *api.Job) { c.queue.Add(api.KeyFunc(j)) },
		OnUpdate: func(_, j *api.Job) { c.queue.Add(api.KeyFunc(j)) },
		OnDelete: func(j *api.Job) { c.queue.Add(api.KeyFunc(j)) },
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
	return c
}

// Run runs the informers and workers until ctx ends, then returns nil. It may be called
// once.
func (c *Controller) Run(ctx context.Context) error {
	workqueue.RunWorkers(ctx, c.queue, c.cfg.Workers, c.sync, c.syncFailed, c.jobInf, c.podInf)
	return nil
}

func (c *Controller) syncFailed(key string, err error) {
	c.log.Debug("sync failed", "job", key, "err", err)
}

func ownerKey(p *api.Pod) (string, bool) {
	ref := p.ControllerRef()
	if ref == nil || ref.Kind != "Job" {
		return "", false
	}
	return p.Namespace + "/" + ref.Name, true
}

// sync reconciles one Job: it applies Reconcile's plan.
func (c *Controller) sync(ctx context.Context, key string) error {
	job, ok := c.jobInf.Cache().Get(key)
	if !ok {
		c.exp.Forget(key)
		return nil // its pods are the garbage collector's
	}
	if job.DeletionTimestamp != nil {
		return nil
	}
	// Expectations are checked before the pods are listed, as the ReplicaSet controller does.
	if !c.exp.Satisfied(key) {
		c.queue.AddAfter(key, c.cfg.ExpectationsTimeout)
		return nil
	}
	var pods []*api.Pod
	for _, p := range c.podInf.Cache().ByIndex(controllerIndex, job.UID) {
		if !c.exp.PendingDelete(key, api.KeyFunc(p)) {
			pods = append(pods, p)
		}
	}
	plan := Reconcile(job, pods, c.cfg.Now(), Backoff{Base: c.cfg.BackoffBase, Max: c.cfg.BackoffMax})
	errs := []error{c.deletePods(ctx, job, plan.Delete), c.createPods(ctx, job, plan)}
	for _, ev := range plan.Events {
		c.cfg.Recorder.Eventf(job, ev[0], ev[1], "%s", ev[2])
	}
	if !reflect.DeepEqual(plan.Status, job.Status) {
		next := api.DeepCopy(job)
		next.Status = plan.Status
		_, err := c.stores.Jobs.UpdateStatus(ctx, next)
		if err != nil && !errors.Is(err, registry.ErrConflict) && !errors.Is(err, registry.ErrNotFound) {
			errs = append(errs, err)
		}
	}
	if plan.DeleteJob {
		_, err := c.stores.Jobs.Delete(ctx, job.Namespace, job.Name, registry.DeleteOptions{UID: job.UID})
		if err != nil && !errors.Is(err, registry.ErrConflict) && !errors.Is(err, registry.ErrNotFound) {
			errs = append(errs, err)
		}
		if err == nil {
			c.log.Info("deleted finished job", "job", key, "reason", "ttl")
		}
	}
	if plan.RequeueAfter > 0 {
		c.queue.AddAfter(key, plan.RequeueAfter)
	}
	return errors.Join(errs...)
}

func (c *Controller) deletePods(ctx context.Context, job *api.Job, pods []*api.Pod) error {
	if len(pods) == 0 {
		return nil
	}
	key := api.KeyFunc(job)
	keys := make([]string, len(pods))
	for i, p := range pods {
		keys[i] = api.KeyFunc(p)
	}
	c.exp.ExpectDeletes(key, keys)
	errs := make([]error, len(pods))
	var wg sync.WaitGroup
	for i, p := range pods {
		wg.Go(func() {
			_, err := c.stores.Pods.Delete(ctx, p.Namespace, p.Name, registry.DeleteOptions{UID: p.UID})
			if err == nil {
				c.cfg.Recorder.Eventf(job, events.TypeNormal, "SuccessfulDelete", "Deleted pod: %s", p.Name)
				return
			}
			c.exp.ObserveDelete(key, keys[i])
			if !errors.Is(err, registry.ErrNotFound) && !errors.Is(err, registry.ErrConflict) {
				errs[i] = err
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("job %s: delete pods: %w", key, err)
	}
	return nil
}

func (c *Controller) createPods(ctx context.Context, job *api.Job, plan Plan) error {
	if plan.Create == 0 {
		return nil
	}
	key := api.KeyFunc(job)
	c.exp.ExpectAdds(key, plan.Create)
	errs := make([]error, plan.Create)
	var wg sync.WaitGroup
	for i := range plan.Create {
		idx := -1
		if plan.Indexes != nil {
			idx = plan.Indexes[i]
		}
		wg.Go(func() {
			out, err := c.stores.Pods.Create(ctx, NewPod(job, idx))
			if err != nil {
				c.exp.LowerAdds(key, 1)
				if ctx.Err() == nil {
					c.cfg.Recorder.Eventf(job, events.TypeWarning, "FailedCreate", "Error creating: %v", err)
				}
				errs[i] = err
				return
			}
			c.cfg.Recorder.Eventf(job, events.TypeNormal, "SuccessfulCreate", "Created pod: %s", out.Name)
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("job %s: create pods: %w", key, err)
	}
	return nil
}

// NewPod returns the pod job creates, for completion index idx (-1 when not Indexed): the
// template with the labels controller-uid and job-name (and their batch.kubernetes.io/
// forms), the controller owner reference and, when Indexed, the completion index as
// annotation, label, hostname NAME-IDX and env JOB_COMPLETION_INDEX (a fieldRef to the
// annotation, as Kubernetes).
func NewPod(job *api.Job, idx int) *api.Pod {
	t := api.DeepCopy(&api.Pod{ObjectMeta: job.Spec.Template.ObjectMeta, Spec: job.Spec.Template.Spec})
	lbl := maps.Clone(t.Labels)
	if lbl == nil {
		lbl = map[string]string{}
	}
	lbl[api.JobControllerUIDLabel], lbl[api.LegacyControllerUIDLabel] = job.UID, job.UID
	lbl[api.JobNameLabel], lbl[api.LegacyJobNameLabel] = job.Name, job.Name
	tr := true
	p := &api.Pod{
		ObjectMeta: api.ObjectMeta{
			Namespace:    job.Namespace,
			GenerateName: job.Name + "-",
			Labels:       lbl,
			Annotations:  t.Annotations,
			OwnerReferences: []api.OwnerReference{{APIVersion: "batch/v1", Kind: "Job", Name: job.Name, UID: job.UID,
				Controller: &tr, BlockOwnerDeletion: &tr}},
		},
		Spec: t.Spec,
	}
	if idx >= 0 {
		s := strconv.Itoa(idx)
		if p.Annotations == nil {
			p.Annotations = map[string]string{}
		}
		p.Annotations[api.JobCompletionIndexKey] = s
		p.Labels[api.JobCompletionIndexKey] = s
		p.GenerateName = job.Name + "-" + s + "-"
		if p.Spec.Hostname == "" {
			p.Spec.Hostname = job.Name + "-" + s
		}
		for _, cs := range [][]api.Container{p.Spec.InitContainers, p.Spec.Containers} {
			for i := range cs {
				cs[i].Env = append(cs[i].Env, api.EnvVar{Name: api.JobCompletionIndexEnv, ValueFrom: &api.EnvVarSource{
					FieldRef: &api.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.annotations['" + api.JobCompletionIndexKey + "']"}}})
			}
		}
	}
	return p
}
