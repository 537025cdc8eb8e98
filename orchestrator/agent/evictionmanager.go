package agent

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/keeldb/keel/orchestrator/api"
	"github.com/keeldb/keel/orchestrator/events"
	"github.com/keeldb/keel/orchestrator/registry"
)

// SignalSource observes a node's memory: its capacity, what is available, and the working
// set of each of the given pods (the node's active pods) that it can measure.
type SignalSource interface {
	Observe(node string, pods []*api.Pod) (MemoryObservation, error)
}

var (
	_ SignalSource = simSource{}
	_ SignalSource = procSource{}
)

// simSource is the sim runtime's signal: the node's memory capacity minus the simulated
// usage (SimulatedMemoryAnnotation) of its Running pods, as the metrics report it.
type simSource struct{ capacity int64 }

func (s simSource) Observe(_ string, pods []*api.Pod) (MemoryObservation, error) {
	obs := MemoryObservation{Capacity: s.capacity, Available: s.capacity, Pods: map[string][]ContainerMemory{}}
	for _, p := range pods {
		if p.Status.Phase != api.PodRunning {
			continue
		}
		for _, c := range simulatedUsage(p) {
			obs.Pods[p.UID] = append(obs.Pods[p.UID], ContainerMemory{Name: c.name, WorkingSet: c.u.memBytes})
			obs.Available -= c.u.memBytes
		}
	}
	return obs, nil
}

// procSource is the process runtime's signal: the host's MemTotal and MemAvailable from
// /proc/meminfo (the kernel's estimate of what can be allocated without swapping, standing
// in for kubelet's capacity minus the root cgroup's working set), and each container's
// resident memory (its process group's RSS).
type procSource struct{}

func (procSource) Observe(_ string, pods []*api.Pod) (MemoryObservation, error) {
	total, avail, err := readMeminfo("/proc/meminfo")
	if err != nil {
		return MemoryObservation{}, err
	}
	obs := MemoryObservation{Capacity: total, Available: avail, Pods: map[string][]ContainerMemory{}}
	procs := readProcs()
	page := int64(os.Getpagesize())
	for _, p := range pods {
		for _, cs := range p.Status.ContainerStatuses {
			pid, ok := processPID(cs)
			if !ok {
				continue
			}
			_, rss := groupUsage(procs[pid])
			obs.Pods[p.UID] = append(obs.Pods[p.UID], ContainerMemory{Name: cs.Name, WorkingSet: rss * page})
		}
	}
	return obs, nil
}

// readMeminfo returns MemTotal and MemAvailable in bytes.
func readMeminfo(path string) (total, avail int64, err error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, 0, err
	}
	defer func() { _ = f.Close() }()
	found := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok || k != "MemTotal" && k != "MemAvailable" {
			continue
		}
		n, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("%s: %s: %w", path, k, err)
		}
		if k == "MemTotal" {
			total = n * 1024
		} else {
			avail = n * 1024
		}
		found++
	}
	if err := sc.Err(); err != nil {
		return 0, 0, err
	}
	if found != 2 {
		return 0, 0, fmt.Errorf("%s: no MemTotal or MemAvailable", path)
	}
	return total, avail, nil
}

// evictionManager observes every node's memory each interval, keeps the MemoryPressure
// condition and taint of the nodes, and evicts at most one pod per node per interval
// while a threshold is met. Owned by Agent.Run's goroutine.
type evictionManager struct {
	a      *Agent
	cfg    EvictionConfig
	src    SignalSource
	states map[string]*evictionState // node → state
	// pending are the pods evicted that may still count as active, by UID: their
	// containers may still be stopping (process runtime), or the pod cache may not show
	// their Failed status yet (sim runtime: the next observation would still count the
	// evicted pod's memory, find it skipped as terminal in the store and evict the next
	// pod in the ranking). The node evicts no other pod until they are terminal or gone in
	// the cache, as kubelet waits for the evicted pod's cleanup.
	pending map[string]string // pod UID → pod key

	// mu guards pressure, which admit reads from the pod workers.
	mu       sync.Mutex
	pressure map[string]bool // node → MemoryPressure
}

func newEvictionManager(a *Agent) *evictionManager {
	cfg := a.cfg.Eviction
	cfg.setDefaults()
	src := cfg.Source
	if src == nil {
		if a.proc != nil {
			src = procSource{}
		} else {
			src = simSource{capacity: quantityBytes(a.cfg.Capacity["memory"])}
		}
	}
	return &evictionManager{a: a, cfg: cfg, src: src, states: map[string]*evictionState{}, pending: map[string]string{},
		pressure: map[string]bool{}}
}

func (m *evictionManager) run(ctx context.Context) {
	if m.a.pods.WaitForSync(ctx) != nil || m.a.nodes.WaitForSync(ctx) != nil {
		return
	}
	t := time.NewTicker(m.cfg.Interval)
	defer t.Stop()
	for {
		pods := m.activePods()
		for _, name := range m.a.names {
			if err := m.sync(ctx, name, pods[name]); err != nil && ctx.Err() == nil {
				m.a.log.Warn("eviction manager", "node", name, "err", err)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// activePods are the pods of the agent's nodes that run or will (not terminal, not being
// deleted), by node.
func (m *evictionManager) activePods() map[string][]*api.Pod {
	out := map[string][]*api.Pod{}
	for _, p := range m.a.pods.Cache().List() {
		if m.a.owns(p.Spec.NodeName) && p.DeletionTimestamp == nil &&
			p.Status.Phase != api.PodSucceeded && p.Status.Phase != api.PodFailed {
			out[p.Spec.NodeName] = append(out[p.Spec.NodeName], p)
		}
	}
	return out
}

// sync observes one node and acts on the decision.
func (m *evictionManager) sync(ctx context.Context, node string, pods []*api.Pod) error {
	obs, err := m.src.Observe(node, pods)
	if err != nil {
		return fmt.Errorf("observe memory: %w", err)
	}
	st := m.states[node]
	if st == nil {
		st = &evictionState{}
		m.states[node] = st
	}
	now := m.a.cfg.Now()
	d := st.observe(m.cfg.Thresholds, obs, now, m.cfg.PressureTransitionPeriod)
	m.mu.Lock()
	m.pressure[node] = d.pressure
	m.mu.Unlock()
	if err := m.setPressure(ctx, node, d.pressure, now); err != nil {
		return err
	}
	if d.evict == nil {
		return nil
	}
	active := map[string]bool{}
	for _, p := range pods {
		active[p.UID] = true
	}
	for uid := range m.pending {
		if !active[uid] {
			delete(m.pending, uid)
		}
	}
	if len(m.pending) > 0 {
		return nil // the last pod evicted is still stopping
	}
	if n, ok := m.a.nodes.Cache().Get(node); ok {
		m.a.recorder.Event(n, events.TypeWarning, "EvictionThresholdMet", "Attempting to reclaim memory")
	}
	usage := map[string]int64{}
	for uid, cs := range obs.Pods {
		var sum int64
		for _, c := range cs {
			sum += c.WorkingSet
		}
		usage[uid] = sum
	}
	for _, p := range RankMemoryPressure(pods, usage) {
		ok, err := m.evict(ctx, p, d.evict, obs)
		if err != nil {
			return err
		}
		if ok {
			return nil // one pod per interval
		}
	}
	return nil
}

// setPressure writes the node's MemoryPressure condition and taint when they differ from
// pressure.
func (m *evictionManager) setPressure(ctx context.Context, node string, pressure bool, now time.Time) error {
	want := api.ConditionFalse
	if pressure {
		want = api.ConditionTrue
	}
	if n, ok := m.a.nodes.Cache().Get(node); ok {
		if status, tainted := memoryPressure(n); status == want && tainted == pressure {
			return nil
		}
	}
	var transitioned bool
	n, err := m.a.stores.Nodes.GuaranteedUpdate(ctx, "", node, func(cur *api.Node) (*api.Node, error) {
		before, _ := memoryPressure(cur)
		if !setMemoryPressure(cur, pressure, now) {
			return nil, errSkip
		}
		transitioned = before != want && (before != "" || pressure) // no event for the first False
		return cur, nil
	})
	if errors.Is(err, errSkip) || errors.Is(err, registry.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("node status: %w", err)
	}
	if transitioned {
		reason := "NodeHasSufficientMemory"
		if pressure {
			reason = "NodeHasInsufficientMemory"
		}
		m.a.recorder.Event(n, events.TypeNormal, reason, fmt.Sprintf("Node %s status is now: %s", node, reason))
		m.a.log.Info("memory pressure", "node", node, "pressure", pressure)
	}
	return nil
}

// evict evicts p for threshold t: the process runtime stops its containers within the
// eviction grace period and then reports it Failed; the sim runtime reports it Failed at
// once. Either way the status says Evicted with kubelet's message and an Event says so.
func (m *evictionManager) evict(ctx context.Context, p *api.Pod, t *Threshold, obs MemoryObservation) (bool, error) {
	msg := evictionMessage(p, t, obs)
	grace := evictionGrace(p, t, m.cfg.MaxPodGracePeriod)
	if m.a.proc != nil {
		if !m.a.proc.evict(api.KeyFunc(p), p.UID, grace, msg) {
			return false, nil
		}
		m.pending[p.UID] = api.KeyFunc(p)
	} else {
		now := m.a.cfg.Now()
		_, err := m.a.stores.Pods.GuaranteedUpdate(ctx, p.Namespace, p.Name, func(cur *api.Pod) (*api.Pod, error) {
			if cur.UID != p.UID || cur.DeletionTimestamp != nil || cur.Status.Phase == api.PodSucceeded || cur.Status.Phase == api.PodFailed {
				return nil, errSkip
			}
			evictedStatus(cur, msg, now)
			return cur, nil
		})
		if errors.Is(err, errSkip) || errors.Is(err, registry.ErrNotFound) {
			return false, nil
		}
		if err != nil {
			return false, fmt.Errorf("evict pod %s: %w", api.KeyFunc(p), err)
		}
		m.pending[p.UID] = api.KeyFunc(p)
	}
	m.a.recorder.Event(p, events.TypeWarning, EvictedReason, msg)
	m.a.log.Info("evicted pod", "pod", api.KeyFunc(p), "grace_period", grace, "message", msg)
	return true, nil
}

// admit rejects a pod new on a node under memory pressure, as kubelet's eviction manager
// admits pods: a BestEffort pod that does not tolerate the memory-pressure taint (bound to
// the node directly, past the scheduler) is reported Failed with reason Evicted instead of
// being started; other pods, critical ones and pods already started are admitted. It
// reports whether p was rejected. A nil manager admits everything.
func (m *evictionManager) admit(ctx context.Context, p *api.Pod) (bool, error) {
	if m == nil || p.Status.StartTime != nil || p.DeletionTimestamp != nil ||
		p.Status.Phase != "" && p.Status.Phase != api.PodPending {
		return false, nil
	}
	m.mu.Lock()
	pressure := m.pressure[p.Spec.NodeName]
	m.mu.Unlock()
	if !pressure || podPriority(p) >= systemCriticalPriority || api.PodQOSClass(&p.Spec) != api.QOSBestEffort ||
		api.ToleratesTaint(p.Spec.Tolerations, api.Taint{Key: TaintNodeMemoryPressure, Effect: api.TaintNoSchedule}) {
		return false, nil
	}
	msg := fmt.Sprintf(nodeConditionMessageFmt, "["+NodeMemoryPressure+"]")
	now := m.a.cfg.Now()
	_, err := m.a.stores.Pods.GuaranteedUpdate(ctx, p.Namespace, p.Name, func(cur *api.Pod) (*api.Pod, error) {
		if cur.UID != p.UID || cur.DeletionTimestamp != nil || cur.Status.StartTime != nil ||
			cur.Status.Phase != "" && cur.Status.Phase != api.PodPending {
			return nil, errSkip
		}
		cur.Status.Phase, cur.Status.Reason, cur.Status.Message = api.PodFailed, EvictedReason, msg
		setCondition(&cur.Status, "PodScheduled", api.ConditionTrue, "", "", api.NewTime(now))
		return cur, nil
	})
	if errors.Is(err, errSkip) || errors.Is(err, registry.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	m.a.recorder.Event(p, events.TypeWarning, EvictedReason, msg)
	m.a.log.Info("pod rejected: node under memory pressure", "pod", api.KeyFunc(p))
	return true, nil
}

// evictedStatus writes the status of a sim pod evicted: Failed, reason Evicted, its
// containers terminated as killed, and the DisruptionTarget condition kubelet adds.
func evictedStatus(p *api.Pod, msg string, now time.Time) {
	t := api.NewTime(now)
	st := &p.Status
	st.Phase, st.Reason, st.Message = api.PodFailed, EvictedReason, msg
	setCondition(st, "DisruptionTarget", api.ConditionTrue, "TerminationByKubelet", msg, t)
	setCondition(st, "ContainersReady", api.ConditionFalse, "PodFailed", "", t)
	setCondition(st, "Ready", api.ConditionFalse, "PodFailed", "", t)
	for i := range st.ContainerStatuses {
		cs := &st.ContainerStatuses[i]
		var started api.Time
		if r := cs.State.Running; r != nil {
			started = r.StartedAt
		}
		f := false
		cs.Ready, cs.Started = false, &f
		cs.State = api.ContainerState{Terminated: &api.ContainerStateTerminated{ExitCode: 137, Reason: "Error",
			StartedAt: started, FinishedAt: t}}
	}
}

// evict asks the runner of pod key (with uid) to stop its containers within grace and
// report the pod Failed with reason Evicted and msg. It reports whether the runner took it.
func (rt *procRuntime) evict(key, uid string, grace time.Duration, msg string) bool {
	rt.mu.Lock()
	r := rt.runners[key]
	rt.mu.Unlock()
	if r == nil || r.uid != uid {
		return false
	}
	r.mu.Lock()
	r.evictReq = &evictRequest{grace: grace, message: msg}
	r.mu.Unlock()
	r.poke()
	return true
}

// evictRequest is the eviction manager's order to a podRunner.
type evictRequest struct {
	grace   time.Duration
	message string
}
