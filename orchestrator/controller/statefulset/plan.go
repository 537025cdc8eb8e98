package statefulset

import (
	"encoding/json"
	"hash/fnv"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/keeldb/keel/orchestrator/api"
)

// Labels Kubernetes puts on StatefulSet pods.
const (
	ControllerRevisionHashLabel = "controller-revision-hash"
	PodNameLabel                = "statefulset.kubernetes.io/pod-name"
	PodIndexLabel               = "apps.kubernetes.io/pod-index"
)

// Revision returns the revision name of a StatefulSet's template, "<name>-<hash>", as the
// controller-revision-hash label and status.updateRevision carry it.
func Revision(sts *api.StatefulSet) string {
	t := sts.Spec.Template
	t.Labels = maps.Clone(t.Labels)
	delete(t.Labels, ControllerRevisionHashLabel)
	b, _ := json.Marshal(t)
	h := fnv.New32a()
	_, _ = h.Write(b)
	return sts.Name + "-" + strconv.FormatUint(uint64(h.Sum32()), 36)
}

// Ordinal returns the ordinal of a pod named "<set>-<ordinal>" of the set, or -1.
func Ordinal(set, pod string) int {
	rest, ok := strings.CutPrefix(pod, set+"-")
	if !ok {
		return -1
	}
	n, err := strconv.Atoi(rest)
	if err != nil || n < 0 || strconv.Itoa(n) != rest {
		return -1
	}
	return n
}

// PodName returns the name of the set's pod with an ordinal.
func PodName(set string, ordinal int) string { return set + "-" + strconv.Itoa(ordinal) }

// ActionType is what an Action does.
type ActionType int

// Actions.
const (
	// Create creates the pod of Ordinal at Revision.
	Create ActionType = iota + 1
	// Delete deletes Pod (gracefully when it is bound to a node).
	Delete
)

// Action is one step of a sync.
type Action struct {
	Type    ActionType
	Ordinal int
	// Revision is the revision (Create) the new pod is made from.
	Revision string
	// Pod is the pod to delete (Delete).
	Pod *api.Pod
}

// podState classifies a pod as the controller sees it.
func isTerminating(p *api.Pod) bool { return p.DeletionTimestamp != nil }

func isFailed(p *api.Pod) bool {
	return p.Status.Phase == api.PodFailed || p.Status.Phase == api.PodSucceeded
}

func readyCondition(p *api.Pod) *api.PodCondition {
	for i := range p.Status.Conditions {
		if p.Status.Conditions[i].Type == "Ready" {
			return &p.Status.Conditions[i]
		}
	}
	return nil
}

// isRunningAndReady reports whether p is Running with Ready=True.
func isRunningAndReady(p *api.Pod) bool {
	c := readyCondition(p)
	return p.Status.Phase == api.PodRunning && c != nil && c.Status == api.ConditionTrue
}

// isAvailable reports whether p has been running and ready for minReadySeconds.
func isAvailable(p *api.Pod, minReady time.Duration, now time.Time) bool {
	if !isRunningAndReady(p) {
		return false
	}
	return minReady == 0 || !readyCondition(p).LastTransitionTime.Add(minReady).After(now)
}

// isHealthy is Kubernetes' isHealthy: running, ready (and available) and not terminating.
func isHealthy(p *api.Pod, minReady time.Duration, now time.Time) bool {
	return isAvailable(p, minReady, now) && !isTerminating(p)
}

// split sorts the set's pods into replicas (index = ordinal, nil when missing) and
// condemned pods (ordinal at or above replicas, highest first). Pods whose names carry no
// ordinal of the set are ignored.
func split(sts *api.StatefulSet, pods []*api.Pod) (replicas []*api.Pod, condemned []*api.Pod) {
	replicas = make([]*api.Pod, int(*sts.Spec.Replicas))
	for _, p := range pods {
		ord := Ordinal(sts.Name, p.Name)
		switch {
		case ord < 0:
		case ord < len(replicas):
			replicas[ord] = p
		default:
			condemned = append(condemned, p)
		}
	}
	sort.Slice(condemned, func(i, j int) bool {
		return Ordinal(sts.Name, condemned[i].Name) > Ordinal(sts.Name, condemned[j].Name)
	})
	return replicas, condemned
}

// revisionFor is the revision a new pod of ordinal gets (Kubernetes'
// newVersionedStatefulSetPod): the current one below the RollingUpdate partition, the update
// revision otherwise.
func revisionFor(sts *api.StatefulSet, current, update string, ordinal int) string {
	if ru := sts.Spec.UpdateStrategy.RollingUpdate; sts.Spec.UpdateStrategy.Type == api.RollingUpdateStrategy &&
		ru != nil && ru.Partition != nil && ordinal < int(*ru.Partition) {
		return current
	}
	return update
}

// Next returns the actions of one sync of sts over its pods (the pods it controls), with
// current and update the revisions of status.currentRevision and the present template.
// It is Kubernetes' updateStatefulSet:
//
//   - OrderedReady: at most one action. Ordinals are walked upwards: a missing pod is
//     created, a failed one deleted (to be recreated), and the walk stops at the first pod
//     not yet Running and Ready (available) or terminating. Then pods at or above replicas
//     are deleted from the highest ordinal down, one at a time, each only once its
//     predecessors are healthy and the previous one is gone.
//   - Parallel: every missing pod is created and every condemned pod deleted at once.
//   - Then, with RollingUpdate and everything else settled, the highest ordinal at or above
//     the partition whose revision is not the update revision is deleted (and recreated at
//     the update revision by a later sync), after every higher ordinal is healthy.
func Next(sts *api.StatefulSet, current, update string, pods []*api.Pod, now time.Time) []Action {
	monotonic := sts.Spec.PodManagementPolicy != api.ParallelPodManagement
	minReady := time.Duration(sts.Spec.MinReadySeconds) * time.Second
	replicas, condemned := split(sts, pods)
	var acts []Action
	for ord, p := range replicas {
		switch {
		case p == nil:
			acts = append(acts, Action{Type: Create, Ordinal: ord, Revision: revisionFor(sts, current, update, ord)})
		case isFailed(p) && !isTerminating(p):
			acts = append(acts, Action{Type: Delete, Ordinal: ord, Pod: p})
		case monotonic && (isTerminating(p) || !isAvailable(p, minReady, now)):
			return acts // wait for this one
		default:
			continue
		}
		if monotonic {
			return acts
		}
	}
	for _, p := range condemned {
		ord := Ordinal(sts.Name, p.Name)
		if isTerminating(p) {
			if monotonic {
				return acts
			}
			continue
		}
		acts = append(acts, Action{Type: Delete, Ordinal: ord, Pod: p})
		if monotonic {
			return acts
		}
	}
	if len(acts) > 0 || sts.Spec.UpdateStrategy.Type != api.RollingUpdateStrategy {
		return acts
	}
	partition := 0
	if ru := sts.Spec.UpdateStrategy.RollingUpdate; ru != nil && ru.Partition != nil {
		partition = int(*ru.Partition)
	}
	for ord := len(replicas) - 1; ord >= partition; ord-- {
		p := replicas[ord]
		if p == nil {
			return acts // Parallel: being created
		}
		if p.Labels[ControllerRevisionHashLabel] != update && !isTerminating(p) {
			return append(acts, Action{Type: Delete, Ordinal: ord, Pod: p})
		}
		if !isHealthy(p, minReady, now) {
			return acts
		}
	}
	return acts
}

// ComputeStatus returns sts's status over its pods as Kubernetes counts it: replicas (every
// pod with an ordinal of the set), ready, available, and pods at the current and at the
// update revision (not terminating); once every pod is at the update revision and ready,
// the update revision becomes the current one.
func ComputeStatus(sts *api.StatefulSet, current, update string, pods []*api.Pod, now time.Time) api.StatefulSetStatus {
	st := api.StatefulSetStatus{ObservedGeneration: sts.Generation, CurrentRevision: current, UpdateRevision: update,
		CollisionCount: sts.Status.CollisionCount}
	minReady := time.Duration(sts.Spec.MinReadySeconds) * time.Second
	for _, p := range pods {
		if Ordinal(sts.Name, p.Name) < 0 {
			continue
		}
		st.Replicas++
		if isRunningAndReady(p) {
			st.ReadyReplicas++
			if isAvailable(p, minReady, now) {
				st.AvailableReplicas++
			}
		}
		if isTerminating(p) {
			continue
		}
		rev := p.Labels[ControllerRevisionHashLabel]
		if rev == current {
			st.CurrentReplicas++
		}
		if rev == update {
			st.UpdatedReplicas++
		}
	}
	if st.UpdatedReplicas == st.Replicas && st.ReadyReplicas == st.Replicas && st.Replicas == *sts.Spec.Replicas {
		st.CurrentReplicas, st.CurrentRevision = st.UpdatedReplicas, update
	}
	return st
}

// NewPod returns the pod of ordinal at revision from template (the set's template of that
// revision): the set's name and ordinal as its name and hostname, serviceName as its
// subdomain, and Kubernetes' labels.
func NewPod(sts *api.StatefulSet, template api.PodTemplateSpec, revision string, ordinal int) *api.Pod {
	name := PodName(sts.Name, ordinal)
	lbls := maps.Clone(template.Labels)
	if lbls == nil {
		lbls = map[string]string{}
	}
	lbls[ControllerRevisionHashLabel] = revision
	lbls[PodNameLabel] = name
	lbls[PodIndexLabel] = strconv.Itoa(ordinal)
	t := true
	p := &api.Pod{
		ObjectMeta: api.ObjectMeta{Namespace: sts.Namespace, Name: name, Labels: lbls, Annotations: maps.Clone(template.Annotations),
			OwnerReferences: []api.OwnerReference{{APIVersion: "apps/v1", Kind: "StatefulSet", Name: sts.Name, UID: sts.UID,
				Controller: &t, BlockOwnerDeletion: &t}}},
		Spec: api.DeepCopy(&api.Pod{Spec: template.Spec}).Spec,
	}
	p.Spec.Hostname = name
	p.Spec.Subdomain = sts.Spec.ServiceName
	// Each claim template replaces (or adds) the volume of its name, as Kubernetes'
	// updateStorage.
	for _, t := range sts.Spec.VolumeClaimTemplates {
		v := api.Volume{Name: t.Name, VolumeSource: api.VolumeSource{
			PersistentVolumeClaim: &api.PersistentVolumeClaimVolumeSource{ClaimName: ClaimName(t.Name, name)}}}
		if i := slices.IndexFunc(p.Spec.Volumes, func(w api.Volume) bool { return w.Name == t.Name }); i >= 0 {
			p.Spec.Volumes[i] = v
		} else {
			p.Spec.Volumes = append(p.Spec.Volumes, v)
		}
	}
	return p
}

// ClaimName is the name of the claim of template for the pod: <template>-<pod name>.
func ClaimName(template, pod string) string { return template + "-" + pod }

// NewClaims returns the claims of the pod of ordinal, from the set's volumeClaimTemplates,
// labelled with the set's selector labels as Kubernetes does; they are not owned by the set
// (persistentVolumeClaimRetentionPolicy Retain: they outlive their pods and the set).
func NewClaims(sts *api.StatefulSet, ordinal int) []*api.PersistentVolumeClaim {
	var out []*api.PersistentVolumeClaim
	for _, t := range sts.Spec.VolumeClaimTemplates {
		c := api.DeepCopy(&t)
		c.Namespace, c.Name = sts.Namespace, ClaimName(t.Name, PodName(sts.Name, ordinal))
		c.ResourceVersion, c.UID, c.OwnerReferences = "", "", nil
		c.Status = api.PersistentVolumeClaimStatus{}
		if c.Labels == nil {
			c.Labels = map[string]string{}
		}
		if sts.Spec.Selector != nil {
			maps.Copy(c.Labels, sts.Spec.Selector.MatchLabels)
		}
		api.SetTypeMeta(c)
		out = append(out, c)
	}
	return out
}

// TemplateOf reconstructs the pod template a pod was made from (the inverse of NewPod), so
// that pods below a partition are recreated at the current revision without stored
// ControllerRevisions.
func TemplateOf(p *api.Pod) api.PodTemplateSpec {
	lbls := maps.Clone(p.Labels)
	for _, k := range []string{ControllerRevisionHashLabel, PodNameLabel, PodIndexLabel} {
		delete(lbls, k)
	}
	spec := api.DeepCopy(&api.Pod{Spec: p.Spec}).Spec
	spec.Hostname, spec.Subdomain, spec.NodeName = "", "", ""
	return api.PodTemplateSpec{ObjectMeta: api.ObjectMeta{Labels: lbls, Annotations: maps.Clone(p.Annotations)}, Spec: spec}
}
