package registry

import (
	"time"

	"github.com/keeldb/keel/orchestrator/api"
)

// DefaultTerminationGracePeriodSeconds is a pod's grace period when its spec has none.
const DefaultTerminationGracePeriodSeconds = 30

// deleteAction is what a Delete does to the current object.
type deleteAction int

const (
	deleteNow     deleteAction = iota // remove the key
	deleteMark                        // write deletionTimestamp and deletionGracePeriodSeconds
	deletePending                     // already terminating with a grace period no longer than asked: nothing
)

// PodGracePeriod is the grace period a delete of p with the requested period (nil = the
// pod's own) gives, as the apiserver's pod strategy (CheckGracefulDelete) computes it:
// requested, else spec.terminationGracePeriodSeconds, else 30; 0 for a pod that is not
// bound to a node (nothing runs it) or that is Succeeded or Failed (nothing runs any more).
func PodGracePeriod(p *api.Pod, requested *int64) int64 {
	period := int64(DefaultTerminationGracePeriodSeconds)
	if g := p.Spec.TerminationGracePeriodSeconds; g != nil {
		period = *g
	}
	if requested != nil {
		period = *requested
	}
	if p.Spec.NodeName == "" || p.Status.Phase == api.PodSucceeded || p.Status.Phase == api.PodFailed {
		period = 0
	}
	return max(period, 0)
}

// gracefulDelete decides a delete of obj with the requested grace period, as the
// apiserver's BeforeDelete does, and stamps m (a copy of obj's metadata) when the object is
// to be marked: only pods are deleted gracefully; a pod already terminating keeps its
// deletion unless a shorter grace period is asked, which moves its deletionTimestamp
// earlier by the difference; a grace period of 0 removes it at once (a force delete, or
// the final delete of the node agent once its containers stopped).
func gracefulDelete(obj api.Object, requested *int64, now time.Time) deleteAction {
	p, ok := obj.(*api.Pod)
	if !ok {
		return deleteNow
	}
	period := PodGracePeriod(p, requested)
	m := p.Meta()
	if m.DeletionTimestamp != nil {
		old := m.DeletionGracePeriodSeconds
		if old == nil || *old == 0 || period == 0 {
			return deleteNow
		}
		if requested == nil || period >= *old {
			return deletePending
		}
		t := api.NewTime(m.DeletionTimestamp.Add(time.Duration(period-*old) * time.Second))
		m.DeletionTimestamp, m.DeletionGracePeriodSeconds = &t, &period
		return deleteMark
	}
	if period == 0 {
		return deleteNow
	}
	t := api.NewTime(now.Add(time.Duration(period) * time.Second))
	m.DeletionTimestamp, m.DeletionGracePeriodSeconds = &t, &period
	return deleteMark
}

// keepDeletion makes an update keep cur's deletion, as the apiserver's BeforeUpdate does:
// once set, deletionTimestamp cannot be removed or changed by an update, nor
// deletionGracePeriodSeconds removed (only Delete changes them). next is modified.
func keepDeletion(cur, next api.Object) {
	cm, nm := cur.Meta(), next.Meta()
	if cm.DeletionTimestamp != nil {
		nm.DeletionTimestamp = cm.DeletionTimestamp
	}
	if cm.DeletionGracePeriodSeconds != nil && nm.DeletionGracePeriodSeconds == nil {
		nm.DeletionGracePeriodSeconds = cm.DeletionGracePeriodSeconds
	}
}

// GracePeriod returns a pointer to secs, for DeleteOptions.GracePeriodSeconds
// (GracePeriod(0): remove at once).
func GracePeriod(secs int64) *int64 { return &secs }
