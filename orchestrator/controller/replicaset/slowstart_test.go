package replicaset

import (
	"errors"
	"sync/atomic"
	"testing"
)

// TestWarmStart checks that a burst after a fully successful one starts at the batch size
// reached (capped), and that a failure sends the next burst back to 1.
func TestWarmStart(t *testing.T) {
	var w warmStarts
	const key = "default/rs"
	burst := func(n int, failAt int64) (created, batches int) {
		t.Helper()
		var calls atomic.Int64
		initial := w.initial(key)
		created, reached, err := slowStartFrom(initial, n, func() error {
			if calls.Add(1) == failAt {
				return errors.New("refused")
			}
			return nil
		})
		w.record(key, reached, err == nil)
		for b, done := initial, 0; done < created; b *= 2 {
			done += b
			batches++
		}
		return created, batches
	}
	if created, batches := burst(500, 0); created != 500 || batches != 9 {
		t.Fatalf("cold burst: %d created in %d batches, want 500 in 9", created, batches)
	}
	// The cold burst reached batch 512: the next starts at the cap, one round for 500.
	if got := w.initial(key); got != maxWarmBatch {
		t.Fatalf("warm start = %d, want %d", got, maxWarmBatch)
	}
	if created, batches := burst(500, 0); created != 500 || batches != 1 {
		t.Fatalf("warm burst: %d created in %d batches, want 500 in 1", created, batches)
	}
	if created, _ := burst(500, 5); created != 499 {
		t.Fatalf("failing warm burst created %d, want 499 (its one batch less the failure)", created)
	}
	if got := w.initial(key); got != 1 {
		t.Fatalf("start after a failure = %d, want 1", got)
	}
	w.forget(key)
	if got := w.initial(key); got != 1 {
		t.Fatalf("start after forget = %d, want 1", got)
	}
}
