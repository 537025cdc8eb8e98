// Package poll is the store tests' wait: call a condition until it holds or a deadline ends,
// instead of sleeping for state. The deadline is a hang guard, not a timing check. (The
// orchestrator's tests have their own, orchestrator/internal/poll.)
package poll

import (
	"context"
	"testing"
	"time"
)

// Interval is the pause between two attempts.
const Interval = 25 * time.Millisecond

// Context returns a context bounded by d and by the test, cancelled at cleanup.
func Context(t testing.TB, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), d)
	t.Cleanup(cancel)
	return ctx
}

// Until calls f every Interval until it returns nil, and fails t with what and f's last
// error when ctx ends first.
func Until(t testing.TB, ctx context.Context, what string, f func(context.Context) error) {
	t.Helper()
	UntilEach(t, ctx, what, 0, f)
}

// UntilEach is Until with every attempt bounded by attempt as well (0: by ctx alone), so one
// hung request does not use up the whole wait.
func UntilEach(t testing.TB, ctx context.Context, what string, attempt time.Duration, f func(context.Context) error) {
	t.Helper()
	ticker := time.NewTicker(Interval)
	defer ticker.Stop()
	for {
		actx, cancel := ctx, context.CancelFunc(func() {})
		if attempt > 0 {
			actx, cancel = context.WithTimeout(ctx, attempt)
		}
		err := f(actx)
		cancel()
		if err == nil {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s: %v; last error: %v", what, ctx.Err(), err)
		case <-ticker.C:
		}
	}
}
