package job

import (
	"sync"
	"time"
)

// expectations records, per Job key, the pod creations and deletions the controller
// has issued but not yet seen through its pod informer (Kubernetes'
// ControllerExpectations, with deletions tracked by pod key as in UIDTrackingExpectations).
// It is safe for concurrent use.
type expectations struct {
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

func newExpectations(now func() time.Time, timeout time.Duration) *expectations {
	return &expectations{now: now, timeout: timeout, m: map[string]*expectation{}}
}

// satisfied reports whether key has no pending expectations, or they have expired.
func (e *expectations) satisfied(key string) bool {
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

func (e *expectations) getLocked(key string) *expectation {
	x, ok := e.m[key]
	if !ok {
		x = &expectation{deletes: map[string]bool{}}
		e.m[key] = x
	}
	x.at = e.now()
	return x
}

func (e *expectations) expectAdds(key string, n int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.getLocked(key).adds += n
}

func (e *expectations) lowerAdds(key string, n int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if x, ok := e.m[key]; ok {
		x.adds -= n
	}
}

func (e *expectations) observeAdd(key string) { e.lowerAdds(key, 1) }

func (e *expectations) expectDeletes(key string, pods []string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	x := e.getLocked(key)
	for _, p := range pods {
		x.deletes[p] = true
	}
}

func (e *expectations) observeDelete(key, pod string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if x, ok := e.m[key]; ok {
		delete(x.deletes, pod)
	}
}

// pendingDelete reports whether pod's deletion is expected but not yet seen.
func (e *expectations) pendingDelete(key, pod string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	x, ok := e.m[key]
	return ok && x.deletes[pod]
}

func (e *expectations) forget(key string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.m, key)
}
