package daemonset

import (
	"encoding/json"
	"hash/fnv"
	"maps"
	"slices"
	"sort"
	"strconv"
	"time"

	"github.com/keeldb/keel/orchestrator/api"
)

// ControllerRevisionHashLabel carries the hash of the template a daemon pod was made from,
// as Kubernetes' controller-revision-hash.
const ControllerRevisionHashLabel = "controller-revision-hash"

// Well-known taint keys daemon pods tolerate by default (Kubernetes'
// AddOrUpdateDaemonPodTolerations).
const (
	TaintNodeNotReady       = "node.kubernetes.io/not-ready"
	TaintNodeUnreachable    = "node.kubernetes.io/unreachable"
	TaintNodeDiskPressure   = "node.kubernetes.io/disk-pressure"
	TaintNodeMemoryPressure = "node.kubernetes.io/memory-pressure"
	TaintNodePIDPressure    = "node.kubernetes.io/pid-pressure"
	TaintNodeUnschedulable  = "node.kubernetes.io/unschedulable"
)

// TemplateHash returns the controller-revision-hash of a DaemonSet's template: a hash of
// its JSON form without the hash label (the deployment controller's pod-template-hash
// recipe).
func TemplateHash(t api.PodTemplateSpec) string {
	t.Labels = maps.Clone(t.Labels)
	delete(t.Labels, ControllerRevisionHashLabel)
	b, _ := json.Marshal(t)
	h := fnv.New32a()
	_, _ = h.Write(b)
	return strconv.FormatUint(uint64(h.Sum32()), 36)
}

// daemonTolerations are added to every daemon pod, unless it has them already.
var daemonTolerations = []api.Toleration{
	{Key: TaintNodeNotReady, Operator: "Exists", Effect: api.TaintNoExecute},
	{Key: TaintNodeUnreachable, Operator: "Exists", Effect: api.TaintNoExecute},
	{Key: TaintNodeDiskPressure, Operator: "Exists", Effect: api.TaintNoSchedule},
	{Key: TaintNodeMemoryPressure, Operator: "Exists", Effect: api.TaintNoSchedule},
	{Key: TaintNodePIDPressure, Operator: "Exists", Effect: api.TaintNoSchedule},
	{Key: TaintNodeUnschedulable, Operator: "Exists", Effect: api.TaintNoSchedule},
}

// PodSpecFor returns the spec of ds's pod for node: the template's, with the default
// daemon tolerations added and the required node affinity replaced by one term naming the
// node (matchFields metadata.name In [node]), so that the scheduler places it there, as
// Kubernetes does since 1.12. The template is not modified.
func PodSpecFor(ds *api.DaemonSet, node string) api.PodSpec {
	spec := api.DeepCopy(&api.Pod{Spec: ds.Spec.Template.Spec}).Spec
	for _, t := range daemonTolerations {
		if !slices.ContainsFunc(spec.Tolerations, func(x api.Toleration) bool {
			return x.Key == t.Key && x.Effect == t.Effect && x.Operator == t.Operator
		}) {
			spec.Tolerations = append(spec.Tolerations, t)
		}
	}
	if spec.Affinity == nil {
		spec.Affinity = &api.Affinity{}
	}
	if spec.Affinity.NodeAffinity == nil {
		spec.Affinity.NodeAffinity = &api.NodeAffinity{}
	}
	spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution = &api.NodeSelector{
		NodeSelectorTerms: []api.NodeSelectorTerm{{MatchFields: []api.NodeSelectorRequirement{
			{Key: api.NodeFieldName, Operator: "In", Values: []string{node}}}}},
	}
	return spec
}

// ShouldRun reports whether ds's pod should be placed on node (shouldRun) and whether a
// pod already there may stay (shouldContinueRunning), as Kubernetes'
// NodeShouldRunDaemonPod: a node that fails the template's nodeName, nodeSelector or
// required node affinity gets neither; an untolerated NoSchedule taint stops placement but
// lets a running pod stay; an untolerated NoExecute taint gets neither. The default daemon
// tolerations count, so cordoned, not-ready and unreachable nodes keep their daemons.
func ShouldRun(ds *api.DaemonSet, m *api.NodeMatcher, tols []api.Toleration, node *api.Node) (shouldRun, shouldContinueRunning bool) {
	if n := ds.Spec.Template.Spec.NodeName; n != "" && n != node.Name {
		return false, false
	}
	if !m.Matches(node) {
		return false, false
	}
	shouldRun, shouldContinueRunning = true, true
	for _, t := range node.Spec.Taints {
		if t.Effect != api.TaintNoSchedule && t.Effect != api.TaintNoExecute || api.ToleratesTaint(tols, t) {
			continue
		}
		shouldRun = false
		if t.Effect == api.TaintNoExecute {
			shouldContinueRunning = false
		}
	}
	return shouldRun, shouldContinueRunning
}

// TargetNode returns the node a daemon pod runs on or is meant for: spec.nodeName, or
// the node its required affinity names through matchFields (Kubernetes' GetTargetNodeName).
func TargetNode(p *api.Pod) string {
	if p.Spec.NodeName != "" {
		return p.Spec.NodeName
	}
	a := p.Spec.Affinity
	if a == nil || a.NodeAffinity == nil || a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution == nil {
		return ""
	}
	for _, t := range a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms {
		for _, f := range t.MatchFields {
			if f.Key == api.NodeFieldName && f.Operator == "In" && len(f.Values) == 1 {
				return f.Values[0]
			}
		}
	}
	return ""
}

// Plan is what one sync does: create a pod on each of Create (node names, sorted) and
// delete each of Delete.
type Plan struct {
	Create []string
	Delete []*api.Pod
}

// view is a DaemonSet's pods grouped by node, with each node's verdicts.
type view struct {
	ds      *api.DaemonSet
	hash    string
	now     time.Time
	nodes   []*api.Node // sorted by name
	run     map[string][2]bool
	byNode  map[string][]*api.Pod // sorted oldest first
	orphans []*api.Pod            // pods for no existing node
}

func newView(ds *api.DaemonSet, hash string, nodes []*api.Node, pods []*api.Pod, now time.Time) *view {
	v := &view{ds: ds, hash: hash, now: now, run: map[string][2]bool{}, byNode: map[string][]*api.Pod{}}
	v.nodes = slices.Clone(nodes)
	sort.Slice(v.nodes, func(i, j int) bool { return v.nodes[i].Name < v.nodes[j].Name })
	tmpl := PodSpecFor(ds, "")
	m := api.NewNodeMatcher(&ds.Spec.Template.Spec)
	for _, n := range v.nodes {
		r, c := ShouldRun(ds, &m, tmpl.Tolerations, n)
		v.run[n.Name] = [2]bool{r, c}
	}
	for _, p := range pods {
		node := TargetNode(p)
		if _, ok := v.run[node]; !ok {
			v.orphans = append(v.orphans, p)
			continue
		}
		v.byNode[node] = append(v.byNode[node], p)
	}
	for _, ps := range v.byNode {
		sortOldestFirst(ps)
	}
	return v
}

func sortOldestFirst(ps []*api.Pod) {
	sort.SliceStable(ps, func(i, j int) bool {
		a, b := ps[i], ps[j]
		if !a.CreationTimestamp.Equal(b.CreationTimestamp.Time) {
			return a.CreationTimestamp.Before(b.CreationTimestamp.Time)
		}
		return a.Name < b.Name
	})
}

// Compute plans one sync of ds (whose template hashes to hash) over the nodes and its
// pods (every pod it controls): Kubernetes' manage (a pod for each node that should run
// one, none where one may not stay, failed pods replaced, duplicates removed) followed by
// its rolling update when the strategy is RollingUpdate. Pods for nodes that no longer
// exist are deleted. Pods being deleted are waited for, never replaced early.
func Compute(ds *api.DaemonSet, hash string, nodes []*api.Node, pods []*api.Pod, now time.Time) Plan {
	v := newView(ds, hash, nodes, pods, now)
	var plan Plan
	deleted := map[*api.Pod]bool{}
	del := func(p *api.Pod) {
		if !deleted[p] && p.DeletionTimestamp == nil {
			deleted[p] = true
			plan.Delete = append(plan.Delete, p)
		}
	}
	surge, _ := v.maxSurgeUnavailable()
	for _, n := range v.nodes {
		verdict, ps := v.run[n.Name], v.byNode[n.Name]
		switch {
		case verdict[0] && len(ps) == 0:
			plan.Create = append(plan.Create, n.Name)
		case verdict[1]:
			var live []*api.Pod
			for _, p := range ps {
				switch {
				case p.DeletionTimestamp != nil:
				case p.Status.Phase == api.PodFailed || p.Status.Phase == api.PodSucceeded:
					del(p)
				default:
					live = append(live, p)
				}
			}
			for _, p := range v.surplus(live, surge > 0) {
				del(p)
			}
		default:
			for _, p := range ps {
				del(p)
			}
		}
	}
	for _, p := range v.orphans {
		del(p)
	}
	if ds.Spec.UpdateStrategy.Type == api.RollingUpdateStrategy {
		create, remove := v.rollingUpdate(deleted)
		plan.Create = append(plan.Create, create...)
		for _, p := range remove {
			del(p)
		}
		slices.Sort(plan.Create)
		plan.Create = slices.Compact(plan.Create)
	}
	return plan
}

// surplus returns the live pods of one node beyond the one that should stay (the oldest);
// while a surge update is under way one pod of the old template (the oldest) and one of
// the new (the newest) may stay together.
func (v *view) surplus(live []*api.Pod, surge bool) []*api.Pod {
	if len(live) <= 1 {
		return nil
	}
	if !surge {
		return live[1:]
	}
	var oldKeep, newKeep *api.Pod
	for _, p := range live {
		if p.Labels[ControllerRevisionHashLabel] == v.hash {
			newKeep = p // the newest, as live is oldest first
		} else if oldKeep == nil {
			oldKeep = p
		}
	}
	var out []*api.Pod
	for _, p := range live {
		if p != oldKeep && p != newKeep {
			out = append(out, p)
		}
	}
	return out
}

// desired counts the nodes that should run a daemon pod.
func (v *view) desired() int {
	n := 0
	for _, r := range v.run {
		if r[0] {
			n++
		}
	}
	return n
}

// maxSurgeUnavailable resolves the rolling update's bounds against the desired number of
// scheduled pods, rounding up, with maxUnavailable 1 when both come to 0 (Kubernetes'
// updatedDesiredNodeCounts).
func (v *view) maxSurgeUnavailable() (surge, unavailable int) {
	ru := v.ds.Spec.UpdateStrategy.RollingUpdate
	if v.ds.Spec.UpdateStrategy.Type != api.RollingUpdateStrategy || ru == nil {
		return 0, 1
	}
	desired := v.desired()
	if ru.MaxSurge != nil {
		surge, _ = ru.MaxSurge.ScaledValue(desired, true)
	}
	if ru.MaxUnavailable != nil {
		unavailable, _ = ru.MaxUnavailable.ScaledValue(desired, true)
	}
	if surge == 0 && unavailable == 0 {
		unavailable = 1
	}
	return surge, unavailable
}

// available reports whether p has been Ready for minReadySeconds.
func (v *view) available(p *api.Pod) bool {
	c := readyCondition(p)
	if c == nil || c.Status != api.ConditionTrue {
		return false
	}
	minReady := time.Duration(v.ds.Spec.MinReadySeconds) * time.Second
	return minReady == 0 || !c.LastTransitionTime.Add(minReady).After(v.now)
}

func readyCondition(p *api.Pod) *api.PodCondition {
	for i := range p.Status.Conditions {
		if p.Status.Conditions[i].Type == "Ready" {
			return &p.Status.Conditions[i]
		}
	}
	return nil
}

// podsOn returns the node's newest new-template pod and oldest old-template pod, skipping
// pods being deleted or planned for deletion; ok is false when the node holds more than
// one of a kind (manage removes the extras first). Kubernetes' findUpdatedPodsOnNode.
func (v *view) podsOn(node string, deleted map[*api.Pod]bool) (newPod, oldPod *api.Pod, ok bool) {
	for _, p := range v.byNode[node] {
		if p.DeletionTimestamp != nil || deleted[p] {
			continue
		}
		if p.Labels[ControllerRevisionHashLabel] == v.hash {
			if newPod != nil {
				return nil, nil, false
			}
			newPod = p
		} else {
			if oldPod != nil {
				return nil, nil, false
			}
			oldPod = p
		}
	}
	return newPod, oldPod, true
}

// rollingUpdate is Kubernetes' DaemonSet rollingUpdate: without surge, old pods are
// deleted (their nodes get new pods from manage on the next sync) while at most
// maxUnavailable nodes lack an available pod, unavailable old pods first; with surge, a
// new pod is created beside the old one on at most maxSurge nodes at once, and the old
// pod deleted once the new one is available.
func (v *view) rollingUpdate(deleted map[*api.Pod]bool) (create []string, remove []*api.Pod) {
	maxSurge, maxUnavailable := v.maxSurgeUnavailable()
	if maxSurge == 0 {
		numUnavailable := 0
		var candidates []*api.Pod
		for _, n := range v.nodes {
			if _, has := v.byNode[n.Name]; !has {
				continue
			}
			newPod, oldPod, ok := v.podsOn(n.Name, deleted)
			switch {
			case !ok, oldPod == nil && newPod == nil, oldPod != nil && newPod != nil:
				numUnavailable++
			case newPod != nil:
				if !v.available(newPod) {
					numUnavailable++
				}
			case !v.available(oldPod):
				remove = append(remove, oldPod) // replaced at once, but counts as unavailable
				numUnavailable++
			case numUnavailable >= maxUnavailable:
			default:
				candidates = append(candidates, oldPod)
			}
		}
		room := max(maxUnavailable-numUnavailable, 0)
		return nil, append(remove, candidates[:min(room, len(candidates))]...)
	}
	numSurge := 0
	var candidateNodes []string
	for _, n := range v.nodes {
		if _, has := v.byNode[n.Name]; !has {
			continue
		}
		newPod, oldPod, ok := v.podsOn(n.Name, deleted)
		switch {
		case !ok:
			numSurge++
		case oldPod == nil:
		case newPod == nil:
			if !v.run[n.Name][0] {
				continue // the node takes no new pod; the old one stays
			}
			if !v.available(oldPod) {
				create = append(create, n.Name)
			} else {
				candidateNodes = append(candidateNodes, n.Name)
			}
		default:
			numSurge++
			if v.available(newPod) {
				remove = append(remove, oldPod)
			}
		}
	}
	room := max(maxSurge-numSurge, 0)
	return append(create, candidateNodes[:min(room, len(candidateNodes))]...), remove
}

// ComputeStatus returns ds's status over the nodes and its pods, as Kubernetes'
// updateDaemonSetStatus (the oldest pod of each node counts), and, when minReadySeconds
// will make a Ready pod available later, how long until then (0 otherwise).
func ComputeStatus(ds *api.DaemonSet, hash string, nodes []*api.Node, pods []*api.Pod, now time.Time) (api.DaemonSetStatus, time.Duration) {
	v := newView(ds, hash, nodes, pods, now)
	st := api.DaemonSetStatus{ObservedGeneration: ds.Generation}
	var recheck time.Duration
	for _, n := range v.nodes {
		ps := v.byNode[n.Name]
		if !v.run[n.Name][0] {
			if len(ps) > 0 {
				st.NumberMisscheduled++
			}
			continue
		}
		st.DesiredNumberScheduled++
		if len(ps) == 0 {
			continue
		}
		st.CurrentNumberScheduled++
		p := ps[0]
		if c := readyCondition(p); c != nil && c.Status == api.ConditionTrue {
			st.NumberReady++
			if v.available(p) {
				st.NumberAvailable++
			} else if wait := c.LastTransitionTime.Add(time.Duration(ds.Spec.MinReadySeconds) * time.Second).Sub(now); recheck == 0 || wait < recheck {
				recheck = wait
			}
		}
		if p.Labels[ControllerRevisionHashLabel] == hash {
			st.UpdatedNumberScheduled++
		}
	}
	st.NumberUnavailable = st.DesiredNumberScheduled - st.NumberAvailable
	return st, recheck
}
