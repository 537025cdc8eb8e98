package nodelifecycle

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/keeldb/keel/internal/testcluster"
	"github.com/keeldb/keel/orchestrator/api"
	"github.com/keeldb/keel/orchestrator/registry"
)

type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (f *fakeClock) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

func (f *fakeClock) advance(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.now = f.now.Add(d)
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestMonitor drives the controller's monitor step by hand on a fake clock, so every
// threshold is checked on both sides without waiting.
func TestMonitor(t *testing.T) {
	cl := testcluster.Start(t, 3)
	cli := cl.Client()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	stores := registry.NewStores(cli, registry.Config{})
	clock := &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	c := New(cli, Config{GracePeriod: 15 * time.Second, EvictionTimeout: 15 * time.Second, Now: clock.Now})

	ready := func(n string) *api.Node {
		return &api.Node{ObjectMeta: api.ObjectMeta{Name: n}, Status: api.NodeStatus{
			Conditions: []api.NodeCondition{{Type: "Ready", Status: api.ConditionTrue}}}}
	}
	for _, n := range []string{"dead", "alive"} {
		if _, err := stores.Nodes.Create(ctx, ready(n)); err != nil {
			t.Fatal(err)
		}
	}
	renewals := 0
	renew := func(node string) {
		t.Helper()
		renewals++
		rt := api.MicroTime{Time: time.Unix(int64(renewals), 0)}
		l := &api.Lease{ObjectMeta: api.ObjectMeta{Namespace: NodeLeaseNamespace, Name: node}, Spec: api.LeaseSpec{RenewTime: &rt}}
		if _, err := stores.Leases.Create(ctx, l); errors.Is(err, registry.ErrAlreadyExists) {
			_, err = stores.Leases.GuaranteedUpdate(ctx, NodeLeaseNamespace, node, func(cur *api.Lease) (*api.Lease, error) {
				cur.Spec.RenewTime = &rt
				return cur, nil
			})
			if err != nil {
				t.Fatal(err)
			}
		} else if err != nil {
			t.Fatal(err)
		}
		waitFor(t, "lease "+node+" in cache", func() bool {
			l, ok := c.leases.Cache().Get(NodeLeaseNamespace + "/" + node)
			return ok && l.Spec.RenewTime.Equal(rt.Time)
		})
	}
	secs := func(s int64) *int64 { return &s }
	pods := map[string]api.PodSpec{
		"plain":   {NodeName: "dead"},
		"forever": {NodeName: "dead", Tolerations: []api.Toleration{{Key: TaintUnreachable, Operator: "Exists", Effect: api.TaintNoExecute}}},
		"long":    {NodeName: "dead", Tolerations: []api.Toleration{{Key: TaintUnreachable, Operator: "Exists", Effect: api.TaintNoExecute, TolerationSeconds: secs(100)}}},
		"other":   {NodeName: "alive"},
	}
	for name, spec := range pods {
		spec.Containers = []api.Container{{Name: "c", Image: "nginx"}}
		p := &api.Pod{ObjectMeta: api.ObjectMeta{Name: name}, Spec: spec, Status: api.PodStatus{Phase: api.PodRunning,
			Conditions: []api.PodCondition{{Type: "Ready", Status: api.ConditionTrue}}}}
		if _, err := stores.Pods.Create(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	ictx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for _, run := range []func(context.Context) error{c.nodes.Run, c.leases.Run, c.pods.Run} {
		wg.Add(1)
		go func() { defer wg.Done(); _ = run(ictx) }()
	}
	defer func() { stop(); wg.Wait() }()
	if err := c.waitForSync(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "pods in cache", func() bool { return c.pods.Cache().Len() == len(pods) })
	renew("dead")
	renew("alive")

	monitor := func() {
		t.Helper()
		if err := c.monitor(ctx); err != nil {
			t.Fatalf("monitor: %v", err)
		}
	}
	node := func(name string) *api.Node {
		t.Helper()
		n, err := stores.Nodes.Get(ctx, "", name)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	podExists := func(name string) bool {
		t.Helper()
		_, err := stores.Pods.Get(ctx, "default", name)
		if err != nil && !errors.Is(err, registry.ErrNotFound) {
			t.Fatal(err)
		}
		return err == nil
	}
	// evicted: marked for deletion (or gone).
	evicted := func(name string) bool {
		t.Helper()
		p, err := stores.Pods.Get(ctx, "default", name)
		if err != nil && !errors.Is(err, registry.ErrNotFound) {
			t.Fatal(err)
		}
		return err != nil || p.DeletionTimestamp != nil
	}
	describe := func(n *api.Node) string {
		return fmt.Sprintf("Ready=%s taints=%d", readyStatus(n), len(n.Spec.Taints))
	}
	// step advances the clock, renews the live node's lease and runs one monitor pass.
	step := func(d time.Duration) {
		t.Helper()
		clock.advance(d)
		renew("alive")
		monitor()
	}

	monitor() // t=0: both nodes first seen
	step(15 * time.Second)
	if n := node("dead"); readyStatus(n) != api.ConditionTrue || len(n.Spec.Taints) != 0 {
		t.Fatalf("at the grace period: dead node %s, want untouched", describe(n))
	}
	step(time.Second) // t=16 > grace
	n := node("dead")
	if readyStatus(n) != api.ConditionUnknown {
		t.Errorf("after the grace period: dead node %s, want Ready=Unknown", describe(n))
	}
	since, ok := unreachableSince(n)
	if !ok || !since.Equal(clock.Now()) {
		t.Fatalf("dead node taints %+v, want %s NoExecute added at %v", n.Spec.Taints, TaintUnreachable, clock.Now())
	}
	if a := node("alive"); readyStatus(a) != api.ConditionTrue || len(a.Spec.Taints) != 0 {
		t.Errorf("renewing node %s, want untouched", describe(a))
	}
	waitFor(t, "taint in cache", func() bool {
		n, _ := c.nodes.Cache().Get("dead")
		return hasUnreachableTaint(n)
	})
	monitor()
	p, err := stores.Pods.Get(ctx, "default", "plain")
	if err != nil {
		t.Fatal(err)
	}
	if podReady(p) {
		t.Errorf("pod on the unreachable node still Ready")
	}
	if other, _ := stores.Pods.Get(ctx, "default", "other"); !podReady(other) {
		t.Errorf("pod on the live node marked not ready")
	}

	step(14 * time.Second) // t=30: 14 s after the taint
	if evicted("plain") {
		t.Fatal("pod evicted before the eviction timeout")
	}
	step(time.Second) // t=31: 15 s after the taint
	if !evicted("plain") || !podExists("plain") {
		t.Error("pod not marked for deletion at the eviction timeout")
	}
	for _, name := range []string{"forever", "long", "other"} {
		if evicted(name) {
			t.Errorf("pod %s evicted", name)
		}
	}
	// Nothing confirms the containers stopped: once its grace period (30 s) is over the
	// pod is removed.
	waitFor(t, "terminating pod in cache", func() bool {
		p, ok := c.pods.Cache().Get("default/plain")
		return ok && p.DeletionTimestamp != nil
	})
	step(29 * time.Second) // t=60
	if !podExists("plain") {
		t.Error("evicted pod removed before its grace period ended")
	}
	step(time.Second) // t=61
	if podExists("plain") {
		t.Error("evicted pod not removed at the end of its grace period")
	}
	step(54 * time.Second) // t=115: 99 s after the taint
	if evicted("long") {
		t.Error("pod tolerating 100 s evicted after 99 s")
	}
	step(time.Second)
	if !evicted("long") {
		t.Error("pod tolerating 100 s not evicted after 100 s")
	}
	if evicted("forever") {
		t.Error("pod tolerating forever evicted")
	}

	// The node comes back: its lease is renewed and its agent reports Ready again.
	renew("dead")
	if _, err := stores.Nodes.GuaranteedUpdate(ctx, "", "dead", func(cur *api.Node) (*api.Node, error) {
		cur.Status.Conditions = []api.NodeCondition{{Type: "Ready", Status: api.ConditionTrue}}
		return cur, nil
	}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "ready node in cache", func() bool {
		n, _ := c.nodes.Cache().Get("dead")
		return readyStatus(n) == api.ConditionTrue
	})
	step(time.Second)
	if n := node("dead"); len(n.Spec.Taints) != 0 {
		t.Errorf("recovered node keeps taints %+v", n.Spec.Taints)
	}

	// Every node silent at once: marked, but nothing evicted.
	step(time.Second)
	clock.advance(20 * time.Second)
	monitor()
	waitFor(t, "both tainted in cache", func() bool {
		a, _ := c.nodes.Cache().Get("alive")
		d, _ := c.nodes.Cache().Get("dead")
		return hasUnreachableTaint(a) && hasUnreachableTaint(d)
	})
	clock.advance(time.Hour)
	monitor()
	if evicted("other") {
		t.Error("pod evicted while every node was unreachable")
	}
}
