package agent_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keeldb/keel/internal/testcluster"
	"github.com/keeldb/keel/orchestrator/agent"
	"github.com/keeldb/keel/orchestrator/api"
	"github.com/keeldb/keel/orchestrator/internal/poll"
	"github.com/keeldb/keel/orchestrator/registry"
	"github.com/keeldb/keel/orchestrator/scheduler"
)

// offsetClock is the wall clock plus an offset the test moves forward.
type offsetClock struct{ offset atomic.Int64 }

func (c *offsetClock) Now() time.Time          { return time.Now().Add(time.Duration(c.offset.Load())) }
func (c *offsetClock) Advance(d time.Duration) { c.offset.Add(int64(d)) }
func thresholds(t *testing.T, hard string) []agent.Threshold {
	t.Helper()
	m, err := agent.ParseEvictionMap(hard, '<')
	if err != nil {
		t.Fatal(err)
	}
	ths, err := agent.ParseThresholds(m, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return ths
}

func nodePressure(n *api.Node) (cond api.NodeCondition, tainted bool) {
	for _, c := range n.Status.Conditions {
		if c.Type == agent.NodeMemoryPressure {
			cond = c
		}
	}
	for _, tt := range n.Spec.Taints {
		if tt.Key == agent.TaintNodeMemoryPressure && tt.Effect == api.TaintNoSchedule {
			tainted = true
		}
	}
	return cond, tainted
}

// TestMemoryPressureEviction runs a sim node of 1Gi with memory.available<200Mi: a
// Guaranteed pod using 500Mi of its 512Mi and a BestEffort pod using 400Mi leave 124Mi, so
// the BestEffort pod is evicted, the node gets MemoryPressure and its taint (which the
// scheduler honors), and loses them once the pressure transition period has passed.
func TestMemoryPressureEviction(t *testing.T) {
	c := testcluster.Start(t, 1)
	cli := c.Client()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	stores := registry.NewStores(cli, registry.Config{})
	var clock offsetClock
	a := agent.New(cli, agent.Config{NodeName: "small", HeartbeatInterval: 100 * time.Millisecond, MetricsInterval: -1,
		Capacity: api.ResourceList{"cpu": "4", "memory": "1Gi", "pods": "110"}, Now: clock.Now,
		Eviction: agent.EvictionConfig{Thresholds: thresholds(t, "memory.available<200Mi"), Interval: 20 * time.Millisecond,
			PressureTransitionPeriod: time.Hour}})
	startAgent(t, ctx, a)

	node := func() *api.Node {
		t.Helper()
		n, err := stores.Nodes.Get(ctx, "", "small")
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	poll.Eventually(t, 20*time.Second, func() error {
		n, err := stores.Nodes.Get(ctx, "", "small")
		if err != nil {
			return err
		}
		if cond, tainted := nodePressure(n); cond.Status != api.ConditionFalse || cond.Reason != "KubeletHasSufficientMemory" || tainted {
			return fmt.Errorf("MemoryPressure %+v, tainted %v", cond, tainted)
		}
		return nil
	})

	mk := func(name string, simulated string, res api.ResourceList) {
		t.Helper()
		p := &api.Pod{ObjectMeta: api.ObjectMeta{Name: name, Annotations: map[string]string{agent.SimulatedMemoryAnnotation: simulated}},
			Spec: api.PodSpec{NodeName: "small", Containers: []api.Container{{Name: name, Image: "nginx",
				Resources: api.ResourceRequirements{Limits: res}}}}}
		if _, err := stores.Pods.Create(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	mk("db", "500Mi", api.ResourceList{"cpu": "100m", "memory": "512Mi"})
	mk("web", "400Mi", nil)

	pod := func(name string) *api.Pod {
		t.Helper()
		p, err := stores.Pods.Get(ctx, "default", name)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	if db, web := pod("db"), pod("web"); db.Status.QOSClass != api.QOSGuaranteed || web.Status.QOSClass != api.QOSBestEffort {
		t.Fatalf("qos classes db %s web %s", db.Status.QOSClass, web.Status.QOSClass)
	}
	wantMsg := "The node was low on resource: memory. Threshold quantity: 200Mi, available: 124Mi. " +
		"Container web was using 400Mi, request is 0, has larger consumption of memory. "
	poll.Eventually(t, 20*time.Second, func() error {
		p := pod("web")
		if p.Status.Phase != api.PodFailed {
			return fmt.Errorf("web is %s", p.Status.Phase)
		}
		if p.Status.Reason != agent.EvictedReason || p.Status.Message != wantMsg {
			return fmt.Errorf("web: reason %q message %q, want %q %q", p.Status.Reason, p.Status.Message, agent.EvictedReason, wantMsg)
		}
		return nil
	})
	n := node()
	if cond, tainted := nodePressure(n); cond.Status != api.ConditionTrue || cond.Reason != "KubeletHasInsufficientMemory" || !tainted {
		t.Errorf("under pressure: MemoryPressure %+v, tainted %v", cond, tainted)
	}
	poll.Eventually(t, 20*time.Second, func() error {
		evs, err := stores.Events.List(ctx, registry.ListOptions{Namespace: "default"})
		if err != nil {
			return err
		}
		for _, e := range evs.Items {
			if e.InvolvedObject.Name == "web" && e.Reason == agent.EvictedReason && e.Type == "Warning" && e.Message == wantMsg {
				return nil
			}
		}
		return errors.New("no Evicted event for web")
	})

	t.Run("the scheduler honors the taint", func(t *testing.T) {
		sctx, scancel := context.WithCancel(ctx)
		s := scheduler.New(cli, scheduler.Config{InitialBackoff: 100 * time.Millisecond, MaxBackoff: time.Second})
		done := make(chan error, 1)
		go func() { done <- s.Run(sctx) }()
		defer func() {
			scancel()
			if err := <-done; err != nil {
				t.Errorf("scheduler: %v", err)
			}
		}()
		for _, name := range []string{"late", "tolerant"} {
			p := &api.Pod{ObjectMeta: api.ObjectMeta{Name: name}, Spec: api.PodSpec{Containers: []api.Container{{Name: "c", Image: "nginx"}}}}
			if name == "tolerant" {
				p.Spec.Tolerations = []api.Toleration{{Key: agent.TaintNodeMemoryPressure, Operator: "Exists", Effect: api.TaintNoSchedule}}
			}
			if _, err := stores.Pods.Create(ctx, p); err != nil {
				t.Fatal(err)
			}
		}
		poll.Eventually(t, 20*time.Second, func() error {
			if p := pod("tolerant"); p.Spec.NodeName != "small" || p.Status.Phase != api.PodRunning {
				return fmt.Errorf("tolerant pod on %q, %s", p.Spec.NodeName, p.Status.Phase)
			}
			for _, c := range pod("late").Status.Conditions {
				if c.Type == "PodScheduled" && c.Status == api.ConditionFalse &&
					strings.Contains(c.Message, "untolerated taint {node.kubernetes.io/memory-pressure: }") {
					return nil
				}
			}
			return fmt.Errorf("late pod: %+v", pod("late").Status.Conditions)
		})
		for _, name := range []string{"late", "tolerant"} {
			if _, err := stores.Pods.Delete(ctx, "default", name, registry.DeleteOptions{GracePeriodSeconds: registry.GracePeriod(0)}); err != nil {
				t.Fatal(err)
			}
		}
	})

	t.Run("pods new on the node are admitted as kubelet admits them under memory pressure", func(t *testing.T) {
		mk("direct-besteffort", "0", nil)
		mk("direct-burstable", "0", api.ResourceList{"memory": "64Mi"})
		poll.Eventually(t, 20*time.Second, func() error {
			be, bu := pod("direct-besteffort"), pod("direct-burstable")
			if be.Status.Phase != api.PodFailed || be.Status.Reason != agent.EvictedReason ||
				be.Status.Message != "The node had condition: [MemoryPressure]. " {
				return fmt.Errorf("BestEffort pod: %s %q %q", be.Status.Phase, be.Status.Reason, be.Status.Message)
			}
			if bu.Status.Phase != api.PodRunning {
				return fmt.Errorf("Burstable pod: %s", bu.Status.Phase)
			}
			return nil
		})
	})

	// The threshold is no longer met; MemoryPressure stays for the transition period.
	clock.Advance(time.Hour)
	poll.Eventually(t, 20*time.Second, func() error {
		n, err := stores.Nodes.Get(ctx, "", "small")
		if err != nil {
			return err
		}
		if cond, tainted := nodePressure(n); cond.Status != api.ConditionFalse || cond.Reason != "KubeletHasSufficientMemory" || tainted {
			return fmt.Errorf("after the transition period: MemoryPressure %+v, tainted %v", cond, tainted)
		}
		return nil
	})
	if db := pod("db"); db.Status.Phase != api.PodRunning || db.Status.Reason != "" {
		t.Errorf("the Guaranteed pod: phase %s reason %q", db.Status.Phase, db.Status.Reason)
	}
	if web := pod("web"); web.Status.Phase != api.PodFailed {
		t.Errorf("the evicted pod was restarted: %s", web.Status.Phase)
	}
}
