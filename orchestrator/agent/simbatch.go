package agent

import (
	"context"
	"errors"
	"time"

	"github.com/keeldb/keel/orchestrator/api"
	"github.com/keeldb/keel/orchestrator/registry"
)

// simComplete finishes a sim pod that runs to completion (restartPolicy Never or
// OnFailure, as a Job's): once it is Running and StartDelay has passed again, its
// containers are reported terminated with exit code 0 (reason Completed) and the pod
// Succeeded, as kubelet reports a container that exited 0. It reports whether it handled
// the pod (a pod with restartPolicy Always, or not Running yet, is not its business).
func (a *Agent) simComplete(ctx context.Context, key string, p *api.Pod) (bool, error) {
	if p.Spec.RestartPolicy == api.RestartAlways || p.Spec.RestartPolicy == "" || p.Status.Phase != api.PodRunning {
		return false, nil
	}
	now := a.cfg.Now()
	a.mu.Lock()
	seen, ok := a.firstSeen[key]
	if !ok {
		seen = now
		a.firstSeen[key] = now
	}
	a.mu.Unlock()
	if wait := seen.Add(2 * a.cfg.StartDelay).Sub(now); wait > 0 {
		a.queue.AddAfter(key, wait)
		return true, nil
	}
	_, err := a.stores.Pods.GuaranteedUpdate(ctx, p.Namespace, p.Name, func(cur *api.Pod) (*api.Pod, error) {
		if cur.UID != p.UID || cur.DeletionTimestamp != nil || cur.Status.Phase != api.PodRunning {
			return nil, errSkip
		}
		succeededStatus(cur, now)
		return cur, nil
	})
	if errors.Is(err, errSkip) || errors.Is(err, registry.ErrNotFound) {
		return true, nil
	}
	return true, err
}

// succeededStatus writes the status of a pod all of whose containers exited 0.
func succeededStatus(p *api.Pod, now time.Time) {
	t := api.NewTime(now)
	st := &p.Status
	st.Phase = api.PodSucceeded
	for i := range st.Conditions {
		if c := &st.Conditions[i]; c.Type == "Ready" || c.Type == "ContainersReady" {
			c.Status, c.Reason, c.LastTransitionTime = api.ConditionFalse, "PodCompleted", t
		}
	}
	for i := range st.ContainerStatuses {
		cs := &st.ContainerStatuses[i]
		var started api.Time
		if r := cs.State.Running; r != nil {
			started = r.StartedAt
		}
		f := false
		cs.Ready, cs.Started = false, &f
		cs.State = api.ContainerState{Terminated: &api.ContainerStateTerminated{ExitCode: 0, Reason: "Completed",
			StartedAt: started, FinishedAt: t}}
	}
}
