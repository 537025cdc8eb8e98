package podautoscaler_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/keeldb/keel/internal/testcluster"
	"github.com/keeldb/keel/orchestrator/api"
	"github.com/keeldb/keel/orchestrator/controller/podautoscaler"
	"github.com/keeldb/keel/orchestrator/internal/poll"
	"github.com/keeldb/keel/orchestrator/registry"
)

// TestController: an autoscaler on a ReplicaSet (whose pods and metrics the test writes, as
// the ReplicaSet controller and agents would) scales it to maxReplicas at 4× its cpu
// target and reports status; a behavior-less rate limit and an unknown kind are visible.
func TestController(t *testing.T) {
	c := testcluster.Start(t, 1)
	cli := c.Client()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	st := registry.NewStores(cli, registry.Config{})
	hpas := registry.New[api.HorizontalPodAutoscaler](cli, registry.Config{})
	pms := registry.New[api.PodMetrics](cli, registry.Config{})

	two := int32(2)
	tmpl := api.PodTemplateSpec{ObjectMeta: api.ObjectMeta{Labels: map[string]string{"app": "burn"}},
		Spec: api.PodSpec{Containers: []api.Container{{Name: "c", Image: "x",
			Resources: api.ResourceRequirements{Requests: api.ResourceList{"cpu": "100m"}}}}}}
	if _, err := st.ReplicaSets.Create(ctx, &api.ReplicaSet{ObjectMeta: api.ObjectMeta{Name: "burn"},
		Spec: api.ReplicaSetSpec{Replicas: &two, Selector: &api.LabelSelector{MatchLabels: map[string]string{"app": "burn"}}, Template: tmpl}}); err != nil {
		t.Fatal(err)
	}
	start := api.NewTime(time.Now().Add(-10 * time.Minute))
	for i := range 2 {
		name := fmt.Sprintf("burn-%d", i)
		p := &api.Pod{ObjectMeta: api.ObjectMeta{Name: name, Labels: tmpl.Labels}, Spec: tmpl.Spec}
		p.Status = api.PodStatus{Phase: api.PodRunning, StartTime: &start,
			Conditions: []api.PodCondition{{Type: "Ready", Status: api.ConditionTrue, LastTransitionTime: start}}}
		if _, err := st.Pods.Create(ctx, p); err != nil {
			t.Fatal(err)
		}
		if _, err := pms.Create(ctx, &api.PodMetrics{ObjectMeta: api.ObjectMeta{Name: name, Labels: tmpl.Labels},
			Timestamp: api.NewTime(time.Now()), Window: "15s",
			Containers: []api.ContainerMetrics{{Name: "c", Usage: api.ResourceList{"cpu": "200m", "memory": "1Mi"}}}}); err != nil {
			t.Fatal(err)
		}
	}
	one, fifty := int32(1), int32(50)
	mk := func(name, kind string) *api.HorizontalPodAutoscaler {
		return &api.HorizontalPodAutoscaler{ObjectMeta: api.ObjectMeta{Name: name},
			Spec: api.HorizontalPodAutoscalerSpec{MinReplicas: &one, MaxReplicas: 5,
				ScaleTargetRef: api.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: kind, Name: "burn"},
				Metrics: []api.MetricSpec{{Type: "Resource", Resource: &api.ResourceMetricSource{Name: "cpu",
					Target: api.MetricTarget{Type: "Utilization", AverageUtilization: &fifty}}}}}}
	}
	for _, h := range []*api.HorizontalPodAutoscaler{mk("burn", "ReplicaSet"), mk("odd", "CronTab")} {
		if _, err := hpas.Create(ctx, h); err != nil {
			t.Fatal(err)
		}
	}

	cctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- podautoscaler.Run(cctx, cli, podautoscaler.Config{SyncPeriod: 200 * time.Millisecond})
	}()
	defer func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()

	poll.Eventually(t, 30*time.Second, func() error {
		rs, err := st.ReplicaSets.Get(ctx, "default", "burn")
		if err != nil {
			return err
		}
		if *rs.Spec.Replicas != 5 {
			return fmt.Errorf("replicas %d, want 5", *rs.Spec.Replicas)
		}
		h, err := hpas.Get(ctx, "default", "burn")
		if err != nil {
			return err
		}
		s := h.Status
		if s.LastScaleTime == nil || len(s.CurrentMetrics) != 1 || s.CurrentMetrics[0].Resource.Current.AverageUtilization == nil ||
			*s.CurrentMetrics[0].Resource.Current.AverageUtilization != 200 {
			return fmt.Errorf("status %+v", s)
		}
		return nil
	})
	poll.Eventually(t, 30*time.Second, func() error {
		h, err := hpas.Get(ctx, "default", "odd")
		if err != nil {
			return err
		}
		for _, c := range h.Status.Conditions {
			if c.Type == api.AbleToScale && c.Status == api.ConditionFalse && c.Reason == "FailedGetScale" {
				return nil
			}
		}
		return fmt.Errorf("conditions %+v, want AbleToScale False FailedGetScale", h.Status.Conditions)
	})
}
