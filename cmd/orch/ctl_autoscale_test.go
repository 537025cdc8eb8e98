package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/keeldb/keel/internal/testcluster"
	"github.com/keeldb/keel/orchestrator/api"
	"github.com/keeldb/keel/orchestrator/registry"
)

const rcManifest = `apiVersion: v1
kind: ReplicationController
metadata:
  name: frontend
spec:
  replicas: 3
  template:
    metadata:
      labels: {app: guestbook, tier: frontend}
    spec:
      containers:
      - name: php-redis
        image: gb-frontend:v4
        resources:
          requests: {cpu: 100m}
`

// TestCtlAutoscaling: rc through apply, get, scale and describe; autoscale creates the
// HPA kubectl would; get and describe hpa show its status; top reads the metrics.
func TestCtlAutoscaling(t *testing.T) {
	c := testcluster.Start(t, 1)
	cli := c.Client()
	o := &orch{t: t, endpoints: strings.Join(c.Endpoints(), ","), dir: t.TempDir()}
	ctx := context.Background()

	wantLines(t, o.ok("ctl", "apply", "-f", o.file("rc.yaml", rcManifest)), "replicationcontroller/frontend created")
	wantTable(t, o.ok("ctl", "get", "rc"), "NAME DESIRED CURRENT READY AGE", `frontend 3 0 0 \S+`)
	wantLines(t, o.ok("ctl", "scale", "rc/frontend", "--replicas", "5"), "replicationcontroller/frontend scaled")
	wantTable(t, o.ok("ctl", "get", "rc", "-o", "wide"), "NAME DESIRED CURRENT READY AGE CONTAINERS IMAGES SELECTOR",
		`frontend 5 0 0 \S+ php-redis gb-frontend:v4 app=guestbook,tier=frontend`)
	desc := o.ok("ctl", "describe", "rc", "frontend")
	for _, want := range []string{"Selector:", "app=guestbook,tier=frontend", "0 current / 5 desired", "Pod Template:"} {
		if !strings.Contains(desc, want) {
			t.Errorf("describe rc lacks %q:\n%s", want, desc)
		}
	}

	if _, _, err := o.run("ctl", "autoscale", "rc", "frontend"); err == nil {
		t.Error("autoscale without --max: no error")
	}
	if _, _, err := o.run("ctl", "autoscale", "service", "frontend", "--max", "3"); err == nil {
		t.Error("autoscale of a service: no error")
	}
	wantLines(t, o.ok("ctl", "autoscale", "rc", "frontend", "--cpu-percent=50", "--min=2", "--max=10"),
		"horizontalpodautoscaler.autoscaling/frontend autoscaled")
	hpas := registry.New[api.HorizontalPodAutoscaler](cli, registry.Config{})
	h, err := hpas.Get(ctx, "default", "frontend")
	if err != nil {
		t.Fatal(err)
	}
	if r := h.Spec.ScaleTargetRef; r.Kind != "ReplicationController" || r.APIVersion != "v1" || r.Name != "frontend" ||
		*h.Spec.MinReplicas != 2 || h.Spec.MaxReplicas != 10 || *h.Spec.Metrics[0].Resource.Target.AverageUtilization != 50 {
		t.Fatalf("spec %+v", h.Spec)
	}
	wantTable(t, o.ok("ctl", "get", "hpa"), "NAME REFERENCE TARGETS MINPODS MAXPODS REPLICAS AGE",
		`frontend ReplicationController/frontend cpu: <unknown>/50% 2 10 0 \S+`)

	// The controller's status, as it would write it.
	u, avg := int32(75), api.Quantity("75m")
	h.Status = api.HorizontalPodAutoscalerStatus{CurrentReplicas: 5, DesiredReplicas: 8,
		CurrentMetrics: []api.MetricStatus{{Type: "Resource", Resource: &api.ResourceMetricStatus{Name: "cpu",
			Current: api.MetricValueStatus{AverageUtilization: &u, AverageValue: &avg}}}},
		Conditions: []api.HorizontalPodAutoscalerCondition{{Type: "AbleToScale", Status: "True", Reason: "SucceededRescale",
			Message: "the HPA controller was able to update the target scale to 8"}}}
	if _, err := hpas.UpdateStatus(ctx, h); err != nil {
		t.Fatal(err)
	}
	wantTable(t, o.ok("ctl", "get", "hpa"), "NAME REFERENCE TARGETS MINPODS MAXPODS REPLICAS AGE",
		`frontend ReplicationController/frontend cpu: 75%/50% 2 10 5 \S+`)
	desc = o.ok("ctl", "describe", "hpa", "frontend")
	for _, want := range []string{"Reference:", "ReplicationController/frontend",
		"resource cpu on pods  (as a percentage of request):  75% (75m) / 50%", "Min replicas:", "2",
		"ReplicationController pods:", "5 current / 8 desired", "SucceededRescale"} {
		if !strings.Contains(desc, want) {
			t.Errorf("describe hpa lacks %q:\n%s", want, desc)
		}
	}

	if _, _, err := o.run("ctl", "top", "nodes"); err == nil {
		t.Error("top nodes without metrics: no error")
	}
	pms := registry.New[api.PodMetrics](cli, registry.Config{})
	nms := registry.New[api.NodeMetrics](cli, registry.Config{})
	now := api.NewTime(time.Now())
	for _, m := range []*api.PodMetrics{
		{ObjectMeta: api.ObjectMeta{Name: "a", Labels: map[string]string{"app": "x"}}, Timestamp: now, Window: "15s",
			Containers: []api.ContainerMetrics{{Name: "c", Usage: api.ResourceList{"cpu": "120m", "memory": "10240Ki"}},
				{Name: "d", Usage: api.ResourceList{"cpu": "5m", "memory": "1024Ki"}}}},
		{ObjectMeta: api.ObjectMeta{Name: "b"}, Timestamp: now, Window: "15s",
			Containers: []api.ContainerMetrics{{Name: "c", Usage: api.ResourceList{"cpu": "300m", "memory": "2Mi"}}}},
	} {
		if _, err := pms.Create(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := registry.NewStores(cli, registry.Config{}).Nodes.Create(ctx, &api.Node{ObjectMeta: api.ObjectMeta{Name: "n1"},
		Status: api.NodeStatus{Allocatable: api.ResourceList{"cpu": "4", "memory": "1Gi"}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := nms.Create(ctx, &api.NodeMetrics{ObjectMeta: api.ObjectMeta{Name: "n1"}, Timestamp: now, Window: "15s",
		Usage: api.ResourceList{"cpu": "1", "memory": "256Mi"}}); err != nil {
		t.Fatal(err)
	}
	wantTable(t, o.ok("ctl", "top", "pods"), "NAME CPU\\(cores\\) MEMORY\\(bytes\\)", "a 125m 11Mi", "b 300m 2Mi")
	wantTable(t, o.ok("ctl", "top", "pods", "--sort-by", "cpu", "-l", "app=x"), "NAME CPU\\(cores\\) MEMORY\\(bytes\\)", "a 125m 11Mi")
	wantTable(t, o.ok("ctl", "top", "nodes"), "NAME CPU\\(cores\\) CPU% MEMORY\\(bytes\\) MEMORY%", "n1 1000m 25% 256Mi 25%")
}
