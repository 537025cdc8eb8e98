package nodelifecycle

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/keeldb/keel/orchestrator/api"
	"github.com/keeldb/keel/orchestrator/events"
	"github.com/keeldb/keel/orchestrator/informer"
	"github.com/keeldb/keel/orchestrator/registry"
)

// Taint keys and timing defaults.
const (
	// TaintUnreachable is put on nodes whose heartbeat stopped.
	TaintUnreachable = "node.kubernetes.io/unreachable"
	// NodeLeaseNamespace holds the nodes' heartbeat Leases.
	NodeLeaseNamespace = "kube-node-lease"

	// Fast profile (Keel's defaults).
	DefaultGracePeriod     = 15 * time.Second
	DefaultEvictionTimeout = 15 * time.Second
	DefaultMonitorPeriod   = time.Second

	// Kubernetes' defaults (node-monitor-grace-period since v1.32, default
	// tolerationSeconds, node-monitor-period), for a Kubernetes-like profile.
	KubernetesGracePeriod     = 50 * time.Second
	KubernetesEvictionTimeout = 300 * time.Second
	KubernetesMonitorPeriod   = 5 * time.Second
)

// Config configures a Controller. The zero value means the fast defaults.
type Config struct {
	// GracePeriod is how long a node's Lease may go unrenewed before the node is marked
	// unreachable; default 15 s.
	GracePeriod time.Duration
	// EvictionTimeout is how long pods not tolerating the unreachable NoExecute taint stay
	// after it was added; default 15 s.
	EvictionTimeout time.Duration
	// MonitorPeriod is how often nodes are checked; default 1 s.
	MonitorPeriod time.Duration
	// Now is the controller's clock; default time.Now.
	Now func() time.Time
	// Logger defaults to discarding.
	Logger *slog.Logger
	// Recorder records NodeNotReady events on nodes marked unreachable and
	// TaintManagerEviction events on evicted pods; nil records none.
	Recorder *events.Recorder
}

// Controller is the node lifecycle controller.
type Controller struct {
	cfg    Config
	log    *slog.Logger
	stores *registry.Stores
	nodes  *informer.Informer[api.Node, *api.Node]
	leases *informer.Informer[api.Lease, *api.Lease]
	pods   *informer.Informer[api.Pod, *api.Pod]

	// mu guards health.
	mu     sync.Mutex
	health map[string]*nodeHealth
}

type nodeHealth struct {
	probe string    // the Lease's renewTime last seen
	seen  time.Time // when probe last changed, on the controller's clock
}

const nodeNameIndex = "nodeName"

// New returns a Controller; call Run to start it.
func New(cli *clientv3.Client, cfg Config) *Controller {
	if cfg.GracePeriod <= 0 {
		cfg.GracePeriod = DefaultGracePeriod
	}
	if cfg.EvictionTimeout <= 0 {
		cfg.EvictionTimeout = DefaultEvictionTimeout
	}
	if cfg.MonitorPeriod <= 0 {
		cfg.MonitorPeriod = DefaultMonitorPeriod
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	c := &Controller{cfg: cfg, log: cfg.Logger.With("component", "nodelifecycle-controller"),
		stores: registry.NewStores(cli, registry.Config{Now: cfg.Now}), health: map[string]*nodeHealth{}}
	c.nodes = informer.New(cli, c.stores.Nodes, informer.Config{Logger: cfg.Logger})
	c.leases = informer.New(cli, c.stores.Leases, informer.Config{Namespace: NodeLeaseNamespace, Logger: cfg.Logger})
	c.pods = informer.New(cli, c.stores.Pods, informer.Config{Logger: cfg.Logger})
	c.pods.AddIndex(nodeNameIndex, func(p *api.Pod) []string {
		if p.Spec.NodeName == "" {
			return nil
		}
		return []string{p.Spec.NodeName}
	})
	return c
}

// Run runs the controller until ctx ends, then returns nil.
func Run(ctx context.Context, cli *clientv3.Client, cfg Config) error {
	return New(cli, cfg).Run(ctx)
}

// Run runs the informers and the monitor loop until ctx ends, then returns nil. It may be
// called once.
func (c *Controller) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for _, run := range []func(context.Context) error{c.nodes.Run, c.leases.Run, c.pods.Run} {
		wg.Add(1)
		go func() { defer wg.Done(); _ = run(ctx) }()
	}
	defer wg.Wait()
	if c.waitForSync(ctx) != nil {
		return nil
	}
	t := time.NewTicker(c.cfg.MonitorPeriod)
	defer t.Stop()
	for {
		if err := c.monitor(ctx); err != nil && ctx.Err() == nil {
			c.log.Warn("monitor failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

func (c *Controller) waitForSync(ctx context.Context) error {
	return errors.Join(c.nodes.WaitForSync(ctx), c.leases.WaitForSync(ctx), c.pods.WaitForSync(ctx))
}

// observe updates the health record of node from its Lease and reports whether the node
// is stale: no renewal seen for longer than GracePeriod.
func (c *Controller) observe(name string, now time.Time) bool {
	probe := ""
	if l, ok := c.leases.Cache().Get(NodeLeaseNamespace + "/" + name); ok && l.Spec.RenewTime != nil {
		probe = l.Spec.RenewTime.UTC().Format(time.RFC3339Nano)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	h, ok := c.health[name]
	if !ok {
		c.health[name] = &nodeHealth{probe: probe, seen: now}
		return false
	}
	if probe != "" && probe != h.probe {
		h.probe, h.seen = probe, now
	}
	return now.Sub(h.seen) > c.cfg.GracePeriod
}

// monitor checks every node once.
func (c *Controller) monitor(ctx context.Context) error {
	now := c.cfg.Now()
	nodes := c.nodes.Cache().List()
	stale := map[string]bool{}
	for _, n := range nodes {
		if c.observe(n.Name, now) {
			stale[n.Name] = true
		}
	}
	c.forgetDeleted(nodes)
	fullDisruption := len(nodes) > 1 && len(stale) == len(nodes)
	var errs []error
	for _, n := range nodes {
		if !stale[n.Name] {
			if hasUnreachableTaint(n) && readyStatus(n) == api.ConditionTrue {
				errs = append(errs, c.markReachable(ctx, n))
			}
			continue
		}
		if readyStatus(n) != api.ConditionUnknown || !hasUnreachableTaint(n) {
			errs = append(errs, c.markUnreachable(ctx, n, now))
			continue // evict once the cache shows the taint
		}
		errs = append(errs, c.markPodsNotReady(ctx, n.Name, now))
		if !fullDisruption {
			errs = append(errs, c.evict(ctx, n, now))
		}
	}
	return errors.Join(errs...)
}

func (c *Controller) forgetDeleted(nodes []*api.Node) {
	present := make(map[string]bool, len(nodes))
	for _, n := range nodes {
		present[n.Name] = true
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for name := range c.health {
		if !present[name] {
			delete(c.health, name)
		}
	}
}

func readyStatus(n *api.Node) string {
	for _, cond := range n.Status.Conditions {
		if cond.Type == "Ready" {
			return cond.Status
		}
	}
	return ""
}

func hasUnreachableTaint(n *api.Node) bool {
	_, ok := unreachableSince(n)
	return ok
}

// unreachableSince returns when the unreachable NoExecute taint was added to n.
func unreachableSince(n *api.Node) (time.Time, bool) {
	for _, t := range n.Spec.Taints {
		if t.Key == TaintUnreachable && t.Effect == api.TaintNoExecute {
			if t.TimeAdded == nil {
				return time.Time{}, true
			}
			return t.TimeAdded.Time, true
		}
	}
	return time.Time{}, false
}

var errSkip = errors.New("nodelifecycle: object changed, skip")

func (c *Controller) markUnreachable(ctx context.Context, n *api.Node, now time.Time) error {
	t := api.NewTime(now)
	var transitioned bool
	out, err := c.stores.Nodes.GuaranteedUpdate(ctx, "", n.Name, func(cur *api.Node) (*api.Node, error) {
		if cur.UID != n.UID {
			return nil, errSkip
		}
		found := false
		transitioned = false
		for i := range cur.Status.Conditions {
			cond := &cur.Status.Conditions[i]
			if cond.Type == "Ready" {
				found = true
				if cond.Status != api.ConditionUnknown {
					transitioned = true
					*cond = api.NodeCondition{Type: "Ready", Status: api.ConditionUnknown, Reason: "NodeStatusUnknown",
						Message: "Kubelet stopped posting node status.", LastHeartbeatTime: cond.LastHeartbeatTime, LastTransitionTime: t}
				}
			}
		}
		if !found {
			transitioned = true
			cur.Status.Conditions = append(cur.Status.Conditions, api.NodeCondition{Type: "Ready", Status: api.ConditionUnknown,
				Reason: "NodeStatusUnknown", Message: "Kubelet never posted node status.", LastTransitionTime: t})
		}
		for _, effect := range []string{api.TaintNoSchedule, api.TaintNoExecute} {
			has := false
			for _, tt := range cur.Spec.Taints {
				has = has || tt.Key == TaintUnreachable && tt.Effect == effect
			}
			if !has {
				cur.Spec.Taints = append(cur.Spec.Taints, api.Taint{Key: TaintUnreachable, Effect: effect, TimeAdded: &t})
			}
		}
		return cur, nil
	})
	if errors.Is(err, errSkip) || errors.Is(err, registry.ErrNotFound) {
		return nil
	}
	if err == nil {
		c.log.Info("node unreachable", "node", n.Name)
		if transitioned {
			c.cfg.Recorder.Eventf(out, events.TypeNormal, "NodeNotReady", "Node %s status is now: NodeNotReady", n.Name)
		}
	}
	return err
}

func (c *Controller) markReachable(ctx context.Context, n *api.Node) error {
	_, err := c.stores.Nodes.GuaranteedUpdate(ctx, "", n.Name, func(cur *api.Node) (*api.Node, error) {
		if cur.UID != n.UID {
			return nil, errSkip
		}
		taints := cur.Spec.Taints[:0]
		for _, t := range cur.Spec.Taints {
			if t.Key != TaintUnreachable {
				taints = append(taints, t)
			}
		}
		cur.Spec.Taints = taints
		return cur, nil
	})
	if errors.Is(err, errSkip) || errors.Is(err, registry.ErrNotFound) {
		return nil
	}
	if err == nil {
		c.log.Info("node reachable again", "node", n.Name)
	}
	return err
}

// markPodsNotReady sets Ready=False on the pods of node that still report Ready=True.
func (c *Controller) markPodsNotReady(ctx context.Context, node string, now time.Time) error {
	var errs []error
	for _, p := range c.pods.Cache().ByIndex(nodeNameIndex, node) {
		if !podReady(p) || p.DeletionTimestamp != nil {
			continue
		}
		_, err := c.stores.Pods.GuaranteedUpdate(ctx, p.Namespace, p.Name, func(cur *api.Pod) (*api.Pod, error) {
			if cur.UID != p.UID {
				return nil, errSkip
			}
			for i := range cur.Status.Conditions {
				cond := &cur.Status.Conditions[i]
				if cond.Type == "Ready" && cond.Status == api.ConditionTrue {
					*cond = api.PodCondition{Type: "Ready", Status: api.ConditionFalse, Reason: "NodeLost",
						Message: "node " + node + " is unreachable", LastTransitionTime: api.NewTime(now)}
				}
			}
			return cur, nil
		})
		if err != nil && !errors.Is(err, errSkip) && !errors.Is(err, registry.ErrNotFound) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func podReady(p *api.Pod) bool {
	for _, cond := range p.Status.Conditions {
		if cond.Type == "Ready" {
			return cond.Status == api.ConditionTrue
		}
	}
	return false
}

// tolerationFor returns how long p tolerates the unreachable NoExecute taint: ok false when
// it does not tolerate it, forever true when it tolerates it without a time limit.
func tolerationFor(p *api.Pod) (d time.Duration, forever, ok bool) {
	for _, t := range p.Spec.Tolerations {
		if t.Effect != "" && t.Effect != api.TaintNoExecute {
			continue
		}
		matches := t.Operator == "Exists" && (t.Key == "" || t.Key == TaintUnreachable) ||
			t.Operator != "Exists" && t.Key == TaintUnreachable && t.Value == ""
		if !matches {
			continue
		}
		if t.TolerationSeconds == nil {
			return 0, true, true
		}
		return time.Duration(max(*t.TolerationSeconds, 0)) * time.Second, false, true
	}
	return 0, false, false
}

// evict deletes the pods of an unreachable node whose toleration of the NoExecute taint
// has run out: gracefully (deletionTimestamp, the pod's grace period) as the taint manager
// does, then, once that deletionTimestamp has passed with the node still unreachable, at
// once (grace period 0), since no agent is there to confirm the containers stopped.
func (c *Controller) evict(ctx context.Context, n *api.Node, now time.Time) error {
	since, ok := unreachableSince(n)
	if !ok {
		return nil
	}
	var errs []error
	for _, p := range c.pods.Cache().ByIndex(nodeNameIndex, n.Name) {
		if p.DeletionTimestamp != nil {
			if now.Before(p.DeletionTimestamp.Time) {
				continue
			}
			_, err := c.stores.Pods.Delete(ctx, p.Namespace, p.Name, registry.DeleteOptions{UID: p.UID, GracePeriodSeconds: registry.GracePeriod(0)})
			if err == nil {
				c.log.Info("force deleted pod of unreachable node", "node", n.Name, "pod", api.KeyFunc(p))
			} else if !errors.Is(err, registry.ErrNotFound) && !errors.Is(err, registry.ErrConflict) {
				errs = append(errs, err)
			}
			continue
		}
		wait := c.cfg.EvictionTimeout
		if d, forever, ok := tolerationFor(p); forever {
			continue
		} else if ok {
			wait = d
		}
		if now.Before(since.Add(wait)) {
			continue
		}
		_, err := c.stores.Pods.Delete(ctx, p.Namespace, p.Name, registry.DeleteOptions{UID: p.UID})
		switch {
		case err == nil:
			c.log.Info("evicted pod", "node", n.Name, "pod", api.KeyFunc(p))
			c.cfg.Recorder.Eventf(p, events.TypeNormal, "TaintManagerEviction", "Marking for deletion Pod %s", api.KeyFunc(p))
		case !errors.Is(err, registry.ErrNotFound) && !errors.Is(err, registry.ErrConflict):
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
