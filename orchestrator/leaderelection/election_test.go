package leaderelection_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/keeldb/keel/internal/testcluster"
	"github.com/keeldb/keel/orchestrator/leaderelection"
)

const holderKey = "/test/holder"

// candidate is one elector whose leadership is recorded in the store: on becoming leader
// it claims holderKey with a transaction that fails when somebody else holds it, and on
// losing leadership it releases the claim. A failed claim means two leaders at once.
type candidate struct {
	id     string
	cli    *clientv3.Client
	el     *leaderelection.Elector
	cancel context.CancelFunc
	done   chan struct{}

	mu         sync.Mutex
	terms      int
	violations []string
	leadCtx    context.Context
}

func newCandidate(t *testing.T, c *testcluster.Cluster, id string, cfg leaderelection.Config) *candidate {
	t.Helper()
	cli, err := clientv3.New(clientv3.Config{Endpoints: c.Endpoints(), DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cli.Close() })
	cd := &candidate{id: id, cli: cli, done: make(chan struct{})}
	cfg.Identity = id
	cd.el, err = leaderelection.New(cli, cfg, leaderelection.Callbacks{OnStartedLeading: cd.lead})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cd.cancel = cancel
	go func() {
		defer close(cd.done)
		_ = cd.el.Run(ctx)
	}()
	t.Cleanup(func() { cancel(); <-cd.done })
	return cd
}

func (cd *candidate) lead(ctx context.Context) {
	cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	fence, ok := cd.el.Fence()
	if !ok {
		cd.violate("leading without a fence")
		return
	}
	resp, err := cd.cli.Txn(cctx).If(clientv3.Compare(clientv3.Version(holderKey), "=", 0), fence).
		Then(clientv3.OpPut(holderKey, cd.id)).Else(clientv3.OpGet(holderKey)).Commit()
	switch {
	case err != nil:
		cd.violate("claim: " + err.Error())
	case !resp.Succeeded:
		holder := "?"
		if rr := resp.Responses[0].GetResponseRange(); rr != nil && len(rr.Kvs) > 0 {
			holder = string(rr.Kvs[0].Value)
		}
		cd.violate(fmt.Sprintf("%s became leader while %s held the claim", cd.id, holder))
	}
	cd.mu.Lock()
	cd.terms++
	cd.leadCtx = ctx
	cd.mu.Unlock()
	<-ctx.Done()
	if _, err := cd.cli.Txn(cctx).If(clientv3.Compare(clientv3.Value(holderKey), "=", cd.id)).
		Then(clientv3.OpDelete(holderKey)).Commit(); err != nil {
		cd.violate("release: " + err.Error())
	}
}

func (cd *candidate) violate(s string) {
	cd.mu.Lock()
	defer cd.mu.Unlock()
	cd.violations = append(cd.violations, s)
}

func (cd *candidate) state() (terms int, violations []string, leadCtx context.Context) {
	cd.mu.Lock()
	defer cd.mu.Unlock()
	return cd.terms, append([]string(nil), cd.violations...), cd.leadCtx
}

func eventually(t *testing.T, what string, timeout time.Duration, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v: %v", what, timeout, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// leaders returns the candidates that report leading.
func leaders(cds ...*candidate) []string {
	var out []string
	for _, cd := range cds {
		if cd.el.IsLeader() {
			out = append(out, cd.id)
		}
	}
	return out
}

func oneLeader(cds ...*candidate) func() error {
	return func() error {
		if l := leaders(cds...); len(l) != 1 {
			return fmt.Errorf("leaders %v", l)
		}
		return nil
	}
}

func checkViolations(t *testing.T, cds ...*candidate) {
	t.Helper()
	for _, cd := range cds {
		if _, v, _ := cd.state(); len(v) > 0 {
			t.Errorf("%s: %v", cd.id, v)
		}
	}
}

func testConfig(name string) leaderelection.Config {
	return leaderelection.Config{Name: name, LeaseDuration: 2 * time.Second, RenewDeadline: 1200 * time.Millisecond, RetryPeriod: 100 * time.Millisecond}
}

func TestElection(t *testing.T) {
	c := testcluster.Start(t, 3)

	t.Run("handover on cancel", func(t *testing.T) {
		cfg := testConfig("handover")
		a := newCandidate(t, c, "a", cfg)
		b := newCandidate(t, c, "b", cfg)
		eventually(t, "one leader", 20*time.Second, oneLeader(a, b))
		first, second := a, b
		if b.el.IsLeader() {
			first, second = b, a
		}
		if got, err := first.el.Leader(context.Background()); err != nil || got != first.id {
			t.Fatalf("Leader() = %q, %v; want %q", got, err, first.id)
		}
		// Several rounds: kill the leader, the other takes over, restart the killed one.
		for round := range 3 {
			first.cancel()
			<-first.done
			eventually(t, fmt.Sprintf("round %d: %s takes over", round, second.id), 20*time.Second, func() error {
				if !second.el.IsLeader() {
					return errors.New("not leader")
				}
				if terms, _, _ := second.state(); terms == 0 {
					return errors.New("no term started")
				}
				return nil
			})
			if first.el.IsLeader() {
				t.Fatalf("round %d: cancelled candidate %s still reports leading", round, first.id)
			}
			first = newCandidate(t, c, first.id+fmt.Sprint(round), cfg)
			first, second = second, first
		}
		checkViolations(t, a, b, first, second)
	})

	t.Run("crashed leader loses leadership", func(t *testing.T) {
		cfg := testConfig("crash")
		a := newCandidate(t, c, "a", cfg)
		b := newCandidate(t, c, "b", cfg)
		eventually(t, "one leader", 20*time.Second, oneLeader(a, b))
		leader, other := a, b
		if b.el.IsLeader() {
			leader, other = b, a
		}
		fence, ok := leader.el.Fence()
		if !ok {
			t.Fatal("leader has no fence")
		}
		var leadCtx context.Context
		eventually(t, "the leader's term starts", 20*time.Second, func() error {
			if _, _, leadCtx = leader.state(); leadCtx == nil {
				return errors.New("no term yet")
			}
			return nil
		})
		// Crash: the leader's client goes away without revoking its lease.
		_ = leader.cli.Close()
		eventually(t, "the crashed leader's context ends", 20*time.Second, func() error {
			if leadCtx.Err() == nil {
				return errors.New("still leading")
			}
			return nil
		})
		eventually(t, other.id+" takes over", 20*time.Second, func() error {
			if !other.el.IsLeader() {
				return errors.New("not leader")
			}
			return nil
		})
		// The old leader's fence no longer holds in the store.
		resp, err := other.cli.Txn(context.Background()).If(fence).Then(clientv3.OpPut("/test/fenced", leader.id)).Commit()
		if err != nil {
			t.Fatal(err)
		}
		if resp.Succeeded {
			t.Fatalf("a write fenced by the crashed leader %s succeeded after %s took over", leader.id, other.id)
		}
		if l := leaders(other); len(l) != 1 {
			t.Fatalf("leaders %v", l)
		}
	})
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  leaderelection.Config
		ok   bool
	}{
		{"default", leaderelection.DefaultConfig("x"), true},
		{"kubernetes", leaderelection.KubernetesConfig("x"), true},
		{"no name", leaderelection.Config{LeaseDuration: 5 * time.Second, RenewDeadline: time.Second, RetryPeriod: time.Second}, false},
		{"renew deadline not below lease", leaderelection.Config{Name: "x", LeaseDuration: 5 * time.Second, RenewDeadline: 5 * time.Second, RetryPeriod: time.Second}, false},
		{"short lease", leaderelection.Config{Name: "x", LeaseDuration: 500 * time.Millisecond, RenewDeadline: 100 * time.Millisecond, RetryPeriod: time.Second}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			if (err == nil) != tc.ok {
				t.Fatalf("Validate() = %v, want ok=%v", err, tc.ok)
			}
		})
	}
}
