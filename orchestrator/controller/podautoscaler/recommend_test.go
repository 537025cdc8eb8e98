package podautoscaler

import (
	"fmt"
	"testing"
	"time"

	"github.com/keeldb/keel/orchestrator/api"
)

var now = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

// pod is a Running pod requesting 100m cpu, Ready since 10 minutes (past the cpu
// initialization period).
func pod(name string) *api.Pod {
	start := api.NewTime(now.Add(-10 * time.Minute))
	p := &api.Pod{ObjectMeta: api.ObjectMeta{Name: name, Namespace: "default"}}
	p.Spec.Containers = []api.Container{{Name: "c", Resources: api.ResourceRequirements{Requests: api.ResourceList{"cpu": "100m", "memory": "100Mi"}}}}
	p.Status.Phase = api.PodRunning
	p.Status.StartTime = &start
	p.Status.Conditions = []api.PodCondition{{Type: "Ready", Status: api.ConditionTrue, LastTransitionTime: start}}
	return p
}

func pending(name string) *api.Pod {
	p := pod(name)
	p.Status.Phase = api.PodPending
	p.Status.Conditions = nil
	return p
}

// usage builds pods p0..p(n-1) with the given cpu usages in millicores; a negative usage
// means the pod has no metrics.
func usage(cpu ...int) ([]*api.Pod, map[string]*api.PodMetrics) {
	var pods []*api.Pod
	metrics := map[string]*api.PodMetrics{}
	for i, u := range cpu {
		name := fmt.Sprintf("p%d", i)
		pods = append(pods, pod(name))
		if u >= 0 {
			metrics[name] = &api.PodMetrics{ObjectMeta: api.ObjectMeta{Name: name}, Timestamp: api.NewTime(now), Window: "15s",
				Containers: []api.ContainerMetrics{{Name: "c", Usage: api.ResourceList{"cpu": api.Quantity(fmt.Sprintf("%dm", u)), "memory": "50Mi"}}}}
		}
	}
	return pods, metrics
}

func hpa(minR, maxR, cpuPercent int32, b *api.HorizontalPodAutoscalerBehavior) *api.HorizontalPodAutoscaler {
	h := &api.HorizontalPodAutoscaler{ObjectMeta: api.ObjectMeta{Name: "h", Namespace: "default"},
		Spec: api.HorizontalPodAutoscalerSpec{MinReplicas: &minR, MaxReplicas: maxR, Behavior: b,
			ScaleTargetRef: api.CrossVersionObjectReference{Kind: "Deployment", Name: "web"},
			Metrics: []api.MetricSpec{{Type: "Resource", Resource: &api.ResourceMetricSource{Name: "cpu",
				Target: api.MetricTarget{Type: "Utilization", AverageUtilization: &cpuPercent}}}}}}
	return h
}

func i32(v int32) *int32   { return &v }
func str(v string) *string { return &v }

// noWindow is a behavior without stabilization, so a case sees the calculator alone.
func noWindow() *api.HorizontalPodAutoscalerBehavior {
	return &api.HorizontalPodAutoscalerBehavior{
		ScaleUp:   &api.HPAScalingRules{StabilizationWindowSeconds: i32(0), SelectPolicy: str("Max"), Policies: []api.HPAScalingPolicy{{Type: "Percent", Value: 1000, PeriodSeconds: 15}}},
		ScaleDown: &api.HPAScalingRules{StabilizationWindowSeconds: i32(0), SelectPolicy: str("Max"), Policies: []api.HPAScalingPolicy{{Type: "Percent", Value: 100, PeriodSeconds: 15}}},
	}
}

func cond(d Decision, typ string) Condition {
	for _, c := range d.Conditions {
		if c.Type == typ {
			return c
		}
	}
	return Condition{}
}

// TestReplicaCalculation: desired = ceil(current × usage / target), with the tolerance
// and the missing-metrics and readiness rules of Kubernetes' documentation
// ("Algorithm details", kubernetes.io/docs/tasks/run-application/horizontal-pod-autoscale).
func TestReplicaCalculation(t *testing.T) {
	for _, tc := range []struct {
		name     string
		cpu      []int // per pod, -1 = no metrics
		extra    []*api.Pod
		target   int32
		replicas int32
		want     int32
		wantUtil int32
	}{
		// "if the current metric value is 200m, and the desired value is 100m, the number
		// of replicas will be doubled"
		{"double at twice the target", []int{200, 200}, nil, 100, 2, 4, 200},
		// "If the current value is instead 50m, you'll halve the number of replicas"
		{"halve at half the target", []int{50, 50, 50, 50}, nil, 100, 4, 2, 50},
		{"ratio within the 10% tolerance", []int{54, 54, 54}, nil, 50, 3, 3, 54},
		{"ratio just outside the tolerance", []int{56, 56, 56, 56, 56, 56, 56, 56, 56, 56}, nil, 50, 10, 12, 56},
		{"rounds up", []int{60, 60, 60}, nil, 50, 3, 4, 60},
		// Scale-down: pods without metrics count as using 100% of their request; here
		// that reverses the scale, so nothing changes.
		{"missing metrics on scale-down assume 100%", []int{20, 20, -1}, nil, 50, 3, 3, 20},
		{"missing metrics on scale-down still allow it", []int{10, 10, 10, 10, -1}, nil, 50, 5, 3, 10},
		// Scale-up: pods without metrics count as using 0.
		{"missing metrics on scale-up assume 0%", []int{100, 100, -1}, nil, 50, 3, 4, 100},
		// Pods not yet ready count as using 0 on a scale-up.
		{"unready pods on scale-up assume 0%", []int{100, 100}, []*api.Pod{pending("q0")}, 50, 3, 4, 100},
		// Unready pods are left out of a scale-down.
		{"unready pods ignored on scale-down", []int{10, 10}, []*api.Pod{pending("q0")}, 50, 3, 1, 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pods, metrics := usage(tc.cpu...)
			pods = append(pods, tc.extra...)
			h := hpa(1, 100, tc.target, noWindow())
			d := Recommend(Input{HPA: h, Replicas: tc.replicas, Pods: pods, Metrics: metrics, Now: now}, &History{}, Config{})
			if d.Err != nil {
				t.Fatalf("error %v", d.Err)
			}
			if d.Desired != tc.want {
				t.Errorf("desired %d, want %d (conditions %+v)", d.Desired, tc.want, d.Conditions)
			}
			if u := d.Metrics[0].Resource.Current.AverageUtilization; u == nil || *u != tc.wantUtil {
				t.Errorf("current utilization %d, want %d", *u, tc.wantUtil)
			}
			if c := cond(d, api.ScalingActive); c.Status != api.ConditionTrue || c.Reason != "ValidMetricFound" {
				t.Errorf("ScalingActive %+v", c)
			}
		})
	}
}

func TestRecommendLimits(t *testing.T) {
	scaleDownPods := func(window int32, policies ...api.HPAScalingPolicy) *api.HorizontalPodAutoscalerBehavior {
		b := noWindow()
		b.ScaleDown = &api.HPAScalingRules{StabilizationWindowSeconds: &window, SelectPolicy: str("Max"), Policies: policies}
		return b
	}
	for _, tc := range []struct {
		name        string
		hpa         *api.HorizontalPodAutoscaler
		cpu         []int
		replicas    int32
		history     History
		want        int32
		wantLimited string // ScalingLimited reason
		wantAble    string // AbleToScale reason
	}{
		{"capped at maxReplicas", hpa(1, 5, 50, noWindow()), []int{500, 500}, 2, History{}, 5, "TooManyReplicas", "ReadyForNewScale"},
		{"floored at minReplicas", hpa(2, 5, 50, noWindow()), []int{1, 1, 1}, 3, History{}, 2, "TooFewReplicas", "ReadyForNewScale"},
		// Default scale-up: the larger of +100% and +4 pods per 15 s.
		{"default scale-up rate", hpa(1, 100, 50, nil), []int{1000}, 1, History{}, 5, "ScaleUpLimit", "ReadyForNewScale"},
		{"default scale-up rate, large", hpa(1, 100, 50, nil), []int{1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000}, 10, History{}, 20, "ScaleUpLimit", "ReadyForNewScale"},
		{"scale-up select Min", hpa(1, 100, 50, &api.HorizontalPodAutoscalerBehavior{ScaleUp: &api.HPAScalingRules{SelectPolicy: str("Min"),
			Policies: []api.HPAScalingPolicy{{Type: "Percent", Value: 100, PeriodSeconds: 15}, {Type: "Pods", Value: 4, PeriodSeconds: 15}}}}),
			[]int{1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000}, 10, History{}, 14, "ScaleUpLimit", "ReadyForNewScale"},
		{"scale-up counts this period's scale-ups", hpa(1, 100, 50, nil), []int{1000, 1000, 1000, 1000, 1000},
			5, History{ScaleUps: []ScaleEvent{{Change: 4, At: now.Add(-5 * time.Second)}}}, 5, "ScaleUpLimit", "ReadyForNewScale"},
		{"scale-up disabled", hpa(1, 100, 50, &api.HorizontalPodAutoscalerBehavior{ScaleUp: &api.HPAScalingRules{SelectPolicy: str("Disabled")}}),
			[]int{1000}, 1, History{}, 1, "ScaleUpLimit", "ReadyForNewScale"},
		// The stabilization window keeps the highest recommendation of the last 300 s.
		{"scale-down stabilized", hpa(1, 10, 50, scaleDownPods(300, api.HPAScalingPolicy{Type: "Percent", Value: 100, PeriodSeconds: 15})),
			[]int{5, 5, 5, 5}, 4, History{Recommendations: []Recommendation{{Replicas: 4, At: now.Add(-100 * time.Second)}}}, 4, "DesiredWithinRange", "ScaleDownStabilized"},
		{"scale-down after the window", hpa(1, 10, 50, scaleDownPods(300, api.HPAScalingPolicy{Type: "Percent", Value: 100, PeriodSeconds: 15})),
			[]int{5, 5, 5, 5}, 4, History{Recommendations: []Recommendation{{Replicas: 4, At: now.Add(-400 * time.Second)}}}, 1, "DesiredWithinRange", "ReadyForNewScale"},
		{"window keeps the highest of several", hpa(1, 10, 50, scaleDownPods(300, api.HPAScalingPolicy{Type: "Percent", Value: 100, PeriodSeconds: 15})),
			[]int{5, 5, 5, 5}, 4, History{Recommendations: []Recommendation{{Replicas: 3, At: now.Add(-100 * time.Second)},
				{Replicas: 2, At: now.Add(-50 * time.Second)}, {Replicas: 4, At: now.Add(-400 * time.Second)}}}, 3, "DesiredWithinRange", "ScaleDownStabilized"},
		// A fresh history is seeded with the current count: no scale-down at once.
		{"fresh history does not scale down", hpa(1, 10, 50, nil), []int{5, 5, 5, 5}, 4, History{}, 4, "DesiredWithinRange", "ScaleDownStabilized"},
		{"scale-down by one pod per minute", hpa(1, 10, 50, scaleDownPods(0, api.HPAScalingPolicy{Type: "Pods", Value: 1, PeriodSeconds: 60})),
			[]int{5, 5, 5, 5}, 4, History{}, 3, "ScaleDownLimit", "ReadyForNewScale"},
		{"scale-down policy counts this period's scale-downs", hpa(1, 10, 50, scaleDownPods(0, api.HPAScalingPolicy{Type: "Pods", Value: 1, PeriodSeconds: 60})),
			[]int{5, 5, 5, 5}, 4, History{ScaleDowns: []ScaleEvent{{Change: 1, At: now.Add(-30 * time.Second)}}}, 4, "ScaleDownLimit", "ReadyForNewScale"},
		{"scale-down percent policy", hpa(1, 10, 50, scaleDownPods(0, api.HPAScalingPolicy{Type: "Percent", Value: 50, PeriodSeconds: 60})),
			[]int{5, 5, 5, 5, 5, 5, 5, 5, 5, 5}, 10, History{}, 5, "ScaleDownLimit", "ReadyForNewScale"},
		{"scale-down select Min", hpa(1, 10, 50, scaleDownPods(0, api.HPAScalingPolicy{Type: "Percent", Value: 50, PeriodSeconds: 60},
			api.HPAScalingPolicy{Type: "Pods", Value: 2, PeriodSeconds: 60})),
			[]int{5, 5, 5, 5, 5, 5, 5, 5, 5, 5}, 10, History{}, 5, "ScaleDownLimit", "ReadyForNewScale"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.name == "scale-down select Min" {
				tc.hpa.Spec.Behavior.ScaleDown.SelectPolicy = str("Min")
				tc.want = 8
			}
			pods, metrics := usage(tc.cpu...)
			h := tc.history
			d := Recommend(Input{HPA: tc.hpa, Replicas: tc.replicas, Pods: pods, Metrics: metrics, Now: now}, &h, Config{})
			if d.Err != nil {
				t.Fatalf("error %v", d.Err)
			}
			if d.Desired != tc.want || d.Rescale != (tc.want != tc.replicas) {
				t.Errorf("desired %d rescale %v, want %d", d.Desired, d.Rescale, tc.want)
			}
			if c := cond(d, api.ScalingLimited); c.Reason != tc.wantLimited {
				t.Errorf("ScalingLimited %+v, want reason %s", c, tc.wantLimited)
			}
			if c := cond(d, api.AbleToScale); c.Reason != tc.wantAble {
				t.Errorf("AbleToScale %+v, want reason %s", c, tc.wantAble)
			}
		})
	}
}

func TestRecommendOutOfRangeAndErrors(t *testing.T) {
	t.Run("above maxReplicas", func(t *testing.T) {
		pods, metrics := usage(50, 50, 50, 50, 50, 50)
		d := Recommend(Input{HPA: hpa(1, 3, 50, nil), Replicas: 6, Pods: pods, Metrics: metrics, Now: now}, &History{}, Config{})
		if d.Desired != 3 || !d.Rescale {
			t.Errorf("desired %d, want 3", d.Desired)
		}
	})
	t.Run("below minReplicas", func(t *testing.T) {
		pods, metrics := usage(0)
		d := Recommend(Input{HPA: hpa(2, 3, 50, nil), Replicas: 1, Pods: pods, Metrics: metrics, Now: now}, &History{}, Config{})
		if d.Desired != 2 || !d.Rescale {
			t.Errorf("desired %d, want 2", d.Desired)
		}
	})
	t.Run("target scaled to zero", func(t *testing.T) {
		d := Recommend(Input{HPA: hpa(1, 3, 50, nil), Replicas: 0, Now: now}, &History{}, Config{})
		if d.Rescale || cond(d, api.ScalingActive).Reason != "ScalingDisabled" {
			t.Errorf("decision %+v, want ScalingDisabled", d)
		}
	})
	t.Run("no metrics", func(t *testing.T) {
		pods, metrics := usage(-1, -1)
		d := Recommend(Input{HPA: hpa(1, 3, 50, nil), Replicas: 2, Pods: pods, Metrics: metrics, Now: now}, &History{}, Config{})
		if d.Err == nil || d.Rescale || d.Desired != 2 || cond(d, api.ScalingActive).Reason != "FailedGetResourceMetric" {
			t.Errorf("decision %+v, want FailedGetResourceMetric", d)
		}
	})
	t.Run("missing request", func(t *testing.T) {
		pods, metrics := usage(50)
		pods[0].Spec.Containers[0].Resources.Requests = nil
		d := Recommend(Input{HPA: hpa(1, 3, 50, nil), Replicas: 1, Pods: pods, Metrics: metrics, Now: now}, &History{}, Config{})
		if d.Err == nil || d.Rescale {
			t.Errorf("decision %+v, want an error about the missing request", d)
		}
	})
	t.Run("memory average value", func(t *testing.T) {
		pods, metrics := usage(10, 10)
		h := hpa(1, 10, 50, noWindow())
		q := api.Quantity("25Mi")
		h.Spec.Metrics = []api.MetricSpec{{Type: "Resource", Resource: &api.ResourceMetricSource{Name: "memory",
			Target: api.MetricTarget{Type: "AverageValue", AverageValue: &q}}}}
		d := Recommend(Input{HPA: h, Replicas: 2, Pods: pods, Metrics: metrics, Now: now}, &History{}, Config{})
		if d.Err != nil || d.Desired != 4 {
			t.Errorf("desired %d (err %v), want 4 at 50Mi per pod against 25Mi", d.Desired, d.Err)
		}
	})
	t.Run("largest metric wins", func(t *testing.T) {
		pods, metrics := usage(10, 10)
		h := hpa(1, 10, 50, noWindow())
		q := api.Quantity("25Mi")
		h.Spec.Metrics = append(h.Spec.Metrics, api.MetricSpec{Type: "Resource", Resource: &api.ResourceMetricSource{Name: "memory",
			Target: api.MetricTarget{Type: "AverageValue", AverageValue: &q}}})
		d := Recommend(Input{HPA: h, Replicas: 2, Pods: pods, Metrics: metrics, Now: now}, &History{}, Config{})
		if d.Desired != 4 || len(d.Metrics) != 2 {
			t.Errorf("desired %d with %d metric statuses, want 4 from memory", d.Desired, len(d.Metrics))
		}
	})
	t.Run("newly started pod's cpu is not trusted before a full window", func(t *testing.T) {
		pods, metrics := usage(200, 200)
		// p1 started 1 min ago and became Ready 5 s before its sample: unready for cpu.
		start := api.NewTime(now.Add(-time.Minute))
		pods[1].Status.StartTime = &start
		pods[1].Status.Conditions[0].LastTransitionTime = api.NewTime(now.Add(-5 * time.Second))
		d := Recommend(Input{HPA: hpa(1, 10, 100, noWindow()), Replicas: 2, Pods: pods, Metrics: metrics, Now: now}, &History{}, Config{})
		// p0 at 200% of 100m; p1 counts as 0 on a scale-up: (200+0)/2 = 100% → no change.
		if d.Desired != 2 {
			t.Errorf("desired %d, want 2", d.Desired)
		}
	})
}

func TestRecordScale(t *testing.T) {
	var h History
	h.RecordScale(nil, 1, 3, now.Add(-time.Minute))
	h.RecordScale(nil, 3, 5, now)
	h.RecordScale(nil, 5, 4, now)
	// Default scale-up policies have 15 s periods: the minute-old event is pruned.
	if len(h.ScaleUps) != 1 || h.ScaleUps[0].Change != 2 || len(h.ScaleDowns) != 1 || h.ScaleDowns[0].Change != 1 {
		t.Errorf("history %+v", h)
	}
}
