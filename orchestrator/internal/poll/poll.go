// Package poll is the orchestrator tests' wait: poll a condition with a deadline instead of
// sleeping for state.
package poll

import (
	"testing"
	"time"
)

// interval is how often Eventually retries.
const interval = 20 * time.Millisecond

// Eventually polls cond until it returns nil or d has passed, then fails t with the last
// error. The deadline is a hang guard, not a timing check.
func Eventually(t testing.TB, d time.Duration, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %v: %v", d, err)
		}
		time.Sleep(interval)
	}
}
