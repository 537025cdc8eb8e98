package poll

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestUntilReturnsOnceTheConditionHolds(t *testing.T) {
	n := 0
	Until(t, Context(t, time.Minute), "third attempt", func(context.Context) error {
		if n++; n < 3 {
			return errors.New("not yet")
		}
		return nil
	})
	if n != 3 {
		t.Fatalf("f called %d times, want 3", n)
	}
}

func TestUntilEachBoundsEveryAttempt(t *testing.T) {
	var deadlines []bool
	UntilEach(t, Context(t, time.Minute), "two attempts", time.Hour, func(ctx context.Context) error {
		_, ok := ctx.Deadline()
		deadlines = append(deadlines, ok)
		if len(deadlines) < 2 {
			return errors.New("not yet")
		}
		return nil
	})
	for i, ok := range deadlines {
		if !ok {
			t.Errorf("attempt %d had no deadline", i)
		}
	}
}

// fatalRecorder records Fatalf instead of ending the test, so the failure path can be checked.
type fatalRecorder struct {
	testing.TB
	failed bool
}

func (r *fatalRecorder) Helper() {}
func (r *fatalRecorder) Fatalf(string, ...any) {
	r.failed = true
	panic(r)
}

func TestUntilFailsWhenTheContextEnds(t *testing.T) {
	r := &fatalRecorder{TB: t}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	func() {
		defer func() {
			if p := recover(); p != nil && p != r {
				panic(p)
			}
		}()
		Until(r, ctx, "never", func(context.Context) error { return errors.New("never") })
	}()
	if !r.failed {
		t.Fatal("Until returned without failing although the condition never held")
	}
}
