// Package coord_test checks the coordination recipes users build on Keel — clientv3's
// concurrency.Mutex and concurrency.Election, and lease TTLs — against a 3-member keeld cluster
// run as real processes, while leaders are killed with SIGKILL and restarted.
package coord_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/keeldb/keel/internal/proccluster"
)

func TestMain(m *testing.M) {
	code := m.Run()
	proccluster.RemoveBuilds()
	os.Exit(code)
}

const (
	// opTimeout bounds one RPC, so a request sent to a member that has just been killed
	// cannot stall a test; callers retry.
	opTimeout = 5 * time.Second
	// pollInterval is the pause between two polls of a wait.
	pollInterval = 25 * time.Millisecond
)

func startKeel(t *testing.T) *proccluster.Cluster {
	t.Helper()
	return proccluster.Start(t, proccluster.Config{Binary: proccluster.BuildKeeld(t), Members: 3})
}

// timeout returns a context bounded by d and by the test, cancelled at cleanup: the hang guard.
func timeout(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), d)
	t.Cleanup(cancel)
	return ctx
}

// eventually calls f every pollInterval until it returns nil, and fails the test with the last
// error when ctx ends first. Call it from the test goroutine.
func eventually(t *testing.T, ctx context.Context, what string, f func(context.Context) error) {
	t.Helper()
	if err := poll(ctx, f); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// poll calls f every pollInterval until it returns nil, or returns ctx's error joined with the
// last error of f. Each call of f gets its own opTimeout-bounded context.
func poll(ctx context.Context, f func(context.Context) error) error {
	ticker := time.NewTicker(pollInterval)
	defer ticker.Stop()
	for {
		cctx, cancel := context.WithTimeout(ctx, opTimeout)
		err := f(cctx)
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return &pollError{ctx: ctx.Err(), last: err}
		case <-ticker.C:
		}
	}
}

type pollError struct{ ctx, last error }

func (e *pollError) Error() string   { return e.ctx.Error() + "; last error: " + e.last.Error() }
func (e *pollError) Unwrap() []error { return []error{e.ctx, e.last} }

// killLeader SIGKILLs the current leader and waits until the survivors elect another one. It
// returns the killed member and the new leader.
func killLeader(t *testing.T, ctx context.Context, c *proccluster.Cluster) (killed, leader int) {
	t.Helper()
	killed, err := c.WaitLeader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	c.Kill(killed)
	leader, err = c.WaitLeader(ctx)
	if err != nil {
		t.Fatalf("no new leader after kill -9 of m%d: %v", killed, err)
	}
	if leader == killed {
		t.Fatalf("killed member m%d is still reported leader", killed)
	}
	return killed, leader
}
