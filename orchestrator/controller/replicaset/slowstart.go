package replicaset

import (
	"errors"
	"sync"
)

// Creation bursts start small (Kubernetes' SlowStartInitialBatchSize = 1) so that a
// failing create (quota, admission, validation) costs a handful of doomed calls. After a
// burst in which every create succeeded, the next burst of the same ReplicaSet starts at
// the batch size that burst reached, capped at maxWarmBatch, instead of at 1 again: a
// scale-up of many thousands of pods then creates each BurstReplicas (500) in one round
// of concurrent creates after the first two, instead of nine sequential rounds (on a
// store whose writes take tens of milliseconds under load, those rounds dominated; see
// bench/results/ORCH.md). The price: a failure that starts after a successful burst costs
// up to one burst of doomed calls, once; any failure sends the ReplicaSet back to 1.
const (
	slowStartInitialBatch = 1
	maxWarmBatch          = DefaultBurstReplicas
)

// warmStarts remembers, per ReplicaSet key, the batch size its next creation burst
// starts at. The zero value is ready to use; it is safe for concurrent use.
type warmStarts struct {
	// mu guards m.
	mu sync.Mutex
	m  map[string]int
}

// initial returns the batch size key's next burst starts at.
func (w *warmStarts) initial(key string) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	if n := w.m[key]; n > 0 {
		return n
	}
	return slowStartInitialBatch
}

// record notes the outcome of a burst of key: the batch size it reached and whether every
// create succeeded.
func (w *warmStarts) record(key string, reached int, ok bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !ok {
		delete(w.m, key)
		return
	}
	if w.m == nil {
		w.m = map[string]int{}
	}
	w.m[key] = min(reached, maxWarmBatch)
}

func (w *warmStarts) forget(key string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.m, key)
}

// slowStartFrom calls fn n times in batches of initial, 2×initial, 4×initial, … run in
// parallel, stopping after the first batch with a failure. It returns how many calls
// succeeded, the size the batches reached (the next doubling, for the next burst to
// start at), and the first errors.
func slowStartFrom(initial, n int, fn func() error) (created, reached int, err error) {
	batch := max(initial, 1)
	for ; created < n; batch *= 2 {
		size := min(batch, n-created)
		errs := make([]error, size)
		var wg sync.WaitGroup
		for i := range size {
			wg.Go(func() { errs[i] = fn() })
		}
		wg.Wait()
		ok := 0
		for _, err := range errs {
			if err == nil {
				ok++
			}
		}
		created += ok
		if ok < size {
			return created, batch, errors.Join(errs...)
		}
	}
	return created, batch, nil
}
