package orche2e_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keeldb/keel/orchestrator/api"
	"github.com/keeldb/keel/orchestrator/labels"
	"github.com/keeldb/keel/orchestrator/registry"
)

// rcManifest is the guestbook-style ReplicationController, as plain Kubernetes YAML.
const rcManifest = `apiVersion: v1
kind: ReplicationController
metadata:
  name: guestbook
spec:
  replicas: 3
  template:
    metadata:
      labels: {app: guestbook}
    spec:
      terminationGracePeriodSeconds: 2
      containers:
      - name: web
        image: keel/hello:1
        command: ["orch", "hello-server", "--listen", "$(POD_IP):8080"]
        env:
        - name: POD_IP
          valueFrom: {fieldRef: {fieldPath: status.podIP}}
`

// burnManifest is a Deployment whose pods request 100m cpu and burn 200m while BURNFILE
// exists, and its autoscaler (min 1, max 3, cpu 50%) with a short scale-down window.
const burnManifest = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: burn
spec:
  replicas: 1
  selector:
    matchLabels: {app: burn}
  template:
    metadata:
      labels: {app: burn}
    spec:
      terminationGracePeriodSeconds: 2
      containers:
      - name: burn
        image: keel/hello:1
        command: ["orch", "hello-server", "--listen", "$(POD_IP):8080", "--burn-cpu-while-exists", "BURNFILE", "--burn-millicores", "200"]
        env:
        - name: POD_IP
          valueFrom: {fieldRef: {fieldPath: status.podIP}}
        resources:
          requests: {cpu: 100m, memory: 16Mi}
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: burn
spec:
  scaleTargetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: burn
  minReplicas: 1
  maxReplicas: 3
  metrics:
  - type: Resource
    resource:
      name: cpu
      target:
        type: Utilization
        averageUtilization: 50
  behavior:
    scaleDown:
      stabilizationWindowSeconds: 5
`

// TestReplicationAndAutoscaling runs keeld and orch processes (a scheduler, a
// controller-manager with a 2 s autoscaler period, two process-mode agents reporting
// metrics every 2 s): an RC keeps its 3 replicas when a pod is deleted and scales through
// ctl; an HPA scales a Deployment up while its pods burn cpu and back down once they stop.
func TestReplicationAndAutoscaling(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a whole cluster of processes")
	}
	s := newSystem(t)
	s.start("s1", "scheduler", "--id", "s1")
	s.start("cm1", "controller-manager", "--id", "cm1", "--horizontal-pod-autoscaler-sync-period", "2s")
	for i := 1; i <= 2; i++ {
		s.start(fmt.Sprintf("agent-n%d", i), "agent", "--runtime", "process", "--node", fmt.Sprintf("n%d", i),
			"--address", s.agentAddress(i), "--pod-cidr", fmt.Sprintf("127.%d.%d.0/24", s.net, 10+i),
			"--root-dir", s.agentRoot(i), "--metrics-interval", "2s")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	waitFor(t, ctx, "2 nodes Ready", 60*time.Second, func() error { return s.nodesReady(ctx, 2) })

	t.Run("replication controller", func(t *testing.T) { s.replicationController(t, ctx) })
	t.Run("autoscaling", func(t *testing.T) { s.autoscaling(t, ctx) })
}

// runningPods returns the Running, Ready pods labelled app=app (not being deleted).
func (s *system) runningPods(ctx context.Context, app string) ([]*api.Pod, error) {
	l, err := s.stores.Pods.List(ctx, registry.ListOptions{Namespace: "default",
		Selector: labels.SelectorFromSet(map[string]string{"app": app})})
	if err != nil {
		return nil, err
	}
	var out []*api.Pod
	for _, p := range l.Items {
		if p.DeletionTimestamp == nil && p.Status.Phase == api.PodRunning && podReady(p) {
			out = append(out, p)
		}
	}
	return out, nil
}

func (s *system) countPods(ctx context.Context, app string, want int) error {
	l, err := s.stores.Pods.List(ctx, registry.ListOptions{Namespace: "default",
		Selector: labels.SelectorFromSet(map[string]string{"app": app})})
	if err != nil {
		return err
	}
	ready, _ := s.runningPods(ctx, app)
	if len(l.Items) != want || len(ready) != want {
		return fmt.Errorf("%d pods, %d Running and Ready, want %d", len(l.Items), len(ready), want)
	}
	return nil
}

func (s *system) replicationController(t *testing.T, ctx context.Context) {
	f := filepath.Join(t.TempDir(), "rc.yaml")
	if err := writeFile(f, rcManifest); err != nil {
		t.Fatal(err)
	}
	s.mustCtl("apply", "-f", f)
	waitFor(t, ctx, "3 guestbook pods Running", 60*time.Second, func() error { return s.countPods(ctx, "guestbook", 3) })
	pods, err := s.runningPods(ctx, "guestbook")
	if err != nil {
		t.Fatal(err)
	}
	if ref := pods[0].ControllerRef(); ref == nil || ref.Kind != "ReplicationController" || ref.Name != "guestbook" {
		t.Fatalf("pod %s controller %+v, want ReplicationController guestbook", pods[0].Name, ref)
	}
	victim := pods[0].Name
	s.mustCtl("delete", "pod", victim)
	waitFor(t, ctx, "the deleted pod replaced", 60*time.Second, func() error {
		ps, err := s.runningPods(ctx, "guestbook")
		if err != nil {
			return err
		}
		for _, p := range ps {
			if p.Name == victim {
				return fmt.Errorf("%s still there", victim)
			}
		}
		return s.countPods(ctx, "guestbook", 3)
	})
	out := s.mustCtl("get", "rc")
	if fields := strings.Fields(out); len(fields) < 9 || strings.Join(fields[:5], " ") != "NAME DESIRED CURRENT READY AGE" ||
		strings.Join(fields[5:8], " ") != "guestbook 3 3" {
		t.Errorf("get rc:\n%s", out)
	}
	if out := s.mustCtl("scale", "rc/guestbook", "--replicas", "2"); !strings.Contains(out, "replicationcontroller/guestbook scaled") {
		t.Errorf("scale: %q", out)
	}
	waitFor(t, ctx, "2 guestbook pods", 60*time.Second, func() error { return s.countPods(ctx, "guestbook", 2) })
	desc := s.mustCtl("describe", "rc", "guestbook")
	for _, want := range []string{"Selector:", "app=guestbook", "Replicas:", "2 current / 2 desired", "Pod Template:"} {
		if !strings.Contains(desc, want) {
			t.Errorf("describe rc lacks %q:\n%s", want, desc)
		}
	}
	s.mustCtl("delete", "rc", "guestbook")
	waitFor(t, ctx, "the RC's pods deleted with it", 60*time.Second, func() error {
		l, err := s.stores.Pods.List(ctx, registry.ListOptions{Namespace: "default",
			Selector: labels.SelectorFromSet(map[string]string{"app": "guestbook"})})
		if err != nil {
			return err
		}
		if len(l.Items) > 0 {
			return fmt.Errorf("%d pods left", len(l.Items))
		}
		return nil
	})
}

func (s *system) deploymentReplicas(ctx context.Context, name string) (int32, error) {
	d, err := s.stores.Deployments.Get(ctx, "default", name)
	if err != nil {
		return 0, err
	}
	return *d.Spec.Replicas, nil
}

func (s *system) autoscaling(t *testing.T, ctx context.Context) {
	burnFile := filepath.Join(s.dir, "burn-on")
	f := filepath.Join(t.TempDir(), "burn.yaml")
	if err := writeFile(f, strings.ReplaceAll(burnManifest, "BURNFILE", burnFile)); err != nil {
		t.Fatal(err)
	}
	s.mustCtl("apply", "-f", f)
	hpas := registry.New[api.HorizontalPodAutoscaler](s.cli, registry.Config{})
	waitFor(t, ctx, "1 burn pod Running", 60*time.Second, func() error { return s.countPods(ctx, "burn", 1) })
	// Idle: metrics flow, the autoscaler computes a utilization and keeps 1 replica.
	waitFor(t, ctx, "the autoscaler measures the idle pod", 60*time.Second, func() error {
		h, err := hpas.Get(ctx, "default", "burn")
		if err != nil {
			return err
		}
		if len(h.Status.CurrentMetrics) == 0 || h.Status.CurrentMetrics[0].Resource == nil ||
			h.Status.CurrentMetrics[0].Resource.Current.AverageUtilization == nil {
			return fmt.Errorf("no current metrics yet: conditions %+v", h.Status.Conditions)
		}
		return nil
	})
	if n, err := s.deploymentReplicas(ctx, "burn"); err != nil || n != 1 {
		t.Errorf("idle deployment replicas %d (%v), want 1", n, err)
	}
	if out := s.mustCtl("top", "pods", "-l", "app=burn"); !strings.Contains(out, "CPU(cores)") || !strings.Contains(out, "burn-") {
		t.Errorf("top pods:\n%s", out)
	}
	if out := s.mustCtl("top", "nodes"); !strings.Contains(out, "MEMORY%") || !strings.Contains(out, "n1") {
		t.Errorf("top nodes:\n%s", out)
	}

	// Burn: 200m per pod against 100m requests and a 50% target → maxReplicas (3).
	if err := writeFile(burnFile, "on"); err != nil {
		t.Fatal(err)
	}
	up := waitFor(t, ctx, "scale-up to 3 while burning", 90*time.Second, func() error {
		n, err := s.deploymentReplicas(ctx, "burn")
		if err != nil {
			return err
		}
		if n != 3 {
			return fmt.Errorf("deployment replicas %d, want 3", n)
		}
		return s.countPods(ctx, "burn", 3)
	})
	t.Logf("scaled up to 3 in %v", up.Round(time.Second))
	out := s.mustCtl("get", "hpa")
	if f := strings.Fields(out); len(f) < 13 || strings.Join(f[:7], " ") != "NAME REFERENCE TARGETS MINPODS MAXPODS REPLICAS AGE" ||
		f[7] != "burn" || f[8] != "Deployment/burn" || f[9] != "cpu:" || !strings.HasSuffix(f[10], "/50%") || f[11] != "1" || f[12] != "3" {
		t.Errorf("get hpa:\n%s", out)
	}
	desc := s.mustCtl("describe", "hpa", "burn")
	for _, want := range []string{"Reference:", "Deployment/burn", "resource cpu on pods  (as a percentage of request):",
		"Min replicas:", "Max replicas:", "AbleToScale", "ScalingActive", "ValidMetricFound", "SuccessfulRescale"} {
		if !strings.Contains(desc, want) {
			t.Errorf("describe hpa lacks %q:\n%s", want, desc)
		}
	}

	// Stop burning: back to minReplicas after the 5 s stabilization window.
	if err := os.Remove(burnFile); err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	down := waitFor(t, ctx, "scale-down to 1 after the burn", 90*time.Second, func() error {
		n, err := s.deploymentReplicas(ctx, "burn")
		if err != nil {
			return err
		}
		if n != 1 {
			return fmt.Errorf("deployment replicas %d, want 1", n)
		}
		return nil
	})
	t.Logf("scaled down to 1 in %v", down.Round(time.Second))
	waitFor(t, ctx, "the autoscaler's status after the scale-down", 30*time.Second, func() error {
		h, err := hpas.Get(ctx, "default", "burn")
		if err != nil {
			return err
		}
		if h.Status.LastScaleTime == nil || h.Status.DesiredReplicas != 1 || h.Status.CurrentReplicas != 1 {
			return fmt.Errorf("status %+v, want current and desired replicas 1 and a lastScaleTime", h.Status)
		}
		return nil
	})
}
