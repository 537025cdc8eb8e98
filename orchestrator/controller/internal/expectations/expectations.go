// Package expectations is Kubernetes' ControllerExpectations for the orchestrator's
// controllers that create and delete pods (ReplicaSet and ReplicationController, Job,
// DaemonSet): what a controller has issued but not yet seen through its pod informer, so a
// sync on a lagging cache does not act twice.
package expectations

import (
	"maps"
	"sync"
	"time"
)

// Expectations records, per owner key, the pod creations and deletions the controller
// has issued but not yet seen through its pod informer (Kubernetes'
// ControllerExpectations, with deletions tracked by pod key as in UIDTrackingExpectations).
// It is safe for concurrent use.
type Expectations struct {
	now     func() time.Time
	timeout time.Duration

	// mu guards m.
	mu sync.Mutex
	m  map[string]*expectation
}

type expectation struct {
	adds    int
	deletes map[string]bool // pod keys
	at      time.Time
}

// New returns empty expectations; unmet ones count as met timeout after they were last raised.
func New(now func() time.Time, timeout time.Duration) *Expectations {
	return &Expectations{now: now, timeout: timeout, m: map[string]*expectation{}}
}

// Satisfied reports whether key has no pending expectations, or they have expired.
func (e *Expectations) Satisfied(key string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	x, ok := e.m[key]
	if !ok {
		return true
	}
	if x.adds <= 0 && len(x.deletes) == 0 || e.now().Sub(x.at) > e.timeout {
		delete(e.m, key)
		return true
	}
	return false
}

func (e *Expectations) getLocked(key string) *expectation {
	x, ok := e.m[key]
	if !ok {
		x = &expectation{deletes: map[string]bool{}}
		e.m[key] = x
	}
	x.at = e.now()
	return x
}

// ExpectAdds raises key's expected pod creations by n.
func (e *Expectations) ExpectAdds(key string, n int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.getLocked(key).adds += n
}

// LowerAdds lowers key's expected creations by n (creations that were not issued after all).
func (e *Expectations) LowerAdds(key string, n int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if x, ok := e.m[key]; ok {
		x.adds -= n
	}
}

// ObserveAdd records one creation seen (or failed).
func (e *Expectations) ObserveAdd(key string) { e.LowerAdds(key, 1) }

// ExpectDeletes records the deletions of pods (by pod key) issued for key.
func (e *Expectations) ExpectDeletes(key string, pods []string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	x := e.getLocked(key)
	for _, p := range pods {
		x.deletes[p] = true
	}
}

// ObserveDelete records pod's deletion seen (or failed).
func (e *Expectations) ObserveDelete(key, pod string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if x, ok := e.m[key]; ok {
		delete(x.deletes, pod)
	}
}

// PendingDelete reports whether pod's deletion is expected but not yet seen.
func (e *Expectations) PendingDelete(key, pod string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	x, ok := e.m[key]
	return ok && x.deletes[pod]
}

// PendingDeletes returns the pods whose deletion under key is expected but not yet seen
// (nil when none): one look-up per sync instead of one per pod.
func (e *Expectations) PendingDeletes(key string) map[string]bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	x, ok := e.m[key]
	if !ok || len(x.deletes) == 0 {
		return nil
	}
	return maps.Clone(x.deletes)
}

// Forget drops key's expectations (its owner is gone).
func (e *Expectations) Forget(key string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.m, key)
}
