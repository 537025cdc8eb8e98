package scheduler

import (
	"context"
	"errors"

	"github.com/keeldb/keel/orchestrator/api"
	"github.com/keeldb/keel/orchestrator/registry"
)

// VolumeBinding-lite: a pod whose claim is bound to a volume with a node affinity (a
// local-path volume lives on one node) may only run where that affinity matches. The
// scheduler reads the claims and volumes of such pods from the store at each cycle; a claim
// not bound yet (WaitForFirstConsumer) does not restrict the pod, and its volume is then
// provisioned on the pod's node.

// withVolumeAffinity returns p, or a copy whose required node affinity also holds every
// given volume node affinity (a conjunction of disjunctions, expanded term by term).
func withVolumeAffinity(p *api.Pod, affs []*api.NodeSelector) *api.Pod {
	if len(affs) == 0 {
		return p
	}
	q := api.DeepCopy(p)
	if q.Spec.Affinity == nil {
		q.Spec.Affinity = &api.Affinity{}
	}
	if q.Spec.Affinity.NodeAffinity == nil {
		q.Spec.Affinity.NodeAffinity = &api.NodeAffinity{}
	}
	na := q.Spec.Affinity.NodeAffinity
	for _, a := range affs {
		if na.RequiredDuringSchedulingIgnoredDuringExecution == nil {
			na.RequiredDuringSchedulingIgnoredDuringExecution = &api.NodeSelector{NodeSelectorTerms: a.NodeSelectorTerms}
			continue
		}
		var terms []api.NodeSelectorTerm
		for _, t := range na.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms {
			for _, u := range a.NodeSelectorTerms {
				terms = append(terms, api.NodeSelectorTerm{
					MatchExpressions: append(append([]api.NodeSelectorRequirement{}, t.MatchExpressions...), u.MatchExpressions...),
					MatchFields:      append(append([]api.NodeSelectorRequirement{}, t.MatchFields...), u.MatchFields...)})
			}
		}
		na.RequiredDuringSchedulingIgnoredDuringExecution = &api.NodeSelector{NodeSelectorTerms: terms}
	}
	return q
}

// volumeAffinities reads the node affinities of the volumes bound to p's claims.
func (s *Scheduler) volumeAffinities(ctx context.Context, p *api.Pod) []*api.NodeSelector {
	var out []*api.NodeSelector
	for _, v := range p.Spec.Volumes {
		if v.PersistentVolumeClaim == nil {
			continue
		}
		c, err := s.pvcStore.Get(ctx, p.Namespace, v.PersistentVolumeClaim.ClaimName)
		if err != nil || c.Spec.VolumeName == "" {
			if err != nil && !errors.Is(err, registry.ErrNotFound) {
				s.log.Debug("read claim", "pod", api.KeyFunc(p), "err", err)
			}
			continue
		}
		pv, err := s.pvStore.Get(ctx, "", c.Spec.VolumeName)
		if err != nil {
			continue
		}
		if a := pv.Spec.NodeAffinity; a != nil && a.Required != nil {
			out = append(out, a.Required)
		}
	}
	return out
}
