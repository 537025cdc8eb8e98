package podautoscaler

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"reflect"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/keeldb/keel/orchestrator/api"
	"github.com/keeldb/keel/orchestrator/events"
	"github.com/keeldb/keel/orchestrator/informer"
	"github.com/keeldb/keel/orchestrator/registry"
	"github.com/keeldb/keel/orchestrator/workqueue"
)

// Kubernetes' defaults (kube-controller-manager's --horizontal-pod-autoscaler-* flags).
const (
	DefaultSyncPeriod              = 15 * time.Second
	DefaultTolerance               = 0.1
	DefaultCPUInitializationPeriod = 5 * time.Minute
	DefaultInitialReadinessDelay   = 30 * time.Second
	DefaultDownscaleStabilization  = 5 * time.Minute
	DefaultWorkers                 = 5
)

// Config configures the autoscaler. The zero value means defaults.
type Config struct {
	// SyncPeriod is how often each autoscaler is evaluated; default 15 s.
	SyncPeriod time.Duration
	// Tolerance is the usage ratio's dead band around 1; default 0.1.
	Tolerance float64
	// CPUInitializationPeriod is how long after a pod's start its cpu samples are only
	// trusted once it is Ready for a full window; default 5 min.
	CPUInitializationPeriod time.Duration
	// InitialReadinessDelay is how long after its start a pod that is not Ready counts as
	// never having been ready; default 30 s.
	InitialReadinessDelay time.Duration
	// DownscaleStabilization is the scale-down window of autoscalers without a behavior;
	// default 5 min.
	DownscaleStabilization time.Duration
	// Workers is the number of autoscalers evaluated in parallel; default 5.
	Workers int
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Logger defaults to discarding.
	Logger *slog.Logger
	// Recorder records SuccessfulRescale, FailedRescale, FailedGetScale and
	// FailedComputeMetricsReplicas events; nil records none.
	Recorder *events.Recorder
}

func (c *Config) setDefaults() {
	if c.SyncPeriod <= 0 {
		c.SyncPeriod = DefaultSyncPeriod
	}
	if c.Tolerance <= 0 {
		c.Tolerance = DefaultTolerance
	}
	if c.CPUInitializationPeriod <= 0 {
		c.CPUInitializationPeriod = DefaultCPUInitializationPeriod
	}
	if c.InitialReadinessDelay <= 0 {
		c.InitialReadinessDelay = DefaultInitialReadinessDelay
	}
	if c.DownscaleStabilization <= 0 {
		c.DownscaleStabilization = DefaultDownscaleStabilization
	}
	if c.Workers <= 0 {
		c.Workers = DefaultWorkers
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
}

// Controller is the horizontal pod autoscaler controller.
type Controller struct {
	cfg     Config
	log     *slog.Logger
	hpas    *registry.Store[api.HorizontalPodAutoscaler, *api.HorizontalPodAutoscaler]
	metrics *registry.Store[api.PodMetrics, *api.PodMetrics]
	hpaInf  *informer.Informer[api.HorizontalPodAutoscaler, *api.HorizontalPodAutoscaler]
	podInf  *informer.Informer[api.Pod, *api.Pod]
	targets map[string]scaleTarget // by kind; fixed after New
	queue   *workqueue.Queue[string]

	// mu guards history.
	mu      sync.Mutex
	history map[string]*History // by autoscaler key; a key is synced by one worker at a time
}

// New returns a Controller; call Run to start it.
func New(cli *clientv3.Client, cfg Config) *Controller {
	cfg.setDefaults()
	c := &Controller{cfg: cfg, log: cfg.Logger.With("component", "horizontal-pod-autoscaler"),
		hpas:    registry.New[api.HorizontalPodAutoscaler](cli, registry.Config{Now: cfg.Now}),
		metrics: registry.New[api.PodMetrics](cli, registry.Config{Now: cfg.Now}),
		targets: targets(cli), queue: workqueue.New[string](workqueue.Config{}), history: map[string]*History{}}
	c.hpaInf = informer.New(cli, c.hpas, informer.Config{Logger: cfg.Logger})
	c.podInf = informer.New(cli, registry.New[api.Pod](cli, registry.Config{Now: cfg.Now}), informer.Config{Logger: cfg.Logger})
	c.hpaInf.AddHandler(informer.Handler[*api.HorizontalPodAutoscaler]{
		OnAdd: func(h *api.HorizontalPodAutoscaler) { c.queue.Add(api.KeyFunc(h)) },
		OnUpdate: func(old, h *api.HorizontalPodAutoscaler) {
			// Status writes (our own) wait for the next period; spec changes act at once.
			if old.Generation != h.Generation {
				c.queue.Add(api.KeyFunc(h))
			}
		},
		OnDelete: func(h *api.HorizontalPodAutoscaler) { c.queue.Add(api.KeyFunc(h)) },
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
	workqueue.RunWorkers(ctx, c.queue, c.cfg.Workers, c.sync, c.syncFailed, c.hpaInf, c.podInf)
	return nil
}

func (c *Controller) syncFailed(key string, err error) {
	c.log.Debug("sync failed", "hpa", key, "err", err)
}

func (c *Controller) historyOf(key string) *History {
	c.mu.Lock()
	defer c.mu.Unlock()
	h := c.history[key]
	if h == nil {
		h = &History{}
		c.history[key] = h
	}
	return h
}

// sync evaluates one autoscaler and queues its next evaluation one SyncPeriod later.
func (c *Controller) sync(ctx context.Context, key string) error {
	cached, ok := c.hpaInf.Cache().Get(key)
	if !ok {
		c.mu.Lock()
		delete(c.history, key)
		c.mu.Unlock()
		return nil
	}
	c.queue.AddAfter(key, c.cfg.SyncPeriod)
	hpa := api.DeepCopy(cached)
	now := c.cfg.Now()
	ref := hpa.Spec.ScaleTargetRef
	refStr := ref.Kind + "/" + ref.Name
	tgt, ok := c.targets[ref.Kind]
	if !ok {
		err := fmt.Errorf("the autoscaler cannot scale a %s (supported: Deployment, ReplicaSet, ReplicationController)", ref.Kind)
		return c.failed(ctx, hpa, now, "FailedGetScale", err)
	}
	replicas, sel, err := tgt.scale(ctx, hpa.Namespace, ref.Name)
	if err != nil {
		return c.failed(ctx, hpa, now, "FailedGetScale", err)
	}
	var pods []*api.Pod
	for _, p := range c.podInf.Cache().ByIndex(informer.NamespaceIndex, hpa.Namespace) {
		if sel.Matches(p.Labels) {
			pods = append(pods, p)
		}
	}
	ml, err := c.metrics.List(ctx, registry.ListOptions{Namespace: hpa.Namespace, Selector: sel})
	if err != nil {
		return err
	}
	metrics := make(map[string]*api.PodMetrics, len(ml.Items))
	for _, m := range ml.Items {
		metrics[m.Name] = m
	}
	hist := c.historyOf(key)
	d := Recommend(Input{HPA: hpa, Replicas: replicas, Pods: pods, Metrics: metrics, Now: now}, hist, c.cfg)
	for _, cond := range d.Conditions {
		setCondition(&hpa.Status, cond, now)
	}
	if d.Err != nil {
		c.cfg.Recorder.Eventf(hpa, events.TypeWarning, "FailedComputeMetricsReplicas",
			"failed to compute desired number of replicas based on listed metrics for %s: %v", refStr, d.Err)
	}
	if d.Rescale {
		if err := tgt.setReplicas(ctx, hpa.Namespace, ref.Name, d.Desired); err != nil {
			setCondition(&hpa.Status, Condition{api.AbleToScale, api.ConditionFalse, "FailedUpdateScale",
				"the HPA controller was unable to update the target scale: " + err.Error()}, now)
			c.cfg.Recorder.Eventf(hpa, events.TypeWarning, "FailedRescale", "New size: %d; reason: %s; error: %v", d.Desired, d.Reason, err)
			return errors.Join(err, c.writeStatus(ctx, cached, hpa, replicas, replicas, d.Metrics, false, now))
		}
		setCondition(&hpa.Status, Condition{api.AbleToScale, api.ConditionTrue, "SucceededRescale",
			fmt.Sprintf("the HPA controller was able to update the target scale to %d", d.Desired)}, now)
		c.cfg.Recorder.Eventf(hpa, events.TypeNormal, "SuccessfulRescale", "New size: %d; reason: %s", d.Desired, d.Reason)
		c.log.Info("rescaled", "hpa", key, "target", refStr, "from", replicas, "to", d.Desired, "reason", d.Reason)
		hist.RecordScale(hpa.Spec.Behavior, replicas, d.Desired, now)
	}
	return c.writeStatus(ctx, cached, hpa, replicas, d.Desired, d.Metrics, d.Rescale, now)
}

// failed records that the target's scale could not be read.
func (c *Controller) failed(ctx context.Context, hpa *api.HorizontalPodAutoscaler, now time.Time, reason string, err error) error {
	c.cfg.Recorder.Eventf(hpa, events.TypeWarning, reason, "%v", err)
	setCondition(&hpa.Status, Condition{api.AbleToScale, api.ConditionFalse, reason,
		"the HPA controller was unable to get the target's current scale: " + err.Error()}, now)
	orig, _ := c.hpaInf.Cache().Get(api.KeyFunc(hpa))
	if orig == nil {
		return nil
	}
	return c.writeStatus(ctx, orig, hpa, hpa.Status.CurrentReplicas, hpa.Status.DesiredReplicas, hpa.Status.CurrentMetrics, false, now)
}

// writeStatus writes hpa's status when it differs from orig's.
func (c *Controller) writeStatus(ctx context.Context, orig, hpa *api.HorizontalPodAutoscaler, current, desired int32,
	metrics []api.MetricStatus, rescaled bool, now time.Time) error {
	st := &hpa.Status
	st.CurrentReplicas, st.DesiredReplicas, st.CurrentMetrics = current, desired, metrics
	gen := hpa.Generation
	st.ObservedGeneration = &gen
	if rescaled {
		t := api.NewTime(now)
		st.LastScaleTime = &t
	}
	if reflect.DeepEqual(orig.Status, *st) {
		return nil
	}
	_, err := c.hpas.UpdateStatus(ctx, hpa)
	if errors.Is(err, registry.ErrConflict) || errors.Is(err, registry.ErrNotFound) {
		return nil // changed or gone: its event queues another sync
	}
	return err
}

// setCondition sets a condition, keeping its transition time when its status is unchanged.
func setCondition(st *api.HorizontalPodAutoscalerStatus, c Condition, now time.Time) {
	for i := range st.Conditions {
		cur := &st.Conditions[i]
		if cur.Type != c.Type {
			continue
		}
		if cur.Status != c.Status {
			cur.LastTransitionTime = api.NewTime(now)
		}
		cur.Status, cur.Reason, cur.Message = c.Status, c.Reason, c.Message
		return
	}
	st.Conditions = append(st.Conditions, api.HorizontalPodAutoscalerCondition{Type: c.Type, Status: c.Status,
		Reason: c.Reason, Message: c.Message, LastTransitionTime: api.NewTime(now)})
}
