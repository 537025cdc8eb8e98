package agent_test

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/keeldb/keel/internal/testcluster"
	"github.com/keeldb/keel/orchestrator/agent"
	"github.com/keeldb/keel/orchestrator/api"
	"github.com/keeldb/keel/orchestrator/registry"

	"github.com/keeldb/keel/orchestrator/internal/poll"
)

func startAgent(t *testing.T, ctx context.Context, a *agent.Agent) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("agent.Run: %v", err)
		}
	}
	t.Cleanup(stop)
	return stop
}

func readyStatus(n *api.Node) string {
	for _, c := range n.Status.Conditions {
		if c.Type == "Ready" {
			return c.Status
		}
	}
	return ""
}

func TestAgent(t *testing.T) {
	c := testcluster.Start(t, 3)
	cli := c.Client()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	stores := registry.NewStores(cli, registry.Config{})
	a := agent.New(cli, agent.Config{NodeName: "sim", Nodes: 3, HeartbeatInterval: 100 * time.Millisecond,
		StartDelay: 200 * time.Millisecond, Labels: map[string]string{"zone": "z1"},
		Capacity: api.ResourceList{"cpu": "4", "memory": "8Gi", "pods": "110"}})
	if got, want := fmt.Sprint(a.NodeNames()), "[sim-0 sim-1 sim-2]"; got != want {
		t.Fatalf("NodeNames() = %s, want %s", got, want)
	}
	stop := startAgent(t, ctx, a)

	t.Run("registers nodes", func(t *testing.T) {
		poll.Eventually(t, 20*time.Second, func() error {
			for _, name := range a.NodeNames() {
				n, err := stores.Nodes.Get(ctx, "", name)
				if err != nil {
					return err
				}
				if readyStatus(n) != api.ConditionTrue || n.Labels["zone"] != "z1" || n.Status.Capacity["cpu"] != "4" ||
					n.Labels["kubernetes.io/hostname"] != name {
					return fmt.Errorf("node %s: labels %v, capacity %v, conditions %+v", name, n.Labels, n.Status.Capacity, n.Status.Conditions)
				}
			}
			return nil
		})
	})

	t.Run("heartbeats", func(t *testing.T) {
		first := map[string]time.Time{}
		poll.Eventually(t, 20*time.Second, func() error {
			for _, name := range a.NodeNames() {
				l, err := stores.Leases.Get(ctx, agent.NodeLeaseNamespace, name)
				if err != nil {
					return err
				}
				if l.Spec.RenewTime == nil || l.Spec.HolderIdentity == nil || *l.Spec.HolderIdentity != name {
					return fmt.Errorf("lease %s: %+v", name, l.Spec)
				}
				rt := l.Spec.RenewTime.Time
				if f, ok := first[name]; !ok {
					first[name] = rt
				} else if !rt.After(f) {
					return fmt.Errorf("lease %s: renewTime %v not after first seen %v", name, rt, f)
				}
			}
			if len(first) < 3 {
				return errors.New("first reads")
			}
			return nil
		})
	})

	t.Run("runs bound pods", func(t *testing.T) {
		mk := func(name, node string) *api.Pod {
			p, err := stores.Pods.Create(ctx, &api.Pod{ObjectMeta: api.ObjectMeta{Name: name},
				Spec: api.PodSpec{NodeName: node, Containers: []api.Container{{Name: "c", Image: "busybox"}, {Name: "d", Image: "nginx"}}}})
			if err != nil {
				t.Fatal(err)
			}
			return p
		}
		created := mk("p1", "sim-1")
		mk("foreign", "elsewhere")
		mk("unbound", "")
		var got *api.Pod
		poll.Eventually(t, 20*time.Second, func() error {
			p, err := stores.Pods.Get(ctx, "default", "p1")
			if err != nil {
				return err
			}
			if p.Status.Phase != api.PodRunning {
				return fmt.Errorf("phase %q", p.Status.Phase)
			}
			got = p
			return nil
		})
		conds := map[string]string{}
		for _, c := range got.Status.Conditions {
			conds[c.Type] = c.Status
		}
		for _, ct := range []string{"PodScheduled", "Initialized", "ContainersReady", "Ready"} {
			if conds[ct] != api.ConditionTrue {
				t.Errorf("condition %s = %q, want True (all: %v)", ct, conds[ct], conds)
			}
		}
		ip, err := netip.ParseAddr(got.Status.PodIP)
		if err != nil || !netip.MustParsePrefix("10.0.0.0/8").Contains(ip) {
			t.Errorf("podIP %q, want an address in 10.0.0.0/8", got.Status.PodIP)
		}
		if want := agent.PodIP(created); got.Status.PodIP != want {
			t.Errorf("podIP %q, want the deterministic %q", got.Status.PodIP, want)
		}
		if got.Status.HostIP == "" || got.Status.StartTime == nil {
			t.Errorf("hostIP %q, startTime %v", got.Status.HostIP, got.Status.StartTime)
		}
		if len(got.Status.ContainerStatuses) != 2 {
			t.Fatalf("container statuses: got %d, want 2", len(got.Status.ContainerStatuses))
		}
		for _, cs := range got.Status.ContainerStatuses {
			if cs.State.Running == nil || !cs.Ready || cs.RestartCount != 0 {
				t.Errorf("container %s: %+v", cs.Name, cs)
			}
		}
		if st := got.Status.StartTime.Time; st.Before(created.CreationTimestamp.Time) {
			t.Errorf("startTime %v before creation %v", st, created.CreationTimestamp)
		}
		// Pods bound elsewhere or unbound are not touched (p1, created after them, is
		// already Running, and the agent handles events in order per informer).
		for _, name := range []string{"foreign", "unbound"} {
			p, err := stores.Pods.Get(ctx, "default", name)
			if err != nil {
				t.Fatal(err)
			}
			if p.Status.Phase != "" {
				t.Errorf("pod %s not bound here got phase %q", name, p.Status.Phase)
			}
		}
	})

	t.Run("honours deletion", func(t *testing.T) {
		p, err := stores.Pods.Create(ctx, &api.Pod{ObjectMeta: api.ObjectMeta{Name: "p2"},
			Spec: api.PodSpec{NodeName: "sim-2", Containers: []api.Container{{Name: "c", Image: "busybox"}}}})
		if err != nil {
			t.Fatal(err)
		}
		poll.Eventually(t, 20*time.Second, func() error {
			cur, err := stores.Pods.Get(ctx, "default", "p2")
			if err != nil {
				return err
			}
			if cur.Status.Phase != api.PodRunning {
				return fmt.Errorf("phase %q", cur.Status.Phase)
			}
			return nil
		})
		_, err = stores.Pods.GuaranteedUpdate(ctx, "default", "p2", func(cur *api.Pod) (*api.Pod, error) {
			now := api.NewTime(time.Now())
			cur.DeletionTimestamp = &now
			return cur, nil
		})
		if err != nil {
			t.Fatal(err)
		}
		poll.Eventually(t, 20*time.Second, func() error {
			_, err := stores.Pods.Get(ctx, "default", p.Name)
			if errors.Is(err, registry.ErrNotFound) {
				return nil
			}
			return fmt.Errorf("pod still there (err %v)", err)
		})
	})

	t.Run("reasserts ready after restart", func(t *testing.T) {
		stop()
		l, err := stores.Leases.Get(ctx, agent.NodeLeaseNamespace, "sim-0")
		if err != nil {
			t.Fatal(err)
		}
		// What the node lifecycle controller writes for a silent node.
		_, err = stores.Nodes.GuaranteedUpdate(ctx, "", "sim-0", func(cur *api.Node) (*api.Node, error) {
			for i := range cur.Status.Conditions {
				if cur.Status.Conditions[i].Type == "Ready" {
					cur.Status.Conditions[i].Status = api.ConditionUnknown
				}
			}
			return cur, nil
		})
		if err != nil {
			t.Fatal(err)
		}
		p1, err := stores.Pods.Get(ctx, "default", "p1")
		if err != nil {
			t.Fatal(err)
		}
		a2 := agent.New(cli, agent.Config{NodeName: "sim", Nodes: 3, HeartbeatInterval: 100 * time.Millisecond})
		startAgent(t, ctx, a2)
		poll.Eventually(t, 20*time.Second, func() error {
			n, err := stores.Nodes.Get(ctx, "", "sim-0")
			if err != nil {
				return err
			}
			if s := readyStatus(n); s != api.ConditionTrue {
				return fmt.Errorf("Ready %q", s)
			}
			cur, err := stores.Leases.Get(ctx, agent.NodeLeaseNamespace, "sim-0")
			if err != nil {
				return err
			}
			if !cur.Spec.RenewTime.After(l.Spec.RenewTime.Time) {
				return errors.New("lease not renewed by the new agent")
			}
			return nil
		})
		// The running pod was not rewritten by the new agent.
		cur, err := stores.Pods.Get(ctx, "default", "p1")
		if err != nil {
			t.Fatal(err)
		}
		if cur.ResourceVersion != p1.ResourceVersion {
			t.Errorf("p1 rewritten by the restarted agent: resourceVersion %s, was %s", cur.ResourceVersion, p1.ResourceVersion)
		}
	})
}

// TestManyNodes runs a few hundred simulated nodes in one agent: every node registers and
// every Lease is renewed (the renewals go out in batched transactions).
func TestManyNodes(t *testing.T) {
	const n = 300
	c := testcluster.Start(t, 3)
	cli := c.Client()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	stores := registry.NewStores(cli, registry.Config{})
	a := agent.New(cli, agent.Config{NodeName: "many", Nodes: n, HeartbeatInterval: 200 * time.Millisecond})
	startAgent(t, ctx, a)
	first := map[string]time.Time{}
	poll.Eventually(t, 40*time.Second, func() error {
		nodes, err := stores.Nodes.List(ctx, registry.ListOptions{})
		if err != nil {
			return err
		}
		ready := 0
		for _, node := range nodes.Items {
			if readyStatus(node) == api.ConditionTrue {
				ready++
			}
		}
		if ready != n {
			return fmt.Errorf("%d ready nodes, want %d", ready, n)
		}
		leases, err := stores.Leases.List(ctx, registry.ListOptions{Namespace: agent.NodeLeaseNamespace})
		if err != nil {
			return err
		}
		renewed := 0
		for _, l := range leases.Items {
			rt := l.Spec.RenewTime.Time
			if f, ok := first[l.Name]; !ok {
				first[l.Name] = rt
			} else if rt.After(f) {
				renewed++
			}
		}
		if renewed != n {
			return fmt.Errorf("%d of %d leases renewed since first seen", renewed, n)
		}
		return nil
	})
}
