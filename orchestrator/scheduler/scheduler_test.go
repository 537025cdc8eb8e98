package scheduler_test

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/keeldb/keel/internal/testcluster"
	"github.com/keeldb/keel/orchestrator/api"
	"github.com/keeldb/keel/orchestrator/registry"
	"github.com/keeldb/keel/orchestrator/scheduler"
)

func eventually(t *testing.T, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 30s: %v", what, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

type env struct {
	t      *testing.T
	ctx    context.Context
	stores *registry.Stores
}

func (e *env) node(name string, lbls map[string]string, cpu string, taints ...api.Taint) {
	e.t.Helper()
	n := &api.Node{
		ObjectMeta: api.ObjectMeta{Name: name, Labels: lbls},
		Spec:       api.NodeSpec{Taints: taints},
	}
	created, err := e.stores.Nodes.Create(e.ctx, n)
	if err != nil {
		e.t.Fatal(err)
	}
	created.Status = api.NodeStatus{
		Allocatable: api.ResourceList{"cpu": api.Quantity(cpu), "memory": "8Gi", "pods": "110"},
		Conditions:  []api.NodeCondition{{Type: "Ready", Status: api.ConditionTrue}},
	}
	if _, err := e.stores.Nodes.UpdateStatus(e.ctx, created); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) pod(ns, name, cpu string, mutate func(*api.Pod)) {
	e.t.Helper()
	p := &api.Pod{
		ObjectMeta: api.ObjectMeta{Namespace: ns, Name: name},
		Spec: api.PodSpec{Containers: []api.Container{{Name: "c", Image: "busybox",
			Resources: api.ResourceRequirements{Requests: api.ResourceList{"cpu": api.Quantity(cpu)}}}}},
	}
	if mutate != nil {
		mutate(p)
	}
	if _, err := e.stores.Pods.Create(e.ctx, p); err != nil {
		e.t.Fatal(err)
	}
}

// bound waits until the pod is bound and returns its node; it checks PodScheduled=True.
func (e *env) bound(ns, name string) string {
	e.t.Helper()
	var node string
	eventually(e.t, "pod "+name+" bound", func() error {
		p, err := e.stores.Pods.Get(e.ctx, ns, name)
		if err != nil {
			return err
		}
		if p.Spec.NodeName == "" {
			return fmt.Errorf("unbound, conditions %+v", p.Status.Conditions)
		}
		if c := condition(p); c == nil || c.Status != api.ConditionTrue {
			return fmt.Errorf("bound to %s with PodScheduled %+v", p.Spec.NodeName, c)
		}
		node = p.Spec.NodeName
		return nil
	})
	return node
}

// unschedulable waits until the pod carries PodScheduled=False with a message containing
// want, and a FailedScheduling event, and checks it is still unbound.
func (e *env) unschedulable(ns, name, want string) {
	e.t.Helper()
	eventually(e.t, "pod "+name+" marked unschedulable", func() error {
		p, err := e.stores.Pods.Get(e.ctx, ns, name)
		if err != nil {
			return err
		}
		if p.Spec.NodeName != "" {
			e.t.Fatalf("pod %s bound to %s, want it pending", name, p.Spec.NodeName)
		}
		c := condition(p)
		if c == nil || c.Status != api.ConditionFalse || c.Reason != scheduler.ReasonUnschedulable || !strings.Contains(c.Message, want) {
			return fmt.Errorf("PodScheduled %+v, want False/Unschedulable with %q", c, want)
		}
		evs, err := e.stores.Events.List(e.ctx, registry.ListOptions{Namespace: ns})
		if err != nil {
			return err
		}
		for _, ev := range evs.Items {
			if ev.InvolvedObject.Name == name && ev.Reason == scheduler.ReasonFailedScheduling && strings.Contains(ev.Message, want) {
				return nil
			}
		}
		return errors.New("no FailedScheduling event")
	})
}

func condition(p *api.Pod) *api.PodCondition {
	for i := range p.Status.Conditions {
		if p.Status.Conditions[i].Type == scheduler.ConditionPodScheduled {
			return &p.Status.Conditions[i]
		}
	}
	return nil
}

func tolerateGPU(p *api.Pod) {
	p.Spec.Tolerations = []api.Toleration{{Key: "dedicated", Operator: "Equal", Value: "gpu", Effect: "NoSchedule"}}
}

func TestScheduler(t *testing.T) {
	c := testcluster.Start(t, 3)
	ctx, cancel := context.WithCancel(context.Background())
	e := &env{t: t, ctx: ctx, stores: registry.NewStores(c.Client(), registry.Config{})}
	e.node("n1", map[string]string{"zone": "a", "pool": "main", "disk": "ssd"}, "4")
	e.node("n2", map[string]string{"zone": "b", "pool": "main"}, "4")
	e.node("n3", map[string]string{"zone": "c", "pool": "main"}, "4", api.Taint{Key: "dedicated", Value: "gpu", Effect: "NoSchedule"})
	e.node("down", map[string]string{"zone": "d", "pool": "main"}, "64")
	if _, err := e.stores.Nodes.GuaranteedUpdate(ctx, "", "down", func(n *api.Node) (*api.Node, error) {
		n.Status.Conditions[0].Status = api.ConditionUnknown
		return n, nil
	}); err != nil {
		t.Fatal(err)
	}

	s := scheduler.New(c.Client(), scheduler.Config{InitialBackoff: 100 * time.Millisecond, MaxBackoff: time.Second})
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})

	t.Run("selector affinity and taints", func(t *testing.T) {
		e.t = t
		e.pod("sel", "ssd", "100m", func(p *api.Pod) { p.Spec.NodeSelector = map[string]string{"disk": "ssd"} })
		e.pod("sel", "zone-b", "100m", func(p *api.Pod) {
			p.Spec.Affinity = &api.Affinity{NodeAffinity: &api.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &api.NodeSelector{
				NodeSelectorTerms: []api.NodeSelectorTerm{
					{MatchExpressions: []api.NodeSelectorRequirement{{Key: "zone", Operator: "In", Values: []string{"x"}}}},
					{MatchExpressions: []api.NodeSelectorRequirement{{Key: "zone", Operator: "In", Values: []string{"b", "d"}}}},
				}}}}
		})
		e.pod("sel", "gpu", "100m", func(p *api.Pod) {
			p.Spec.NodeSelector = map[string]string{"zone": "c"}
			tolerateGPU(p)
		})
		e.pod("sel", "no-toleration", "100m", func(p *api.Pod) { p.Spec.NodeSelector = map[string]string{"zone": "c"} })
		e.pod("sel", "only-down", "100m", func(p *api.Pod) { p.Spec.NodeSelector = map[string]string{"zone": "d"} })
		for name, want := range map[string]string{"ssd": "n1", "zone-b": "n2", "gpu": "n3"} {
			if got := e.bound("sel", name); got != want {
				t.Errorf("pod %s on %s, want %s", name, got, want)
			}
		}
		e.unschedulable("sel", "no-toleration", "0/4 nodes are available: 1 node(s) had untolerated taint {dedicated: gpu}, 1 node(s) were not ready, 2 node(s) didn't match")
		e.unschedulable("sel", "only-down", "1 node(s) were not ready")
	})

	t.Run("replicas of one owner spread over three nodes", func(t *testing.T) {
		e.t = t
		yes := true
		owner := api.OwnerReference{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "web", UID: "rs-web-uid", Controller: &yes}
		for i := range 6 {
			e.pod("spread", fmt.Sprintf("web-%d", i), "100m", func(p *api.Pod) {
				p.OwnerReferences = []api.OwnerReference{owner}
				p.Spec.NodeSelector = map[string]string{"pool": "main"}
				tolerateGPU(p)
			})
		}
		perNode := map[string]int{}
		for i := range 6 {
			perNode[e.bound("spread", fmt.Sprintf("web-%d", i))]++
		}
		if len(perNode) != 3 || perNode["n1"] != 2 || perNode["n2"] != 2 || perNode["n3"] != 2 {
			t.Fatalf("replicas per node %v, want 2 on each of n1, n2, n3", perNode)
		}
	})

	t.Run("requests never overcommit a node", func(t *testing.T) {
		e.t = t
		// 3 nodes of 4 CPUs with at most 300m taken: two 1500m pods fit on each, not three.
		for i := range 7 {
			e.pod("big", fmt.Sprintf("big-%d", i), "1500m", func(p *api.Pod) {
				p.Spec.NodeSelector = map[string]string{"pool": "main"}
				tolerateGPU(p)
			})
		}
		pending := ""
		eventually(t, "six pods bound, one pending", func() error {
			l, err := e.stores.Pods.List(ctx, registry.ListOptions{Namespace: "big"})
			if err != nil {
				return err
			}
			var unbound []string
			perNode := map[string]int{}
			for _, p := range l.Items {
				if p.Spec.NodeName == "" {
					unbound = append(unbound, p.Name)
				} else {
					perNode[p.Spec.NodeName]++
				}
			}
			for n, k := range perNode {
				if k > 2 {
					t.Fatalf("%d pods of 1500m on %s (4 CPUs)", k, n)
				}
			}
			if len(unbound) != 1 {
				return fmt.Errorf("unbound %v, per node %v", unbound, perNode)
			}
			pending = unbound[0]
			return nil
		})
		e.unschedulable("big", pending, "3 Insufficient cpu")
		// Freeing a slot lets the pending pod in.
		var victim string
		for i := range 7 {
			if name := fmt.Sprintf("big-%d", i); name != pending {
				victim = name
				break
			}
		}
		// A terminating pod keeps its slot until it is gone; no agent runs here to remove
		// it, so it is removed at once (grace period 0), as its agent would once stopped.
		if _, err := e.stores.Pods.Delete(ctx, "big", victim, registry.DeleteOptions{GracePeriodSeconds: registry.GracePeriod(0)}); err != nil {
			t.Fatal(err)
		}
		e.bound("big", pending)
	})

	t.Run("pending until a node appears", func(t *testing.T) {
		e.t = t
		e.pod("late", "huge", "6", nil)
		e.unschedulable("late", "huge", "Insufficient cpu")
		e.node("n4", map[string]string{"zone": "e"}, "8")
		if got := e.bound("late", "huge"); got != "n4" {
			t.Fatalf("huge on %s, want n4", got)
		}
		p, err := e.stores.Pods.Get(ctx, "late", "huge")
		if err != nil {
			t.Fatal(err)
		}
		var types []string
		for _, c := range p.Status.Conditions {
			types = append(types, c.Type)
		}
		sort.Strings(types)
		if strings.Join(types, ",") != scheduler.ConditionPodScheduled {
			t.Fatalf("conditions %v, want only PodScheduled", types)
		}
	})
}
