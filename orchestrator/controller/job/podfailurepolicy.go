package job

import (
	"fmt"
	"slices"

	"github.com/keeldb/keel/orchestrator/api"
)

// matchPodFailurePolicy returns the action of the first rule of pfp matching the failed pod
// p, and Kubernetes' message for it; "" when no rule matches (the failure counts).
func matchPodFailurePolicy(pfp *api.PodFailurePolicy, p *api.Pod) (action, msg string) {
	if pfp == nil {
		return "", ""
	}
	for i, r := range pfp.Rules {
		if r.OnExitCodes != nil {
			if cs := matchExitCodes(r.OnExitCodes, p); cs != nil {
				return r.Action, fmt.Sprintf("Container %s for pod %s/%s failed with exit code %d matching %s rule at index %d",
					cs.Name, p.Namespace, p.Name, cs.State.Terminated.ExitCode, r.Action, i)
			}
			continue
		}
		for _, pat := range r.OnPodConditions {
			for _, c := range p.Status.Conditions {
				if c.Type == pat.Type && c.Status == pat.Status {
					return r.Action, fmt.Sprintf("Pod %s/%s has condition %s matching %s rule at index %d",
						p.Namespace, p.Name, c.Type, r.Action, i)
				}
			}
		}
	}
	return "", ""
}

// matchExitCodes returns the first container (init containers first) that terminated with
// a non-zero exit code the requirement matches, or nil.
func matchExitCodes(req *api.PodFailurePolicyOnExitCodesRequirement, p *api.Pod) *api.ContainerStatus {
	for _, list := range [][]api.ContainerStatus{p.Status.InitContainerStatuses, p.Status.ContainerStatuses} {
		for i := range list {
			cs := &list[i]
			term := cs.State.Terminated
			if term == nil || term.ExitCode == 0 || req.ContainerName != nil && *req.ContainerName != cs.Name {
				continue
			}
			if in := slices.Contains(req.Values, term.ExitCode); in == (req.Operator == "In") {
				return cs
			}
		}
	}
	return nil
}
