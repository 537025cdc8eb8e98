package orche2e_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

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

	// A rolling update (maxUnavailable 1) replaces every daemon pod with the new template.
	s.applyManifest(t, "ds2.yaml", strings.Replace(daemonSetManifest, "keel/hello:1", "keel/hello:2", 1))
	if out := s.mustCtl("rollout", "status", "ds/node-agent", "--timeout", "60s"); !strings.Contains(out, `daemon set "node-agent" successfully rolled out`) {
		t.Errorf("rollout status ds/node-agent after an update = %q", out)
	}
	waitFor(t, ctx, "every daemon pod at keel/hello:2", 30*time.Second, func() error {
		if err := s.daemonPodsOn(ctx, "n1", "n2", "n3"); err != nil {
			return err
		}
		for _, p := range s.daemonPods(ctx) {
			if img := p.Spec.Containers[0].Image; img != "keel/hello:2" {
				return fmt.Errorf("pod %s runs %s", p.Name, img)
			}
		}
		return nil
	})

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

// statefulSetManifest is the Kubernetes docs' StatefulSet with its headless Service, with
// `orch hello-server` for nginx.
const statefulSetManifest = `apiVersion: v1
kind: Service
metadata:
  name: web
  labels: {app: web-sts}
spec:
  clusterIP: None
  selector: {app: web-sts}
---
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: web
spec:
  selector:
    matchLabels: {app: web-sts}
  serviceName: web
  replicas: 3
  template:
    metadata:
      labels: {app: web-sts}
    spec:
      terminationGracePeriodSeconds: 2
      containers:
      - name: web
        image: keel/hello:1
        command: ["orch", "hello-server", "--listen", "$(POD_IP):8080"]
        env:
        - name: POD_IP
          valueFrom: {fieldRef: {fieldPath: status.podIP}}
        ports: [{name: web, containerPort: 8080}]
        readinessProbe:
          httpGet: {path: /healthz, port: web}
          periodSeconds: 1
`

// statefulSetPhase: web-0, web-1, web-2 start in order, each after the one before is
// Ready (proved from the store's revisions); a deleted web-1 comes back as web-1; scaled
// to 1, web-2 goes before web-1 starts terminating.
func (s *system) statefulSetPhase(ctx context.Context, t *testing.T, rec *podRecorder) {
	s.applyManifest(t, "sts.yaml", statefulSetManifest)
	waitFor(t, ctx, "web-0, web-1, web-2 Running and Ready", 60*time.Second, func() error {
		return s.statefulPods(ctx, "web-0", "web-1", "web-2")
	})
	s.catchUp(ctx, t, rec)
	for i := 1; i <= 2; i++ {
		prev, cur := fmt.Sprintf("web-%d", i-1), fmt.Sprintf("web-%d", i)
		ready, created := rec.firstReady(prev), rec.created(cur)
		if ready == 0 || created == 0 || created <= ready {
			t.Errorf("%s created at revision %d, not after %s was Ready at revision %d", cur, created, prev, ready)
		} else {
			t.Logf("%s Ready at revision %d, %s created at revision %d", prev, ready, cur, created)
		}
	}
	p, err := s.stores.Pods.Get(ctx, "default", "web-1")
	if err != nil {
		t.Fatal(err)
	}
	if p.Spec.Hostname != "web-1" || p.Spec.Subdomain != "web" || p.Labels["statefulset.kubernetes.io/pod-name"] != "web-1" ||
		p.Labels["apps.kubernetes.io/pod-index"] != "1" {
		t.Errorf("web-1: hostname %q subdomain %q labels %v", p.Spec.Hostname, p.Spec.Subdomain, p.Labels)
	}
	// The process runtime gives the pod its stable hostname as $HOSTNAME.
	if out, err := httpGet(ctx, "http://"+p.Status.PodIP+":8080/"); err != nil || out != "hello from web-1\n" {
		t.Errorf("web-1 answers %q, %v; want \"hello from web-1\"", out, err)
	}
	t.Logf("get sts:\n%s", s.mustCtl("get", "sts"))
	if out := s.mustCtl("rollout", "status", "sts/web", "--timeout", "30s"); !strings.Contains(out, "statefulset rolling update complete 3 pods at revision web-") {
		t.Errorf("rollout status sts/web = %q", out)
	}

	// A rolling update replaces web-2, then web-1, then web-0, each after the one above is
	// Ready again.
	before := rec.revision()
	s.applyManifest(t, "sts2.yaml", strings.Replace(statefulSetManifest, "keel/hello:1", "keel/hello:2", 1))
	if out := s.mustCtl("rollout", "status", "sts/web", "--timeout", "60s"); !strings.Contains(out, "statefulset rolling update complete 3 pods at revision web-") {
		t.Errorf("rollout status sts/web after an update = %q", out)
	}
	s.catchUp(ctx, t, rec)
	var order []string
	for _, name := range []string{"web-0", "web-1", "web-2"} {
		if rev := rec.terminatingAfter(name, before); rev > 0 {
			order = append(order, fmt.Sprintf("%d:%s", rev, name))
		}
	}
	sort.Slice(order, func(i, j int) bool {
		return rvOf(strings.Split(order[i], ":")[0]) < rvOf(strings.Split(order[j], ":")[0])
	})
	var names []string
	for _, o := range order {
		names = append(names, strings.Split(o, ":")[1])
	}
	if !slices.Equal(names, []string{"web-2", "web-1", "web-0"}) {
		t.Errorf("rolling update terminated %v, want web-2, web-1, web-0", order)
	}
	for _, pair := range [][2]string{{"web-2", "web-1"}, {"web-1", "web-0"}} {
		ready, next := rec.readyAfter(pair[0], before), rec.terminatingAfter(pair[1], before)
		if ready == 0 || next <= ready {
			t.Errorf("%s began terminating at revision %d, not after the new %s was Ready at revision %d", pair[1], next, pair[0], ready)
		}
	}
	t.Logf("rolling update: terminated %v", order)
	p, err = s.stores.Pods.Get(ctx, "default", "web-1")
	if err != nil {
		t.Fatal(err)
	}

	// A deleted pod comes back under its name.
	s.mustCtl("delete", "pod", "web-1")
	waitFor(t, ctx, "web-1 back with a new uid", 60*time.Second, func() error {
		if err := s.statefulPods(ctx, "web-0", "web-1", "web-2"); err != nil {
			return err
		}
		q, err := s.stores.Pods.Get(ctx, "default", "web-1")
		if err != nil {
			return err
		}
		if q.UID == p.UID {
			return fmt.Errorf("web-1 still has uid %s", p.UID)
		}
		return nil
	})

	// Ordered scale-down.
	s.mustCtl("scale", "sts/web", "--replicas", "1")
	waitFor(t, ctx, "only web-0 left", 60*time.Second, func() error { return s.statefulPods(ctx, "web-0") })
	s.catchUp(ctx, t, rec)
	gone2, term1 := rec.lastDeleted("web-2"), rec.terminating("web-1")
	if gone2 == 0 || term1 == 0 || term1 <= gone2 {
		t.Errorf("web-1 began terminating at revision %d, not after web-2 was gone at revision %d", term1, gone2)
	} else {
		t.Logf("web-2 gone at revision %d, web-1 terminating from revision %d", gone2, term1)
	}

	// The garbage collector removes a deleted StatefulSet's pods.
	s.mustCtl("delete", "sts", "web")
	waitFor(t, ctx, "the StatefulSet's pods deleted", 30*time.Second, func() error {
		l, err := s.stores.Pods.List(ctx, registry.ListOptions{Namespace: "default"})
		if err != nil {
			return err
		}
		for _, p := range l.Items {
			if p.Labels["app"] == "web-sts" {
				return fmt.Errorf("pod %s left", p.Name)
			}
		}
		return nil
	})
}

// catchUp waits until the recorder has seen the store's present revision, asking its watch
// for a progress notification (the watch carries only pod events).
func (s *system) catchUp(ctx context.Context, t *testing.T, rec *podRecorder) {
	t.Helper()
	want := s.revision(ctx)
	waitFor(t, ctx, "pod recorder caught up", 10*time.Second, func() error {
		if rec.revision() >= want {
			return nil
		}
		if err := s.cli.RequestProgress(clientv3.WithRequireLeader(ctx)); err != nil {
			return err
		}
		return fmt.Errorf("recorder at %d, store at %d", rec.revision(), want)
	})
}

// httpGet returns the body of a GET of url.
func httpGet(ctx context.Context, url string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

// statefulPods checks that exactly the named StatefulSet pods exist, Running and Ready.
func (s *system) statefulPods(ctx context.Context, names ...string) error {
	l, err := s.stores.Pods.List(ctx, registry.ListOptions{Namespace: "default"})
	if err != nil {
		return err
	}
	var got []string
	for _, p := range l.Items {
		if p.Labels["app"] != "web-sts" {
			continue
		}
		if p.DeletionTimestamp != nil || p.Status.Phase != api.PodRunning || !podReady(p) {
			return fmt.Errorf("pod %s: %s, ready %v, terminating %v", p.Name, p.Status.Phase, podReady(p), p.DeletionTimestamp != nil)
		}
		got = append(got, p.Name)
	}
	sort.Strings(got)
	if !slices.Equal(got, names) {
		return fmt.Errorf("pods %v, want %v", got, names)
	}
	return nil
}

// podEvents returns the recorded events of the default namespace's pod name.
func (r *podRecorder) podEvents(name string) []podEvent {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []podEvent
	for _, ev := range r.events {
		if strings.HasSuffix(ev.key, "/default/"+name) {
			out = append(out, ev)
		}
	}
	return out
}

// firstReady is the first revision at which pod name was Ready (0 if never).
func (r *podRecorder) firstReady(name string) int64 {
	for _, ev := range r.podEvents(name) {
		if ev.pod != nil && podReady(ev.pod) {
			return ev.rev
		}
	}
	return 0
}

// created is the first revision at which pod name was created (0 if never).
func (r *podRecorder) created(name string) int64 {
	for _, ev := range r.podEvents(name) {
		if ev.pod != nil {
			return ev.rev
		}
	}
	return 0
}

// lastDeleted is the last revision at which pod name was deleted (0 if never).
func (r *podRecorder) lastDeleted(name string) int64 {
	var rev int64
	for _, ev := range r.podEvents(name) {
		if ev.deleted {
			rev = ev.rev
		}
	}
	return rev
}

// terminatingAfter is the first revision after from at which pod name got a
// deletionTimestamp (0 if none).
func (r *podRecorder) terminatingAfter(name string, from int64) int64 {
	for _, ev := range r.podEvents(name) {
		if ev.rev > from && ev.pod != nil && ev.pod.DeletionTimestamp != nil {
			return ev.rev
		}
	}
	return 0
}

// readyAfter is the first revision after from at which a pod name created after from was
// Ready (0 if none).
func (r *podRecorder) readyAfter(name string, from int64) int64 {
	created := false
	for _, ev := range r.podEvents(name) {
		if ev.rev <= from {
			continue
		}
		if ev.deleted {
			created = false
			continue
		}
		if ev.pod != nil && ev.pod.DeletionTimestamp == nil && !created && ev.pod.Status.Phase == "" {
			created = true
		}
		if created && ev.pod != nil && podReady(ev.pod) {
			return ev.rev
		}
	}
	return 0
}

// terminating is the last revision at which pod name got a deletionTimestamp (0 if never).
func (r *podRecorder) terminating(name string) int64 {
	var rev int64
	wasTerminating := false
	for _, ev := range r.podEvents(name) {
		now := ev.pod != nil && ev.pod.DeletionTimestamp != nil
		if now && !wasTerminating {
			rev = ev.rev
		}
		wasTerminating = now
	}
	return rev
}
