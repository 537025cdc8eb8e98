package orche2e_test

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/keeldb/keel/orchestrator/api"
	"github.com/keeldb/keel/orchestrator/registry"
)

// daemonSetManifest is a DaemonSet as kubectl users write it: a node agent on every node.
const daemonSetManifest = `apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: node-agent
  labels: {app: node-agent}
spec:
  selector:
    matchLabels: {app: node-agent}
  template:
    metadata:
      labels: {app: node-agent}
    spec:
      terminationGracePeriodSeconds: 2
      containers:
      - name: agent
        image: keel/hello:1
        command: ["orch", "hello-server", "--listen", "$(POD_IP):8080"]
        env:
        - name: POD_IP
          valueFrom: {fieldRef: {fieldPath: status.podIP}}
        readinessProbe:
          httpGet: {path: /healthz, port: 8080}
          periodSeconds: 1
`

// TestSets runs keeld and orch processes (a scheduler, a controller-manager, process-mode
// agents) and walks a DaemonSet and a StatefulSet through what Kubernetes users rely on:
// one daemon pod per node, a new node getting its own, taints keeping daemons off
// (NoSchedule: not placed, a running pod stays; NoExecute: removed), the garbage collector
// removing a deleted DaemonSet's pods; then a StatefulSet's ordered start, stable names and
// ordered scale-down.
func TestSets(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a whole cluster of processes")
	}
	s := newSystem(t)
	s.start("s1", "scheduler", "--id", "s1")
	s.start("cm1", "controller-manager", "--id", "cm1")
	for i := 1; i <= 3; i++ {
		s.startAgent(i)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	waitFor(t, ctx, "3 nodes Ready", 60*time.Second, func() error { return s.nodesReady(ctx, 3) })
	rec := s.recordPods(ctx)

	s.applyManifest(t, "ds.yaml", daemonSetManifest)
	waitFor(t, ctx, "a ready daemon pod on each of n1, n2, n3", 60*time.Second, func() error {
		return s.daemonPodsOn(ctx, "n1", "n2", "n3")
	})
	waitFor(t, ctx, "DaemonSet status 3/3 ready", 30*time.Second, func() error {
		return s.daemonSetStatus(ctx, api.DaemonSetStatus{DesiredNumberScheduled: 3, CurrentNumberScheduled: 3, NumberReady: 3, UpdatedNumberScheduled: 3, NumberAvailable: 3})
	})
	t.Logf("get ds:\n%s", s.mustCtl("get", "ds"))
	if out := s.mustCtl("rollout", "status", "ds/node-agent"); !strings.Contains(out, `daemon set "node-agent" successfully rolled out`) {
		t.Errorf("rollout status ds/node-agent = %q", out)
	}

	s.startAgent(4)
	waitFor(t, ctx, "the 4th node gets its daemon pod", 60*time.Second, func() error {
		return s.daemonPodsOn(ctx, "n1", "n2", "n3", "n4")
	})

	// NoSchedule: the running pod stays, as in Kubernetes; once deleted it is not replaced.
	s.taintNode(ctx, "n4", api.Taint{Key: "dedicated", Value: "db", Effect: api.TaintNoSchedule})
	waitFor(t, ctx, "n4 counted misscheduled, its pod kept", 30*time.Second, func() error {
		return s.daemonSetStatus(ctx, api.DaemonSetStatus{DesiredNumberScheduled: 3, CurrentNumberScheduled: 3, NumberMisscheduled: 1, NumberReady: 3, UpdatedNumberScheduled: 3, NumberAvailable: 3})
	})
	if err := s.daemonPodsOn(ctx, "n1", "n2", "n3", "n4"); err != nil {
		t.Errorf("after a NoSchedule taint: %v", err)
	}
	for _, p := range s.daemonPods(ctx) {
		if p.Spec.NodeName == "n4" {
			s.mustCtl("delete", "pod", p.Name)
		}
	}
	waitFor(t, ctx, "n4's deleted daemon pod not replaced", 30*time.Second, func() error {
		return s.daemonSetStatus(ctx, api.DaemonSetStatus{DesiredNumberScheduled: 3, CurrentNumberScheduled: 3, NumberReady: 3, UpdatedNumberScheduled: 3, NumberAvailable: 3})
	})
	if err := s.daemonPodsOn(ctx, "n1", "n2", "n3"); err != nil {
		t.Errorf("after deleting n4's pod: %v", err)
	}

	// NoExecute: the running pod goes.
	s.taintNode(ctx, "n3", api.Taint{Key: "dedicated", Value: "db", Effect: api.TaintNoExecute})
	waitFor(t, ctx, "n3 loses its daemon pod to a NoExecute taint", 30*time.Second, func() error {
		return s.daemonPodsOn(ctx, "n1", "n2")
	})

	// The garbage collector removes a deleted DaemonSet's pods.
	s.mustCtl("delete", "ds", "node-agent")
	waitFor(t, ctx, "the DaemonSet's pods deleted", 30*time.Second, func() error {
		if ps := s.daemonPods(ctx); len(ps) > 0 {
			return fmt.Errorf("%d daemon pods left", len(ps))
		}
		return nil
	})
	for _, n := range []string{"n3", "n4"} {
		s.taintNode(ctx, n)
	}

	s.statefulSetPhase(ctx, t, rec)
}

// applyManifest writes doc to a file and applies it with `orch ctl apply -f`.
func (s *system) applyManifest(t *testing.T, name, doc string) {
	t.Helper()
	f := t.TempDir() + "/" + name
	if err := writeFile(f, doc); err != nil {
		t.Fatal(err)
	}
	s.mustCtl("apply", "-f", f)
}

// daemonPods returns the pods of the node-agent DaemonSet not being deleted.
func (s *system) daemonPods(ctx context.Context) []*api.Pod {
	l, err := s.stores.Pods.List(ctx, registry.ListOptions{Namespace: "default"})
	if err != nil {
		s.t.Fatal(err)
	}
	var out []*api.Pod
	for _, p := range l.Items {
		if p.Labels["app"] == "node-agent" && p.DeletionTimestamp == nil {
			out = append(out, p)
		}
	}
	return out
}

// daemonPodsOn checks there is exactly one Running, Ready daemon pod on each named node and
// none elsewhere.
func (s *system) daemonPodsOn(ctx context.Context, nodes ...string) error {
	var on []string
	for _, p := range s.daemonPods(ctx) {
		if p.Status.Phase != api.PodRunning || !podReady(p) {
			return fmt.Errorf("pod %s on %q is %s, ready %v", p.Name, p.Spec.NodeName, p.Status.Phase, podReady(p))
		}
		on = append(on, p.Spec.NodeName)
	}
	sort.Strings(on)
	if !slices.Equal(on, nodes) {
		return fmt.Errorf("daemon pods on %v, want %v", on, nodes)
	}
	return nil
}

func (s *system) daemonSetStatus(ctx context.Context, want api.DaemonSetStatus) error {
	ds, err := s.stores.DaemonSets.Get(ctx, "default", "node-agent")
	if err != nil {
		return err
	}
	want.ObservedGeneration = ds.Generation
	if ds.Status != want {
		return fmt.Errorf("status %+v, want %+v", ds.Status, want)
	}
	return nil
}

// taintNode sets node's taints (none clears them), as `kubectl taint` would.
func (s *system) taintNode(ctx context.Context, node string, taints ...api.Taint) {
	s.t.Helper()
	_, err := s.stores.Nodes.GuaranteedUpdate(ctx, "", node, func(n *api.Node) (*api.Node, error) {
		n.Spec.Taints = taints
		return n, nil
	})
	if err != nil {
		s.t.Fatalf("taint %s: %v", node, err)
	}
}

// statefulSetPhase is filled in with the StatefulSet controller.
func (s *system) statefulSetPhase(ctx context.Context, t *testing.T, rec *podRecorder) {}
