package deployment

import (
	"fmt"
	"time"

	"github.com/keeldb/keel/orchestrator/api"
)

// Condition types and reasons, as in Kubernetes' deployment util.
const (
	ConditionAvailable   = "Available"
	ConditionProgressing = "Progressing"

	ReasonMinimumReplicasAvailable   = "MinimumReplicasAvailable"
	ReasonMinimumReplicasUnavailable = "MinimumReplicasUnavailable"
	ReasonNewReplicaSetCreated       = "NewReplicaSetCreated"
	ReasonFoundNewReplicaSet         = "FoundNewReplicaSet"
	ReasonReplicaSetUpdated          = "ReplicaSetUpdated"
	ReasonNewReplicaSetAvailable     = "NewReplicaSetAvailable"
	ReasonProgressDeadlineExceeded   = "ProgressDeadlineExceeded"
	ReasonDeploymentPaused           = "DeploymentPaused"
	ReasonDeploymentResumed          = "DeploymentResumed"
)

// condition returns the condition of type t in st, or nil.
func condition(st *api.DeploymentStatus, t string) *api.DeploymentCondition {
	for i := range st.Conditions {
		if st.Conditions[i].Type == t {
			return &st.Conditions[i]
		}
	}
	return nil
}

func removeCondition(st *api.DeploymentStatus, t string) {
	out := st.Conditions[:0]
	for _, c := range st.Conditions {
		if c.Type != t {
			out = append(out, c)
		}
	}
	st.Conditions = out
}

// setCondition sets a condition stamped now, as Kubernetes' SetDeploymentCondition: nothing
// changes when one with the same status and reason is there, and lastTransitionTime is kept
// when only the reason changes.
func setCondition(st *api.DeploymentStatus, typ, status, reason, msg string, now time.Time) {
	t := api.NewTime(now)
	c := api.DeploymentCondition{Type: typ, Status: status, Reason: reason, Message: msg, LastUpdateTime: t, LastTransitionTime: t}
	if cur := condition(st, typ); cur != nil {
		if cur.Status == status && cur.Reason == reason {
			return
		}
		if cur.Status == status {
			c.LastTransitionTime = cur.LastTransitionTime
		}
	}
	removeCondition(st, typ)
	st.Conditions = append(st.Conditions, c)
}

func conditionsEqual(a, b []api.DeploymentCondition) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := a[i], b[i]
		if x.Type != y.Type || x.Status != y.Status || x.Reason != y.Reason || x.Message != y.Message ||
			!x.LastUpdateTime.Equal(y.LastUpdateTime.Time) || !x.LastTransitionTime.Equal(y.LastTransitionTime.Time) {
			return false
		}
	}
	return true
}

// maxUnavailable is the number of pods that may be unavailable: the RollingUpdate bound, 0
// for Recreate.
func maxUnavailable(d *api.Deployment) int32 {
	if d.Spec.Strategy.Type == api.RecreateStrategy || *d.Spec.Replicas == 0 {
		return 0
	}
	_, u := maxSurgeUnavailable(d)
	return u
}

// setAvailable sets the Available condition: True when at least replicas-maxUnavailable
// pods are available.
func setAvailable(d *api.Deployment, st *api.DeploymentStatus, now time.Time) {
	if st.AvailableReplicas >= *d.Spec.Replicas-maxUnavailable(d) {
		setCondition(st, ConditionAvailable, api.ConditionTrue, ReasonMinimumReplicasAvailable, "Deployment has minimum availability.", now)
	} else {
		setCondition(st, ConditionAvailable, api.ConditionFalse, ReasonMinimumReplicasUnavailable, "Deployment does not have minimum availability.", now)
	}
}

// progressDeadline returns d's progress deadline; ok is false when it has none.
func progressDeadline(d *api.Deployment) (time.Duration, bool) {
	if d.Spec.ProgressDeadlineSeconds == nil {
		return 0, false
	}
	return time.Duration(*d.Spec.ProgressDeadlineSeconds) * time.Second, true
}

// complete reports whether st shows d fully rolled out (Kubernetes' DeploymentComplete).
func complete(d *api.Deployment, st *api.DeploymentStatus) bool {
	n := *d.Spec.Replicas
	return st.UpdatedReplicas == n && st.Replicas == n && st.AvailableReplicas == n && st.ObservedGeneration >= d.Generation
}

// progressed reports whether st shows progress over d's stored status: more updated, ready
// or available pods, or fewer old ones (Kubernetes' DeploymentProgressing).
func progressed(d *api.Deployment, st *api.DeploymentStatus) bool {
	prev := d.Status
	return st.UpdatedReplicas > prev.UpdatedReplicas ||
		st.Replicas-st.UpdatedReplicas < prev.Replicas-prev.UpdatedReplicas ||
		st.ReadyReplicas > prev.ReadyReplicas || st.AvailableReplicas > prev.AvailableReplicas
}

// rsMessage names newRS, or d when there is none, in a condition message.
func rsMessage(d *api.Deployment, newRS *api.ReplicaSet, format string) string {
	if newRS != nil {
		return fmt.Sprintf("ReplicaSet %q "+format, newRS.Name)
	}
	return fmt.Sprintf("Deployment %q "+format, d.Name)
}

// syncProgress maintains the Progressing condition in st, as Kubernetes' syncRolloutStatus
// and checkPausedConditions do. created is the ReplicaSet created by this sync, if any.
func syncProgress(d *api.Deployment, st *api.DeploymentStatus, newRS *api.ReplicaSet, created string, now time.Time) {
	deadline, ok := progressDeadline(d)
	if !ok {
		removeCondition(st, ConditionProgressing)
		return
	}
	cur := condition(st, ConditionProgressing)
	if d.Spec.Paused {
		if cur == nil || cur.Reason != ReasonDeploymentPaused {
			setCondition(st, ConditionProgressing, api.ConditionUnknown, ReasonDeploymentPaused, "Deployment is paused", now)
		}
		return // the deadline is not evaluated while paused
	}
	if cur != nil && cur.Reason == ReasonDeploymentPaused {
		setCondition(st, ConditionProgressing, api.ConditionUnknown, ReasonDeploymentResumed, "Deployment is resumed", now)
	}
	switch {
	case created != "":
		setCondition(st, ConditionProgressing, api.ConditionTrue, ReasonNewReplicaSetCreated,
			fmt.Sprintf("Created new replica set %q", created), now)
	case newRS != nil && condition(st, ConditionProgressing) == nil:
		setCondition(st, ConditionProgressing, api.ConditionTrue, ReasonFoundNewReplicaSet,
			fmt.Sprintf("Found new replica set %q", newRS.Name), now)
	}
	cur = condition(st, ConditionProgressing)
	if st.Replicas == st.UpdatedReplicas && cur != nil && cur.Reason == ReasonNewReplicaSetAvailable {
		return // the latest rollout completed; nothing to estimate
	}
	switch {
	case complete(d, st):
		setCondition(st, ConditionProgressing, api.ConditionTrue, ReasonNewReplicaSetAvailable,
			rsMessage(d, newRS, "has successfully progressed."), now)
	case progressed(d, st):
		// Refresh lastUpdateTime even when the reason stays ReplicaSetUpdated.
		t := api.NewTime(now)
		c := api.DeploymentCondition{Type: ConditionProgressing, Status: api.ConditionTrue, Reason: ReasonReplicaSetUpdated,
			Message: rsMessage(d, newRS, "is progressing."), LastUpdateTime: t, LastTransitionTime: t}
		if cur != nil && cur.Status == api.ConditionTrue {
			c.LastTransitionTime = cur.LastTransitionTime
		}
		removeCondition(st, ConditionProgressing)
		st.Conditions = append(st.Conditions, c)
	case timedOut(cur, deadline, now):
		setCondition(st, ConditionProgressing, api.ConditionFalse, ReasonProgressDeadlineExceeded,
			rsMessage(d, newRS, "has timed out progressing."), now)
	}
}

// timedOut reports whether the Progressing condition cur has not been refreshed for the
// deadline (Kubernetes' DeploymentTimedOut).
func timedOut(cur *api.DeploymentCondition, deadline time.Duration, now time.Time) bool {
	if cur == nil || cur.Reason == ReasonNewReplicaSetAvailable {
		return false
	}
	if cur.Reason == ReasonProgressDeadlineExceeded {
		return true
	}
	return cur.LastUpdateTime.Add(deadline).Before(now)
}

// progressCheckAfter returns when d must be synced again to notice a missed progress
// deadline; ok is false when no check is needed (no deadline, paused, complete or already
// timed out). The extra second covers lastUpdateTime's truncation to seconds.
func progressCheckAfter(d *api.Deployment, st *api.DeploymentStatus, now time.Time) (time.Duration, bool) {
	deadline, ok := progressDeadline(d)
	cur := condition(st, ConditionProgressing)
	if !ok || d.Spec.Paused || cur == nil || complete(d, st) || cur.Reason == ReasonProgressDeadlineExceeded {
		return 0, false
	}
	return max(cur.LastUpdateTime.Add(deadline).Sub(now), 0) + time.Second, true
}
