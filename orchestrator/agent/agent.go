package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"maps"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/keeldb/keel/orchestrator/api"
	"github.com/keeldb/keel/orchestrator/events"
	"github.com/keeldb/keel/orchestrator/informer"
	"github.com/keeldb/keel/orchestrator/registry"
	"github.com/keeldb/keel/orchestrator/workqueue"
)

// NodeLeaseNamespace is the namespace of the nodes' heartbeat Leases.
const NodeLeaseNamespace = "kube-node-lease"

// Fast-profile defaults, and Kubernetes' (kubelet renews its 40 s Lease every 10 s) for a
// Kubernetes-like profile.
const (
	DefaultHeartbeatInterval = 2 * time.Second
	DefaultLeaseDuration     = 10 * time.Second
	DefaultWorkers           = 4

	KubernetesHeartbeatInterval = 10 * time.Second
	KubernetesLeaseDuration     = 40 * time.Second
)

// Config configures an Agent. The zero value means defaults.
type Config struct {
	// NodeName is the node's name when Nodes <= 1, and the name prefix otherwise: nodes are
	// then named "<NodeName>-0" … "<NodeName>-<Nodes-1>". Default "sim-node".
	NodeName string
	// Nodes is the number of simulated nodes; default 1.
	Nodes int
	// Capacity is every node's capacity and allocatable; default 32 cpu, 256Gi memory,
	// 110 pods.
	Capacity api.ResourceList
	// Labels are added to every node's labels (kubernetes.io/hostname is always set).
	Labels map[string]string
	// StartDelay is how long after first seeing a pod the agent reports it Running.
	StartDelay time.Duration
	// StopDelay (sim) is how long a simulated pod's containers take to stop after SIGTERM:
	// a pod marked for deletion is removed from the store StopDelay after the mark, or at
	// the end of its grace period if that comes first. Default 0: at once.
	StopDelay time.Duration
	// HeartbeatInterval is how often each node's Lease is renewed; default 2 s.
	HeartbeatInterval time.Duration
	// LeaseDuration is written as the Leases' leaseDurationSeconds; default 10 s.
	LeaseDuration time.Duration
	// Workers is the number of pod workers; default 4, plus one per 8 simulated nodes up to
	// 128 (each worker's status write is a store round trip, so many nodes need many).
	Workers int
	// Now is the clock for timestamps; default time.Now.
	Now func() time.Time
	// Logger defaults to discarding.
	Logger *slog.Logger
	// Runtime is RuntimeSim (default: pods are reported Running, nothing runs) or
	// RuntimeProcess (one node, NodeName, whose pods run as local processes; see Process).
	Runtime string
	// Process configures the process runtime.
	Process ProcessConfig
	// Transformers decrypt the Secrets pods refer to (registry.ParseEncryptionConfig); nil
	// reads them as plaintext.
	Transformers map[string]registry.Transformer
	// MetricsInterval is how often the pods' and nodes' usage is written as PodMetrics and
	// NodeMetrics (metrics.go); default 15 s, negative disables.
	MetricsInterval time.Duration
	// Eviction configures node-pressure eviction (eviction.go); no thresholds: none.
	Eviction EvictionConfig
}

func (c *Config) setDefaults() {
	if c.NodeName == "" {
		c.NodeName = "sim-node"
	}
	if c.Nodes <= 0 {
		c.Nodes = 1
	}
	if c.Capacity == nil {
		c.Capacity = api.ResourceList{"cpu": "32", "memory": "256Gi", "pods": "110"}
	}
	if c.HeartbeatInterval <= 0 {
		c.HeartbeatInterval = DefaultHeartbeatInterval
	}
	if c.LeaseDuration <= 0 {
		c.LeaseDuration = DefaultLeaseDuration
	}
	if c.Workers <= 0 {
		c.Workers = min(DefaultWorkers+c.Nodes/8, 128)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if c.Runtime == "" {
		c.Runtime = RuntimeSim
	}
	if c.MetricsInterval == 0 {
		c.MetricsInterval = DefaultMetricsInterval
	}
}

// Agent simulates the kubelets of a set of nodes.
type Agent struct {
	cli    *clientv3.Client
	cfg    Config
	log    *slog.Logger
	stores *registry.Stores
	names  []string
	index  map[string]int // node name → index
	pods   *informer.Informer[api.Pod, *api.Pod]
	nodes  *informer.Informer[api.Node, *api.Node]
	queue  *workqueue.Queue[string]
	nodeQ  *workqueue.Queue[string]
	proc   *procRuntime // nil for the sim runtime
	// configs reads the ConfigMaps and Secrets of env references and volumes (configsource.go).
	configs configStores
	// recorder writes the process runtime's Warning events about pods (configsource.go), and
	// the eviction events; nil for the sim runtime without eviction thresholds.
	recorder *events.Recorder
	// ev is the eviction manager (evictionmanager.go); nil without eviction thresholds.
	ev *evictionManager
	// status writes the sim runtime's Running statuses in batches (statusbatch.go); nil
	// for the process runtime.
	status *statusBatcher

	// mu guards firstSeen.
	mu        sync.Mutex
	firstSeen map[string]time.Time // pod key → when the agent first saw it bound here
}

// New returns an Agent for cfg's nodes; call Run to start it.
func New(cli *clientv3.Client, cfg Config) *Agent {
	cfg.setDefaults()
	a := &Agent{cli: cli, cfg: cfg, log: cfg.Logger.With("component", "agent"), index: map[string]int{},
		firstSeen: map[string]time.Time{}}
	a.stores = registry.NewStores(cli, registry.Config{Now: cfg.Now})
	a.configs = newConfigStores(cli, cfg.Transformers)
	for i := range cfg.Nodes {
		name := cfg.NodeName
		if cfg.Nodes > 1 {
			name = fmt.Sprintf("%s-%d", cfg.NodeName, i)
		}
		a.names = append(a.names, name)
		a.index[name] = i
	}
	if cfg.Runtime == RuntimeProcess {
		a.proc = newProcRuntime(a)
	}
	if cfg.Runtime == RuntimeProcess || len(cfg.Eviction.Thresholds) > 0 {
		a.recorder = events.NewRecorder(cli, events.Config{Component: "kubelet", Host: cfg.NodeName, Logger: cfg.Logger})
	}
	if len(cfg.Eviction.Thresholds) > 0 {
		a.ev = newEvictionManager(a)
	}
	return a
}

// NodeNames returns the names of the agent's nodes.
func (a *Agent) NodeNames() []string { return append([]string(nil), a.names...) }

// Run registers the nodes, then heartbeats and runs their pods until ctx ends. It returns
// nil when ctx ends, or the error that stopped registration.
func Run(ctx context.Context, cli *clientv3.Client, cfg Config) error {
	return New(cli, cfg).Run(ctx)
}

// Run registers the nodes, then heartbeats and runs their pods until ctx ends. It returns
// nil when ctx ends, or the error that stopped registration. Run may be called once.
func (a *Agent) Run(ctx context.Context) error {
	switch a.cfg.Runtime {
	case RuntimeSim:
	case RuntimeProcess:
		if err := a.proc.prepare(); err != nil {
			return err
		}
		defer func() { _ = a.proc.ln.Close() }()
	default:
		return fmt.Errorf("agent: unknown runtime %q (want %s or %s)", a.cfg.Runtime, RuntimeSim, RuntimeProcess)
	}
	leases, err := a.register(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	a.queue = workqueue.New[string](workqueue.Config{BaseDelay: 50 * time.Millisecond, MaxDelay: 10 * time.Second})
	a.nodeQ = workqueue.New[string](workqueue.Config{BaseDelay: 50 * time.Millisecond, MaxDelay: 10 * time.Second})
	a.pods = informer.New(a.cli, a.stores.Pods, informer.Config{Logger: a.cfg.Logger})
	a.pods.AddHandler(informer.Handler[*api.Pod]{
		OnAdd:    a.podChanged,
		OnUpdate: func(_, p *api.Pod) { a.podChanged(p) },
		OnDelete: a.podDeleted,
	})
	a.nodes = informer.New(a.cli, a.stores.Nodes, informer.Config{Logger: a.cfg.Logger})
	a.nodes.AddHandler(informer.Handler[*api.Node]{
		OnAdd:    a.nodeChanged,
		OnUpdate: func(_, n *api.Node) { a.nodeChanged(n) },
	})

	var wg sync.WaitGroup
	run := func(f func()) {
		wg.Add(1)
		go func() { defer wg.Done(); f() }()
	}
	run(func() { _ = a.pods.Run(ctx) })
	run(func() { _ = a.nodes.Run(ctx) })
	run(func() { a.heartbeat(ctx, leases) })
	if a.proc == nil {
		a.status = newStatusBatcher(a.cli)
		run(func() { a.status.run(ctx) })
	}
	if a.proc != nil {
		run(func() { a.proc.run(ctx) })
	}
	if a.recorder != nil {
		run(func() { _ = a.recorder.Run(ctx) })
	}
	if a.ev != nil {
		run(func() { a.ev.run(ctx) })
	}
	if a.cfg.MetricsInterval > 0 {
		run(func() { newMetricsReporter(a).run(ctx) })
	}
	for range a.cfg.Workers {
		run(func() { a.queue.Work(ctx, a.syncPod, a.podSyncFailed) })
	}
	run(func() { a.nodeQ.Work(ctx, a.syncNode, a.nodeSyncFailed) })
	<-ctx.Done()
	a.queue.ShutDown()
	a.nodeQ.ShutDown()
	wg.Wait()
	return nil
}

// nodeIP returns node i's deterministic fake address in 172.16.0.0/12.
func nodeIP(i int) string {
	return fmt.Sprintf("172.%d.%d.%d", 16+(i>>16)&15, (i>>8)&255, i&255)
}

// PodIP returns the deterministic fake address the agent gives a pod: a hash of its
// namespace, name and uid mapped into 10.0.0.0/8 (last octet 1–254).
func PodIP(p *api.Pod) string {
	h := fnv.New32a()
	_, _ = io.WriteString(h, p.Namespace+"/"+p.Name+"/"+p.UID)
	v := h.Sum32()
	return fmt.Sprintf("10.%d.%d.%d", (v>>24)&255, (v>>16)&255, 1+(v&0xffff)%254)
}

// desiredNode returns node i as the agent registers it.
func (a *Agent) desiredNode(i int) *api.Node {
	name := a.names[i]
	lbls := maps.Clone(a.cfg.Labels)
	if lbls == nil {
		lbls = map[string]string{}
	}
	lbls["kubernetes.io/hostname"] = name
	lbls["kubernetes.io/os"] = "linux"
	lbls["kubernetes.io/arch"] = "amd64"
	lbls["type"] = "sim"
	now := api.NewTime(a.cfg.Now())
	if a.proc != nil {
		return a.withPressure(a.proc.desiredNode(name, lbls, now, a.cfg.Capacity))
	}
	return a.withPressure(&api.Node{
		ObjectMeta: api.ObjectMeta{Name: name, Labels: lbls},
		Status: api.NodeStatus{
			Capacity:    maps.Clone(a.cfg.Capacity),
			Allocatable: maps.Clone(a.cfg.Capacity),
			Phase:       "Running",
			Conditions: []api.NodeCondition{{Type: "Ready", Status: api.ConditionTrue, Reason: "KubeletReady",
				Message: "sim agent is posting ready status", LastHeartbeatTime: now, LastTransitionTime: now}},
			Addresses: []api.NodeAddress{{Type: "InternalIP", Address: nodeIP(i)}, {Type: "Hostname", Address: name}},
			NodeInfo:  api.NodeSystemInfo{KubeletVersion: "keel-sim", ContainerRuntimeVersion: "sim://1", OperatingSystem: "linux", Architecture: "amd64"},
		},
	})
}

// withPressure gives a node the MemoryPressure=False condition when eviction is on (the
// eviction manager keeps it from then on).
func (a *Agent) withPressure(n *api.Node) *api.Node {
	if len(a.cfg.Eviction.Thresholds) > 0 {
		setMemoryPressure(n, false, n.Status.Conditions[0].LastTransitionTime.Time)
	}
	return n
}

// registerAttempts bounds the tries to register one node.
const registerAttempts = 5

// register creates or refreshes every node and its Lease, Workers at a time, and returns
// the Leases as stored.
func (a *Agent) register(ctx context.Context) ([]*api.Lease, error) {
	leases := make([]*api.Lease, len(a.names))
	errs := make([]error, len(a.names))
	sem := make(chan struct{}, max(a.cfg.Workers, 8))
	var wg sync.WaitGroup
	for i := range a.names {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			// A store that is electing a leader fails writes for a moment: retry a few
			// times (0.1 s doubling, ~3 s in all) before giving up.
			for attempt := 0; ; attempt++ {
				err := a.registerNode(ctx, i)
				if err == nil {
					leases[i], err = a.registerLease(ctx, i)
				}
				if err == nil || attempt == registerAttempts-1 || ctx.Err() != nil {
					errs[i] = err
					return
				}
				select {
				case <-ctx.Done():
				case <-time.After(100 * time.Millisecond << attempt):
				}
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("agent: register nodes: %w", err)
	}
	a.log.Info("nodes registered", "nodes", len(a.names))
	return leases, nil
}

func (a *Agent) registerNode(ctx context.Context, i int) error {
	want := a.desiredNode(i)
	_, err := a.stores.Nodes.Create(ctx, want)
	if !errors.Is(err, registry.ErrAlreadyExists) {
		return err
	}
	_, err = a.stores.Nodes.GuaranteedUpdate(ctx, "", want.Name, func(cur *api.Node) (*api.Node, error) {
		maps.Copy(cur.Labels, want.Labels)
		if cur.Labels == nil {
			cur.Labels = want.Labels
		}
		cur.Status.Capacity, cur.Status.Allocatable = want.Status.Capacity, want.Status.Allocatable
		cur.Status.Addresses, cur.Status.NodeInfo, cur.Status.Phase = want.Status.Addresses, want.Status.NodeInfo, want.Status.Phase
		if a.proc != nil {
			cur.Spec.PodCIDR, cur.Status.DaemonEndpoints = want.Spec.PodCIDR, want.Status.DaemonEndpoints
		}
		setReady(cur, a.cfg.Now())
		return cur, nil
	})
	return err
}

// setReady sets n's Ready condition to True, keeping its transition time when it already
// was, and reports whether anything changed.
func setReady(n *api.Node, now time.Time) bool {
	t := api.NewTime(now)
	for i := range n.Status.Conditions {
		c := &n.Status.Conditions[i]
		if c.Type != "Ready" {
			continue
		}
		if c.Status == api.ConditionTrue {
			return false
		}
		*c = api.NodeCondition{Type: "Ready", Status: api.ConditionTrue, Reason: "KubeletReady",
			Message: "sim agent is posting ready status", LastHeartbeatTime: t, LastTransitionTime: t}
		return true
	}
	n.Status.Conditions = append(n.Status.Conditions, api.NodeCondition{Type: "Ready", Status: api.ConditionTrue,
		Reason: "KubeletReady", Message: "sim agent is posting ready status", LastHeartbeatTime: t, LastTransitionTime: t})
	return true
}

func (a *Agent) registerLease(ctx context.Context, i int) (*api.Lease, error) {
	name := a.names[i]
	now := api.MicroTime{Time: a.cfg.Now().UTC()}
	dur := int32(a.cfg.LeaseDuration / time.Second)
	want := &api.Lease{
		ObjectMeta: api.ObjectMeta{Namespace: NodeLeaseNamespace, Name: name},
		Spec: api.LeaseSpec{HolderIdentity: &name, LeaseDurationSeconds: &dur,
			AcquireTime: &now, RenewTime: &now},
	}
	l, err := a.stores.Leases.Create(ctx, want)
	if !errors.Is(err, registry.ErrAlreadyExists) {
		return l, err
	}
	return a.stores.Leases.GuaranteedUpdate(ctx, NodeLeaseNamespace, name, func(cur *api.Lease) (*api.Lease, error) {
		cur.Spec = want.Spec
		return cur, nil
	})
}

// leaseBatch is the number of Lease puts per transaction (below the store's 128-op cap).
const leaseBatch = 100

// heartbeat renews every Lease each HeartbeatInterval until ctx ends.
func (a *Agent) heartbeat(ctx context.Context, leases []*api.Lease) {
	t := time.NewTicker(a.cfg.HeartbeatInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := a.renew(ctx, leases); err != nil && ctx.Err() == nil {
			a.log.Warn("lease renewal failed", "err", err)
		}
	}
}

// renew rewrites every Lease's renewTime, leaseBatch puts per transaction. The agent owns
// its nodes' Leases, so the puts are unconditional.
func (a *Agent) renew(ctx context.Context, leases []*api.Lease) error {
	now := api.MicroTime{Time: a.cfg.Now().UTC()}
	var ops []clientv3.Op
	flush := func() error {
		if len(ops) == 0 {
			return nil
		}
		_, err := a.cli.Txn(ctx).Then(ops...).Commit()
		ops = ops[:0]
		return err
	}
	for _, l := range leases {
		l.Spec.RenewTime = &now
		l.ResourceVersion = ""
		b, err := json.Marshal(l)
		if err != nil {
			return err
		}
		ops = append(ops, clientv3.OpPut(a.stores.Leases.Key(l.Namespace, l.Name), string(b)))
		if len(ops) == leaseBatch {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	return flush()
}

func (a *Agent) owns(node string) bool {
	_, ok := a.index[node]
	return ok
}

func (a *Agent) podChanged(p *api.Pod) {
	if a.owns(p.Spec.NodeName) {
		a.queue.Add(api.KeyFunc(p))
	}
}

func (a *Agent) podDeleted(p *api.Pod) {
	if !a.owns(p.Spec.NodeName) {
		return
	}
	if a.proc != nil {
		a.queue.Add(api.KeyFunc(p))
		return
	}
	a.mu.Lock()
	delete(a.firstSeen, api.KeyFunc(p))
	a.mu.Unlock()
}

func (a *Agent) nodeChanged(n *api.Node) {
	if !a.owns(n.Name) {
		return
	}
	for _, c := range n.Status.Conditions {
		if c.Type == "Ready" && c.Status == api.ConditionTrue {
			return
		}
	}
	a.nodeQ.Add(n.Name)
}

// syncNode re-asserts the Ready condition of one of the agent's nodes.
func (a *Agent) syncNode(ctx context.Context, name string) error {
	_, err := a.stores.Nodes.GuaranteedUpdate(ctx, "", name, func(cur *api.Node) (*api.Node, error) {
		setReady(cur, a.cfg.Now())
		return cur, nil
	})
	if errors.Is(err, registry.ErrNotFound) {
		return nil
	}
	return err
}

// nodeSyncFailed logs a failed node status update before it is retried.
func (a *Agent) nodeSyncFailed(name string, err error) {
	a.log.Warn("node status update failed", "node", name, "err", err)
}

// podSyncFailed logs a failed pod sync before the pod is retried.
func (a *Agent) podSyncFailed(key string, err error) {
	a.log.Debug("pod sync failed", "pod", key, "err", err)
}

// syncPod brings one pod bound to a local node to its simulated state.
func (a *Agent) syncPod(ctx context.Context, key string) error {
	if a.proc != nil {
		return a.proc.sync(ctx, key)
	}
	p, ok := a.pods.Cache().Get(key)
	if !ok || !a.owns(p.Spec.NodeName) {
		return nil
	}
	if p.DeletionTimestamp != nil {
		if wait := simStopAt(p, a.cfg.StopDelay).Sub(a.cfg.Now()); wait > 0 {
			a.queue.AddAfter(key, wait)
			return nil
		}
		_, err := a.stores.Pods.Delete(ctx, p.Namespace, p.Name, registry.DeleteOptions{UID: p.UID, GracePeriodSeconds: registry.GracePeriod(0)})
		if errors.Is(err, registry.ErrNotFound) || errors.Is(err, registry.ErrConflict) {
			return nil
		}
		return err
	}
	if handled, err := a.simComplete(ctx, key, p); handled {
		return err
	}
	if rejected, err := a.ev.admit(ctx, p); rejected || err != nil {
		return err
	}
	if p.Status.Phase == api.PodSucceeded || p.Status.Phase == api.PodFailed ||
		p.Status.Phase == api.PodRunning && p.Status.PodIP == PodIP(p) && podReady(p) {
		return nil
	}
	now := a.cfg.Now()
	a.mu.Lock()
	seen, ok := a.firstSeen[key]
	if !ok {
		seen = now
		a.firstSeen[key] = now
	}
	a.mu.Unlock()
	if wait := seen.Add(a.cfg.StartDelay).Sub(now); wait > 0 {
		a.queue.AddAfter(key, wait)
		return nil
	}
	hostIP := nodeIP(a.index[p.Spec.NodeName])
	if a.status != nil {
		// Batched with other pods' statuses, guarded by the cached mod_revision; a pod
		// that changed since is read and written on its own below.
		next := withOwnStatus(p)
		runningStatus(next, hostIP, a.cfg.Now())
		if a.status.submit(ctx, a.stores.Pods.Key(p.Namespace, p.Name), p, next) {
			return nil
		}
	}
	_, err := a.stores.Pods.GuaranteedUpdate(ctx, p.Namespace, p.Name, func(cur *api.Pod) (*api.Pod, error) {
		if cur.UID != p.UID || cur.Spec.NodeName != p.Spec.NodeName || cur.DeletionTimestamp != nil {
			return nil, errSkip
		}
		runningStatus(cur, hostIP, a.cfg.Now())
		return cur, nil
	})
	if errors.Is(err, errSkip) || errors.Is(err, registry.ErrNotFound) {
		return nil
	}
	return err
}

var errSkip = errors.New("agent: pod changed, skip")

// simStopAt is when the simulated containers of p, marked for deletion, have stopped: the
// mark (deletionTimestamp minus the grace period) plus stopDelay, at most the grace period.
func simStopAt(p *api.Pod, stopDelay time.Duration) time.Time {
	grace := time.Duration(0)
	if g := p.DeletionGracePeriodSeconds; g != nil {
		grace = time.Duration(max(*g, 0)) * time.Second
	}
	return p.DeletionTimestamp.Add(-grace).Add(min(stopDelay, grace))
}

// runningStatus writes the status of a pod all of whose containers run.
func runningStatus(p *api.Pod, hostIP string, now time.Time) {
	t := api.NewTime(now)
	ip := PodIP(p)
	st := &p.Status
	st.Phase = api.PodRunning
	st.HostIP, st.PodIP, st.PodIPs = hostIP, ip, []api.PodIP{{IP: ip}}
	if st.StartTime == nil {
		st.StartTime = &t
	}
	st.Reason, st.Message = "", ""
	for _, ct := range []string{"PodScheduled", "Initialized", "ContainersReady", "Ready"} {
		setPodCondition(st, ct, t)
	}
	started := true
	st.ContainerStatuses = st.ContainerStatuses[:0]
	for _, c := range p.Spec.Containers {
		st.ContainerStatuses = append(st.ContainerStatuses, api.ContainerStatus{
			Name: c.Name, Image: c.Image, Ready: true, Started: &started, RestartCount: 0,
			ContainerID: "sim://" + p.UID + "/" + c.Name,
			State:       api.ContainerState{Running: &api.ContainerStateRunning{StartedAt: t}},
		})
	}
	st.InitContainerStatuses = st.InitContainerStatuses[:0]
	for _, c := range p.Spec.InitContainers {
		st.InitContainerStatuses = append(st.InitContainerStatuses, api.ContainerStatus{
			Name: c.Name, Image: c.Image, Ready: true,
			State: api.ContainerState{Terminated: &api.ContainerStateTerminated{Reason: "Completed", StartedAt: t, FinishedAt: t}},
		})
	}
}

func setPodCondition(st *api.PodStatus, typ string, t api.Time) {
	for i := range st.Conditions {
		c := &st.Conditions[i]
		if c.Type == typ {
			if c.Status != api.ConditionTrue {
				*c = api.PodCondition{Type: typ, Status: api.ConditionTrue, LastTransitionTime: t}
			}
			return
		}
	}
	st.Conditions = append(st.Conditions, api.PodCondition{Type: typ, Status: api.ConditionTrue, LastTransitionTime: t})
}

// podReady reports whether p's Ready condition is True.
func podReady(p *api.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == "Ready" {
			return c.Status == api.ConditionTrue
		}
	}
	return false
}
