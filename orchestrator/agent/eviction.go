package agent

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/keeldb/keel/orchestrator/api"
)

// Node-pressure eviction, as kubelet's eviction manager does it for memory: thresholds on
// the memory.available signal (hard, or soft with a grace period), a MemoryPressure node
// condition and taint, and one pod evicted per monitoring interval in kubelet's rank order.
// This file holds the pure parts (parsing, the decision, the ranking, the message);
// evictionmanager.go runs them against the store.

// SignalMemoryAvailable is the one eviction signal the agent supports: node memory
// capacity minus the node's working set.
const SignalMemoryAvailable = "memory.available"

// Kubelet's names for what node-pressure eviction writes.
const (
	EvictedReason           = "Evicted"
	NodeMemoryPressure      = "MemoryPressure"
	TaintNodeMemoryPressure = "node.kubernetes.io/memory-pressure"
	// systemCriticalPriority: pods at or above it are never evicted (kubelet's
	// IsCriticalPod by priority).
	systemCriticalPriority = 2000000000
)

// Kubelet's message fragments (the trailing spaces are kubelet's).
const (
	nodeLowMessageFmt       = "The node was low on resource: %v. "
	nodeConditionMessageFmt = "The node had condition: %v. "
	thresholdMetMessageFmt  = "Threshold quantity: %v, available: %v. "
	containerMessageFmt     = "Container %s was using %s, request is %s, has larger consumption of %v. "
)

// Defaults of the eviction flags: kubelet's memory.available<100Mi hard threshold, its 5 min
// pressure transition period and 10 s monitoring period.
const (
	DefaultEvictionHard               = SignalMemoryAvailable + "<100Mi"
	DefaultPressureTransitionPeriod   = 5 * time.Minute
	DefaultEvictionMonitoringInterval = 10 * time.Second
)

// ThresholdValue is a threshold's quantity in bytes, or a fraction of the node's capacity.
type ThresholdValue struct {
	Quantity   *resource.Quantity
	Percentage float64 // 0 < p < 1 when Quantity is nil
}

// bytes is v against a node of capacity bytes.
func (v ThresholdValue) bytes(capacity int64) int64 {
	if v.Quantity != nil {
		return v.Quantity.Value()
	}
	return int64(float64(capacity) * v.Percentage)
}

// quantity is v as kubelet prints it in the eviction message.
func (v ThresholdValue) quantity(capacity int64) string {
	if v.Quantity != nil {
		return v.Quantity.String()
	}
	return resource.NewQuantity(v.bytes(capacity), resource.BinarySI).String()
}

// Threshold is one eviction threshold: met when the signal's available amount is below
// Value. A zero GracePeriod makes it hard (evict at once, pods killed without grace).
type Threshold struct {
	Signal      string
	Value       ThresholdValue
	GracePeriod time.Duration
	MinReclaim  *ThresholdValue
}

func (t Threshold) hard() bool { return t.GracePeriod == 0 }

// EvictionConfig configures node-pressure eviction. No thresholds: none.
type EvictionConfig struct {
	// Thresholds, from ParseThresholds.
	Thresholds []Threshold
	// PressureTransitionPeriod is how long MemoryPressure stays True after the last time a
	// threshold was met; default 5 min.
	PressureTransitionPeriod time.Duration
	// MaxPodGracePeriod caps the grace period of pods evicted for a soft threshold;
	// negative: the pod's own. Hard thresholds kill with 0.
	MaxPodGracePeriod time.Duration
	// Interval is the monitoring period: signals are observed and at most one pod per node
	// evicted each interval; default 10 s.
	Interval time.Duration
	// Source observes the nodes' memory; default the runtime's (simulated usage in the sim
	// runtime, /proc in the process runtime).
	Source SignalSource
}

func (c *EvictionConfig) setDefaults() {
	if c.PressureTransitionPeriod <= 0 {
		c.PressureTransitionPeriod = DefaultPressureTransitionPeriod
	}
	if c.Interval <= 0 {
		c.Interval = DefaultEvictionMonitoringInterval
	}
}

// ParseEvictionMap parses a kubelet map flag: "k<v,k<v" with sep '<' (--eviction-hard,
// --eviction-soft) or "k=v,k=v" with sep '=' (--eviction-soft-grace-period,
// --eviction-minimum-reclaim), with kubelet's error text for a malformed pair.
func ParseEvictionMap(s string, sep byte) (map[string]string, error) {
	out := map[string]string{}
	if strings.TrimSpace(s) == "" {
		return out, nil
	}
	for _, pair := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(pair, string(sep))
		if !ok {
			return nil, fmt.Errorf("malformed pair, expect string%cstring", sep)
		}
		out[strings.TrimSpace(k)] = strings.TrimSpace(v)
	}
	return out, nil
}

// ParseThresholds turns the parsed eviction flags into thresholds, with kubelet's checks
// and error texts: only memory.available, positive quantities, percentages in 0–100 (0%
// and 100% ignore the threshold), a grace period for every soft threshold.
func ParseThresholds(hard, soft, softGrace, minReclaim map[string]string) ([]Threshold, error) {
	hs, err := parseStatements(hard)
	if err != nil {
		return nil, err
	}
	ss, err := parseStatements(soft)
	if err != nil {
		return nil, err
	}
	graces := map[string]time.Duration{}
	for sig, v := range softGrace {
		if sig != SignalMemoryAvailable {
			return nil, fmt.Errorf("unsupported eviction signal %v", sig)
		}
		d, err := time.ParseDuration(v)
		if err != nil {
			return nil, err
		}
		if d < 0 {
			return nil, fmt.Errorf("invalid eviction grace period specified: %v, must be a positive value", v)
		}
		graces[sig] = d
	}
	reclaims := map[string]ThresholdValue{}
	for sig, v := range minReclaim {
		if sig != SignalMemoryAvailable {
			return nil, fmt.Errorf("unsupported eviction signal %v", sig)
		}
		if strings.HasSuffix(v, "%") {
			p, err := parsePercentage(v)
			if err != nil {
				return nil, err
			}
			if p <= 0 {
				return nil, fmt.Errorf("eviction percentage minimum reclaim %v must be positive: %s", sig, v)
			}
			reclaims[sig] = ThresholdValue{Percentage: p}
			continue
		}
		q, err := resource.ParseQuantity(v)
		if err != nil {
			return nil, err
		}
		if q.Sign() < 0 {
			return nil, fmt.Errorf("negative eviction minimum reclaim specified for %v", sig)
		}
		reclaims[sig] = ThresholdValue{Quantity: &q}
	}
	for i := range ss {
		g, ok := graces[ss[i].Signal]
		if !ok {
			return nil, fmt.Errorf("grace period must be specified for the soft eviction threshold %v", ss[i].Signal)
		}
		ss[i].GracePeriod = g
	}
	out := append(hs, ss...)
	for i := range out {
		if r, ok := reclaims[out[i].Signal]; ok {
			out[i].MinReclaim = &r
		}
	}
	return out, nil
}

func parseStatements(m map[string]string) ([]Threshold, error) {
	var out []Threshold
	for _, sig := range slices.Sorted(maps.Keys(m)) {
		v := m[sig]
		if sig != SignalMemoryAvailable {
			return nil, fmt.Errorf("unsupported eviction signal %v", sig)
		}
		if strings.HasSuffix(v, "%") {
			if v == "0%" || v == "100%" {
				continue
			}
			p, err := parsePercentage(v)
			if err != nil {
				return nil, err
			}
			if p < 0 {
				return nil, fmt.Errorf("eviction percentage threshold %v must be >= 0%%: %s", sig, v)
			}
			if p > 1 {
				return nil, fmt.Errorf("eviction percentage threshold %v must be <= 100%%: %s", sig, v)
			}
			out = append(out, Threshold{Signal: sig, Value: ThresholdValue{Percentage: p}})
			continue
		}
		q, err := resource.ParseQuantity(v)
		if err != nil {
			return nil, err
		}
		if q.Sign() <= 0 {
			return nil, fmt.Errorf("eviction threshold %v must be positive: %s", sig, &q)
		}
		out = append(out, Threshold{Signal: sig, Value: ThresholdValue{Quantity: &q}})
	}
	return out, nil
}

func parsePercentage(s string) (float64, error) {
	v, err := strconv.ParseFloat(strings.TrimSuffix(s, "%"), 64)
	if err != nil {
		return 0, err
	}
	return v / 100, nil
}

// MemoryObservation is one node's memory signal at one moment: capacity and available
// bytes, and the working set of each of its pods' containers (by pod UID).
type MemoryObservation struct {
	Capacity, Available int64
	Pods                map[string][]ContainerMemory
}

// ContainerMemory is one container's working set in bytes.
type ContainerMemory struct {
	Name       string
	WorkingSet int64
}

// evictionState is what the decision carries from one observation to the next for one
// node (kubelet's thresholdsMet, thresholdsFirstObservedAt, nodeConditionsLastObservedAt).
type evictionState struct {
	met           []int             // indices of the thresholds met (grace elapsed) last round
	firstObserved map[int]time.Time // threshold index → first seen met in the current run
	lastPressure  time.Time         // last time a threshold was met; zero: never
}

// decision is the outcome of one observation.
type decision struct {
	pressure bool       // MemoryPressure is True
	evict    *Threshold // a threshold met past its grace period: evict one pod for it
}

// observe applies one observation to the state, as kubelet's synchronize: a threshold is
// met when available < value, and stays met until available reaches value + its minimum
// reclaim; MemoryPressure holds while a threshold was met within the transition period;
// a pod is evicted for a threshold met for at least its grace period (hard ones first).
func (s *evictionState) observe(ths []Threshold, obs MemoryObservation, now time.Time, transition time.Duration) decision {
	met := map[int]bool{}
	for i, t := range ths {
		if obs.Available < t.Value.bytes(obs.Capacity) {
			met[i] = true
		}
	}
	for _, i := range s.met { // not yet resolved: the minimum reclaim is not reclaimed
		t := ths[i]
		want := t.Value.bytes(obs.Capacity)
		if t.MinReclaim != nil {
			want += t.MinReclaim.bytes(obs.Capacity)
		}
		if obs.Available < want {
			met[i] = true
		}
	}
	first := map[int]time.Time{}
	for i := range met {
		at, ok := s.firstObserved[i]
		if !ok {
			at = now
		}
		first[i] = at
	}
	s.firstObserved = first
	if len(met) > 0 {
		s.lastPressure = now
	}
	d := decision{pressure: !s.lastPressure.IsZero() && now.Sub(s.lastPressure) < transition}
	s.met = s.met[:0]
	for i := range ths {
		if met[i] && now.Sub(first[i]) >= ths[i].GracePeriod {
			s.met = append(s.met, i)
		}
	}
	for _, i := range s.met {
		if d.evict == nil || ths[i].hard() && !d.evict.hard() {
			d.evict = &ths[i]
		}
	}
	return d
}

// podMemoryRequest is the pod's memory request in bytes: the sum over its app containers,
// or the largest init container's if larger (the pod's effective request), plus overhead.
func podMemoryRequest(p *api.Pod) int64 {
	var sum, initMax int64
	for _, c := range p.Spec.Containers {
		sum += quantityBytes(c.Resources.Requests["memory"])
	}
	for _, c := range p.Spec.InitContainers {
		initMax = max(initMax, quantityBytes(c.Resources.Requests["memory"]))
	}
	return max(sum, initMax)
}

func quantityBytes(q api.Quantity) int64 {
	if q == "" {
		return 0
	}
	v, err := api.ParseQuantity(string(q))
	if err != nil {
		return 0
	}
	return v / 1000
}

func podPriority(p *api.Pod) int32 {
	if p.Spec.Priority != nil {
		return *p.Spec.Priority
	}
	return 0
}

// RankMemoryPressure orders pods for eviction under memory pressure, as kubelet's
// rankMemoryPressure: pods without usage first, then those whose usage exceeds their
// memory request, then lower priority first, then larger usage above the request first
// (BestEffort pods, with no request, thus come before pods within their requests). usage
// is the pods' working sets by UID. Ties keep namespace/name order. Critical pods (priority
// at least system-critical) are left out: kubelet never evicts them.
func RankMemoryPressure(pods []*api.Pod, usage map[string]int64) []*api.Pod {
	out := make([]*api.Pod, 0, len(pods))
	for _, p := range pods {
		if podPriority(p) < systemCriticalPriority {
			out = append(out, p)
		}
	}
	slices.SortFunc(out, func(a, b *api.Pod) int {
		return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
	})
	exceeds := func(p *api.Pod) (found, over bool, above int64) {
		u, ok := usage[p.UID]
		if !ok {
			return false, false, 0
		}
		r := podMemoryRequest(p)
		return true, u > r, u - r
	}
	slices.SortStableFunc(out, func(a, b *api.Pod) int {
		fa, oa, da := exceeds(a)
		fb, ob, db := exceeds(b)
		if fa != fb {
			return boolFirst(!fa, !fb)
		}
		if oa != ob {
			return boolFirst(oa, ob)
		}
		if c := cmp.Compare(podPriority(a), podPriority(b)); c != 0 {
			return c
		}
		return cmp.Compare(db, da)
	})
	return out
}

// boolFirst orders true before false.
func boolFirst(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return -1
	}
	return 1
}

// evictionMessage is kubelet's message for a pod evicted for memory: the threshold, what
// was available, and each container whose usage exceeds its request.
func evictionMessage(p *api.Pod, t *Threshold, obs MemoryObservation) string {
	var b strings.Builder
	fmt.Fprintf(&b, nodeLowMessageFmt, "memory")
	fmt.Fprintf(&b, thresholdMetMessageFmt, t.Value.quantity(obs.Capacity),
		resource.NewQuantity(obs.Available, resource.BinarySI).String())
	used := map[string]int64{}
	for _, c := range obs.Pods[p.UID] {
		used[c.Name] = c.WorkingSet
	}
	for _, c := range p.Spec.Containers {
		u, ok := used[c.Name]
		if !ok {
			continue
		}
		req := resource.Quantity{}
		if q := c.Resources.Requests["memory"]; q != "" {
			if parsed, err := resource.ParseQuantity(string(q)); err == nil {
				req = parsed
			}
		}
		if u > req.Value() {
			fmt.Fprintf(&b, containerMessageFmt, c.Name, resource.NewQuantity(u, resource.BinarySI).String(), req.String(), "memory")
		}
	}
	return b.String()
}

// evictionGrace is the grace period of a pod evicted for t: 0 for a hard threshold, else
// the pod's own capped by maxGrace (negative maxGrace: the pod's own).
func evictionGrace(p *api.Pod, t *Threshold, maxGrace time.Duration) time.Duration {
	if t.hard() {
		return 0
	}
	g := 30 * time.Second
	if p.Spec.TerminationGracePeriodSeconds != nil {
		g = time.Duration(max(*p.Spec.TerminationGracePeriodSeconds, 0)) * time.Second
	}
	if maxGrace >= 0 {
		g = min(g, maxGrace)
	}
	return g
}

// setMemoryPressure sets n's MemoryPressure condition and taint, keeping the condition's
// transition time when its status is unchanged, and reports whether anything changed.
func setMemoryPressure(n *api.Node, pressure bool, now time.Time) bool {
	t := api.NewTime(now)
	want := api.NodeCondition{Type: NodeMemoryPressure, Status: api.ConditionFalse, Reason: "KubeletHasSufficientMemory",
		Message: "kubelet has sufficient memory available", LastHeartbeatTime: t, LastTransitionTime: t}
	if pressure {
		want.Status, want.Reason, want.Message = api.ConditionTrue, "KubeletHasInsufficientMemory", "kubelet has insufficient memory available"
	}
	changed := false
	i := slices.IndexFunc(n.Status.Conditions, func(c api.NodeCondition) bool { return c.Type == NodeMemoryPressure })
	switch {
	case i < 0:
		n.Status.Conditions = append(n.Status.Conditions, want)
		changed = true
	case n.Status.Conditions[i].Status != want.Status:
		n.Status.Conditions[i] = want
		changed = true
	}
	j := slices.IndexFunc(n.Spec.Taints, func(t api.Taint) bool {
		return t.Key == TaintNodeMemoryPressure && t.Effect == api.TaintNoSchedule
	})
	switch {
	case pressure && j < 0:
		n.Spec.Taints = append(n.Spec.Taints, api.Taint{Key: TaintNodeMemoryPressure, Effect: api.TaintNoSchedule, TimeAdded: &t})
		changed = true
	case !pressure && j >= 0:
		n.Spec.Taints = slices.Delete(n.Spec.Taints, j, j+1)
		changed = true
	}
	return changed
}

// memoryPressure reports n's MemoryPressure condition status and whether it has the taint.
func memoryPressure(n *api.Node) (status string, tainted bool) {
	for _, c := range n.Status.Conditions {
		if c.Type == NodeMemoryPressure {
			status = c.Status
		}
	}
	for _, t := range n.Spec.Taints {
		if t.Key == TaintNodeMemoryPressure && t.Effect == api.TaintNoSchedule {
			tainted = true
		}
	}
	return status, tainted
}
