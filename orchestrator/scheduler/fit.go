package scheduler

import (
	"fmt"
	"sort"
	"strings"
	"unique"

	"github.com/keeldb/keel/orchestrator/api"
)

// Resource names the scheduler counts.
const (
	ResourceCPU    = "cpu"
	ResourceMemory = "memory"
	ResourcePods   = "pods"
)

// Well-known taint keys.
const (
	TaintNodeUnschedulable = "node.kubernetes.io/unschedulable"
)

// For scoring only, containers without requests count as 100m CPU and 200 MiB, so
// best-effort pods do not all land on one node (Kubernetes' non-zero defaults).
const (
	defaultMilliCPU    = 100
	defaultMemoryMilli = 200 << 20 * 1000
)

// requests is an amount of each resource, in thousandths (api.Quantity.MilliValue).
type requests map[string]int64

// podRequests returns a pod's effective request: max(largest init container, sum of app
// containers), per resource.
func podRequests(spec *api.PodSpec) requests {
	out := requests{}
	for _, c := range spec.Containers {
		for name, q := range c.Resources.Requests {
			out[name] += q.MilliValue()
		}
	}
	for _, c := range spec.InitContainers {
		for name, q := range c.Resources.Requests {
			out[name] = max(out[name], q.MilliValue())
		}
	}
	return out
}

// nonZero returns r's cpu and memory with the scoring defaults filled in.
func (r requests) nonZero() (cpu, mem int64) {
	cpu, mem = r[ResourceCPU], r[ResourceMemory]
	if cpu == 0 {
		cpu = defaultMilliCPU
	}
	if mem == 0 {
		mem = defaultMemoryMilli
	}
	return cpu, mem
}

// nodeInfo is a node with the pods bound to it, as the scheduler sees them.
type nodeInfo struct {
	node *api.Node // nil while pods name a node the cache does not hold; set with setNode
	// ready, alloc and podLimit are parsed from node when it is set, so that a scheduling
	// cycle parses no quantities: alloc is status.allocatable in thousandths, podLimit
	// the allocatable pod count (-1 = no limit).
	ready    bool
	alloc    requests
	podLimit int64
	// allocCPU and allocMem mirror alloc's cpu and memory, reqCPU and reqMem requested's,
	// and unschedulable and taints the node's spec: the filters of every cycle read them for
	// hundreds of nodes, where map look-ups and pointer chasing dominated (5,000 nodes).
	allocCPU, allocMem int64
	reqCPU, reqMem     int64
	unschedulable      bool
	taints             []api.Taint
	// requested sums the requests of the node's pods; nonZeroCPU/Mem use scoring defaults.
	requested              requests
	nonZeroCPU, nonZeroMem int64
	pods                   int
	// owners counts the node's pods by controller owner UID, unordered. A cycle looks the
	// pod's owner up in hundreds of nodes: UID strings compared in a map per node cost more
	// than the filters at 5,000 nodes (each probe a cache miss and a 36-byte compare), so
	// the owners are interned handles in a slice scanned in place.
	owners []ownerCount
}

type ownerCount struct {
	owner ownerID
	n     int
}

// ownedBy returns how many of the node's pods owner controls.
func (ni *nodeInfo) ownedBy(owner ownerID) int {
	for _, oc := range ni.owners {
		if oc.owner == owner {
			return oc.n
		}
	}
	return 0
}

// countOwner adds delta to owner's count of pods on the node, dropping it at zero.
func (ni *nodeInfo) countOwner(owner ownerID, delta int) {
	for i := range ni.owners {
		if ni.owners[i].owner != owner {
			continue
		}
		if ni.owners[i].n += delta; ni.owners[i].n <= 0 {
			last := len(ni.owners) - 1
			ni.owners[i] = ni.owners[last]
			ni.owners = ni.owners[:last]
		}
		return
	}
	if delta > 0 {
		ni.owners = append(ni.owners, ownerCount{owner: owner, n: delta})
	}
}

// ownerID is an interned controller owner UID; the zero value means no owner.
type ownerID = unique.Handle[string]

// controllerOwner returns the interned UID of p's controller owner, or the zero ownerID.
func controllerOwner(p *api.Pod) ownerID {
	if ref := p.ControllerRef(); ref != nil && ref.UID != "" {
		return unique.Make(ref.UID)
	}
	return ownerID{}
}

func newNodeInfo(n *api.Node) *nodeInfo {
	ni := &nodeInfo{requested: requests{}}
	ni.setNode(n)
	return ni
}

// setNode sets the node (nil when it is gone) and parses what the filters and scores read.
func (ni *nodeInfo) setNode(n *api.Node) {
	ni.node, ni.ready, ni.alloc, ni.podLimit = n, false, nil, -1
	ni.allocCPU, ni.allocMem, ni.unschedulable, ni.taints = 0, 0, false, nil
	if n == nil {
		return
	}
	ni.ready = nodeReady(n)
	ni.unschedulable, ni.taints = n.Spec.Unschedulable, n.Spec.Taints
	ni.alloc = make(requests, len(n.Status.Allocatable))
	for name, q := range n.Status.Allocatable {
		ni.alloc[name] = q.MilliValue()
		if name == ResourcePods {
			ni.podLimit = q.Value()
		}
	}
	ni.allocCPU, ni.allocMem = ni.alloc[ResourceCPU], ni.alloc[ResourceMemory]
}

// podRecord is what a pod bound to a node takes from it.
type podRecord struct {
	uid      string
	node     string
	req      requests
	cpu, mem int64 // non-zero scoring requests
	owner    ownerID
	// boundRV is the resourceVersion written by this scheduler's binding while the pod
	// cache has not shown it yet ("assumed"), else 0.
	boundRV int64
}

func recordOf(p *api.Pod) *podRecord {
	r := podRequests(&p.Spec)
	cpu, mem := r.nonZero()
	return &podRecord{uid: p.UID, node: p.Spec.NodeName, req: r, cpu: cpu, mem: mem, owner: controllerOwner(p)}
}

func (ni *nodeInfo) add(rec *podRecord) {
	for k, v := range rec.req {
		ni.requested[k] += v
	}
	ni.reqCPU, ni.reqMem = ni.reqCPU+rec.req[ResourceCPU], ni.reqMem+rec.req[ResourceMemory]
	ni.nonZeroCPU += rec.cpu
	ni.nonZeroMem += rec.mem
	ni.pods++
	if rec.owner != (ownerID{}) {
		ni.countOwner(rec.owner, 1)
	}
}

func (ni *nodeInfo) remove(rec *podRecord) {
	for k, v := range rec.req {
		if ni.requested[k] -= v; ni.requested[k] == 0 {
			delete(ni.requested, k)
		}
	}
	ni.reqCPU, ni.reqMem = ni.reqCPU-rec.req[ResourceCPU], ni.reqMem-rec.req[ResourceMemory]
	ni.nonZeroCPU -= rec.cpu
	ni.nonZeroMem -= rec.mem
	ni.pods--
	if rec.owner != (ownerID{}) {
		ni.countOwner(rec.owner, -1)
	}
}

func (ni *nodeInfo) addPod(p *api.Pod) { ni.add(recordOf(p)) }

// podFit is what the filters and scores need of the pod being scheduled, computed once
// per cycle rather than once per node.
type podFit struct {
	pod   *api.Pod
	req   requests
	names []string // resources with a non-zero request other than "pods", sorted
	// reqCPU and reqMem are req's cpu and memory; others lists names without them.
	reqCPU, reqMem int64
	others         []string
	cpu, mem       int64   // non-zero scoring requests
	owner          ownerID // controller owner uid, zero when none
	// nodes is spec.nodeSelector and the required node affinity (matchExpressions and
	// matchFields), compiled.
	nodes api.NodeMatcher
}

func newPodFit(p *api.Pod) *podFit {
	f := &podFit{pod: p, req: podRequests(&p.Spec)}
	for name, v := range f.req {
		if v != 0 && name != ResourcePods {
			f.names = append(f.names, name)
		}
	}
	sort.Strings(f.names)
	f.reqCPU, f.reqMem = f.req[ResourceCPU], f.req[ResourceMemory]
	for _, name := range f.names {
		if name != ResourceCPU && name != ResourceMemory {
			f.others = append(f.others, name)
		}
	}
	f.cpu, f.mem = f.req.nonZero()
	f.owner = controllerOwner(p)
	f.nodes = api.NewNodeMatcher(&p.Spec)
	return f
}

// podCounts reports whether a pod bound to a node still holds its resources.
func podCounts(p *api.Pod) bool {
	return p.Spec.NodeName != "" && p.Status.Phase != api.PodSucceeded && p.Status.Phase != api.PodFailed
}

// Filter reasons, worded as kube-scheduler's.
const (
	reasonNotReady      = "node(s) were not ready"
	reasonUnschedulable = "node(s) were unschedulable"
	reasonSelector      = "node(s) didn't match Pod's node affinity/selector"
	reasonTooManyPods   = "Too many pods"
)

func reasonInsufficient(res string) string { return "Insufficient " + res }

func reasonTaint(t api.Taint) string {
	return fmt.Sprintf("node(s) had untolerated taint {%s: %s}", t.Key, t.Value)
}

// filter returns "" when the pod may run on the node, else the first reason it may not.
func filter(f *podFit, ni *nodeInfo) string {
	n := ni.node
	if !ni.ready {
		return reasonNotReady
	}
	tols := f.pod.Spec.Tolerations
	if ni.unschedulable && !tolerates(tols, api.Taint{Key: TaintNodeUnschedulable, Effect: api.TaintNoSchedule}) {
		return reasonUnschedulable
	}
	if !f.matchesNode(n) {
		return reasonSelector
	}
	for _, t := range ni.taints {
		if (t.Effect == api.TaintNoSchedule || t.Effect == api.TaintNoExecute) && !tolerates(tols, t) {
			return reasonTaint(t)
		}
	}
	return fits(f, ni)
}

// nodeReady reports whether the node's Ready condition is True.
func nodeReady(n *api.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == "Ready" {
			return c.Status == api.ConditionTrue
		}
	}
	return false
}

// tolerates reports whether some toleration matches the taint (key, value, effect).
func tolerates(tols []api.Toleration, t api.Taint) bool { return api.ToleratesTaint(tols, t) }

// matchesNode checks spec.nodeSelector and the required node affinity terms (any term
// matches; an empty term matches nothing).
func (f *podFit) matchesNode(n *api.Node) bool { return f.nodes.Matches(n) }

// fits checks every requested resource and the pod count against allocatable. A node
// without a "pods" allocatable has no pod limit; any other missing resource is zero.
func fits(f *podFit, ni *nodeInfo) string {
	if ni.podLimit >= 0 && int64(ni.pods)+1 > ni.podLimit {
		return reasonTooManyPods
	}
	// The first insufficient resource in name order, as f.names lists them; cpu and
	// memory are read from the node's fields, others from its maps.
	cpuShort := f.reqCPU != 0 && ni.reqCPU+f.reqCPU > ni.allocCPU
	memShort := f.reqMem != 0 && ni.reqMem+f.reqMem > ni.allocMem
	if !cpuShort && !memShort && len(f.others) == 0 {
		return ""
	}
	for _, name := range f.names {
		switch name {
		case ResourceCPU:
			if cpuShort {
				return reasonInsufficient(name)
			}
		case ResourceMemory:
			if memShort {
				return reasonInsufficient(name)
			}
		default:
			if ni.requested[name]+f.req[name] > ni.alloc[name] {
				return reasonInsufficient(name)
			}
		}
	}
	return ""
}

// Score weights, as kube-scheduler's defaults (owner spreading as PodTopologySpread's).
const (
	weightLeastAllocated = 1
	weightBalanced       = 1
	weightSpread         = 2
)

// scoreOwned rates a feasible node for the pod, given the node's count of pods of the pod's
// owner; higher is better. Each part is on 0–100.
func scoreOwned(f *podFit, ni *nodeInfo, maxOwned, owned int) int64 {
	cpuFrac := fraction(ni.nonZeroCPU+f.cpu, ni.allocCPU)
	memFrac := fraction(ni.nonZeroMem+f.mem, ni.allocMem)
	least := int64((2 - cpuFrac - memFrac) / 2 * 100)
	diff := cpuFrac - memFrac
	if diff < 0 {
		diff = -diff
	}
	balanced := int64((1 - diff/2) * 100)
	spread := int64(100)
	if f.owner != (ownerID{}) && maxOwned > 0 {
		spread = int64(maxOwned-owned) * 100 / int64(maxOwned)
	}
	return weightLeastAllocated*least + weightBalanced*balanced + weightSpread*spread
}

// fraction returns used/capacity clamped to [0, 1] (1 when capacity is unknown).
func fraction(used, capacity int64) float64 {
	if capacity <= 0 {
		return 1
	}
	f := float64(used) / float64(capacity)
	return min(max(f, 0), 1)
}

// unschedulableMessage renders "0/N nodes are available: 2 Insufficient cpu, 1 ...".
func unschedulableMessage(total int, reasons map[string]int) string {
	if total == 0 {
		return "0/0 nodes are available: no nodes available to schedule pods."
	}
	parts := make([]string, 0, len(reasons))
	for r, n := range reasons {
		parts = append(parts, fmt.Sprintf("%d %s", n, r))
	}
	sort.Strings(parts)
	return fmt.Sprintf("0/%d nodes are available: %s.", total, strings.Join(parts, ", "))
}

// decision is the outcome of one scheduling cycle.
type decision struct {
	node    string // "" when no node fits
	message string // why nothing fits
	visited int    // nodes filtered, from start on
}

// Feasible-node sampling, as kube-scheduler's adaptive percentageOfNodesToScore: in a
// cluster of at least minFeasibleNodes nodes, filtering stops once
// max(minFeasibleNodes, nodes × (50 − nodes/125) %, floored at 5 %) feasible nodes are found
// (1,000 nodes → 420; 5,000 → 500).
const (
	minFeasibleNodes           = 100
	minFeasibleNodesPercentage = 5
)

// feasibleNodesToFind returns how many feasible nodes a cycle looks for among n.
func feasibleNodesToFind(n int) int {
	if n < minFeasibleNodes {
		return n
	}
	pct := max(50-n/125, minFeasibleNodesPercentage)
	return max(n*pct/100, minFeasibleNodes)
}

// schedule picks the best feasible node for the pod among the first feasibleNodesToFind
// feasible nodes found walking nodes from start (wrapping); ties go to the first found.
func schedule(p *api.Pod, nodes []*nodeInfo, start int) decision {
	f := newPodFit(p)
	want := feasibleNodesToFind(len(nodes))
	var reasons map[string]int
	feasible := make([]*nodeInfo, 0, want)
	visited := 0
	for ; visited < len(nodes) && len(feasible) < want; visited++ {
		ni := nodes[(start+visited)%len(nodes)]
		if r := filter(f, ni); r != "" {
			if reasons == nil {
				reasons = map[string]int{}
			}
			reasons[r]++
			continue
		}
		feasible = append(feasible, ni)
	}
	if len(feasible) == 0 {
		return decision{message: unschedulableMessage(len(nodes), reasons), visited: visited}
	}
	// Each feasible node's count of the owner's pods, looked up once.
	maxOwned := 0
	var owned []int
	if f.owner != (ownerID{}) {
		owned = make([]int, len(feasible))
		for i, ni := range feasible {
			owned[i] = ni.ownedBy(f.owner)
			maxOwned = max(maxOwned, owned[i])
		}
	}
	best, bestScore := feasible[0], int64(-1)
	for i, ni := range feasible {
		o := 0
		if owned != nil {
			o = owned[i]
		}
		if s := scoreOwned(f, ni, maxOwned, o); s > bestScore {
			best, bestScore = ni, s
		}
	}
	return decision{node: best.node.Name, visited: visited}
}
