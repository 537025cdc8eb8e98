package daemonset

import (
	"sync"
	"time"
)

// expectations records, per DaemonSet key, the pod creations and deletions issued but not
// yet seen through the pod informer (Kubernetes' ControllerExpectations), so that a sync on
// a lagging cache does not create a node's pod twice. It is safe for concurrent use.
type expectations struct {
	now     func() time.Time
	timeout time.Duration

	// mu guards m.
	mu sync.Mutex
	m  map[string]*expectation
}

type expectation struct {
	adds, deletes int
	at            time.Time
}

func newExpectations(now func() time.Time, timeout time.Duration) *expectations {
	return &expectations{now: now, timeout: timeout, m: map[string]*expectation{}}
}

// satisfied reports whether key has nothing pending, or its expectations expired.
func (e *expectations) satisfied(key string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	x, ok := e.m[key]
	if !ok {
		return true
	}
	if x.adds <= 0 && x.deletes <= 0 || e.now().Sub(x.at) > e.timeout {
		delete(e.m, key)
		return true
	}
	return false
}

func (e *expectations) expect(key string, adds, deletes int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	x, ok := e.m[key]
	if !ok {
		x = &expectation{}
		e.m[key] = x
	}
	x.adds += adds
	x.deletes += deletes
	x.at = e.now()
}

func (e *expectations) observeAdd(key string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if x, ok := e.m[key]; ok {
		x.adds--
	}
}

func (e *expectations) observeDelete(key string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if x, ok := e.m[key]; ok {
		x.deletes--
	}
}

func (e *expectations) forget(key string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.m, key)
}
