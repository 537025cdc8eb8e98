package orche2e_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/keeldb/keel/orchestrator/api"
	"github.com/keeldb/keel/orchestrator/registry"
)

const (
	replicas       = 10
	maxSurge       = 2
	maxUnavailable = 1
	servicePort    = 18080
)

// manifest is a web Deployment of `orch hello-server` processes and its Service, in
// Kubernetes' shapes. IMAGE is replaced by the image tag under test.
const manifest = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: default
  labels: {app: web}
spec:
  replicas: 10
  selector:
    matchLabels: {app: web}
  strategy:
    type: RollingUpdate
    rollingUpdate: {maxSurge: 2, maxUnavailable: 1}
  template:
    metadata:
      labels: {app: web}
    spec:
      terminationGracePeriodSeconds: 5
      containers:
      - name: web
        image: keel/hello:IMAGE
        command: ["orch", "hello-server", "--listen", "$(POD_IP):8080"]
        env:
        - name: POD_IP
          valueFrom: {fieldRef: {fieldPath: status.podIP}}
        - name: POD_NAME
          valueFrom: {fieldRef: {fieldPath: metadata.name}}
        ports: [{name: http, containerPort: 8080}]
        readinessProbe:
          httpGet: {path: /healthz, port: http}
          periodSeconds: 1
        resources:
          requests: {cpu: 100m, memory: 32Mi}
---
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: default
spec:
  selector: {app: web}
  ports: [{name: http, port: 18080, targetPort: http}]
`

// TestOrchestrator runs the whole system as separate processes — 3 keeld members, 2
// schedulers, 2 controller-managers and 3 process-mode agents — and walks a Deployment with
// a Service through what the orchestrator must survive: placement, traffic through the
// Service, a rolling update, a rollback, controller-manager failover, node loss, and a
// restart of every orchestrator process.
func TestOrchestrator(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a whole cluster of processes")
	}
	s := newSystem(t)
	s.startAll()
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	waitFor(t, ctx, "3 nodes Ready", 60*time.Second, func() error { return s.nodesReady(ctx, 3) })

	rec := s.recordPods(ctx)
	apply(t, s, "1")

	// 1. Placement and Service endpoints.
	waitFor(t, ctx, "10 pods Running and Ready on 3 nodes", 60*time.Second, func() error {
		return s.podsReady(ctx, "keel/hello:1", 3)
	})
	waitFor(t, ctx, "10 ready endpoints", 30*time.Second, func() error { return s.endpointsReady(ctx, replicas) })
	t.Logf("placement: %s", s.placement(ctx))

	// 2. Traffic through the Service reaches every replica.
	waitFor(t, ctx, "HTTP through the Service reaches every replica", 30*time.Second, func() error {
		return s.serviceReachesAll(ctx, 1)
	})

	// 3. Rolling update, bounded by maxSurge and maxUnavailable as seen by a watch.
	from := rec.revision()
	apply(t, s, "2")
	waitFor(t, ctx, "rolling update to keel/hello:2", 90*time.Second, func() error {
		return s.rolledOut(ctx, "keel/hello:2")
	})
	rec.checkRollout(t, from, rec.revision())

	// 4. rollout undo restores the previous template (on the revision-1 ReplicaSet).
	from = rec.revision()
	out := s.mustCtl("rollout", "undo", "deployment/web")
	t.Logf("rollout undo: %s", strings.TrimSpace(out))
	waitFor(t, ctx, "rollback to keel/hello:1", 90*time.Second, func() error {
		return s.rolledOut(ctx, "keel/hello:1")
	})
	rec.checkRollout(t, from, rec.revision())
	if err := s.replicaSetsOf(ctx, 2); err != nil {
		t.Errorf("after undo: %v", err)
	}
	waitFor(t, ctx, "HTTP through the Service after the rollback", 30*time.Second, func() error {
		return s.serviceReachesAll(ctx, 2)
	})

	// 5. Controller-manager failover within 15 s.
	s.failover(ctx)

	// 6. Node loss: its pods are recreated elsewhere within 60 s.
	s.loseNode(ctx)

	// 7. Every orchestrator process restarted: nothing changes, nothing is recreated.
	s.restartAll(ctx)
}

// waitFor polls cond every 100 ms until it returns nil, failing the test after d with the
// last error.
func waitFor(t *testing.T, ctx context.Context, what string, d time.Duration, cond func() error) time.Duration {
	t.Helper()
	start := time.Now()
	deadline := start.Add(d)
	for {
		err := cond()
		if err == nil {
			return time.Since(start)
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			t.Fatalf("%s: not within %v: %v", what, d, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func apply(t *testing.T, s *system, tag string) {
	t.Helper()
	f := t.TempDir() + "/web.yaml"
	if err := writeFile(f, strings.ReplaceAll(manifest, "IMAGE", tag)); err != nil {
		t.Fatal(err)
	}
	s.mustCtl("apply", "-f", f)
}

func (s *system) nodesReady(ctx context.Context, want int) error {
	l, err := s.stores.Nodes.List(ctx, registry.ListOptions{})
	if err != nil {
		return err
	}
	ready := 0
	for _, n := range l.Items {
		if nodeReady(n) {
			ready++
		}
	}
	if ready != want {
		return fmt.Errorf("%d of %d nodes Ready", ready, len(l.Items))
	}
	return nil
}

func nodeReady(n *api.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == "Ready" {
			return c.Status == api.ConditionTrue
		}
	}
	return false
}

func podReady(p *api.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == "Ready" {
			return c.Status == api.ConditionTrue
		}
	}
	return false
}

// webPods lists the Deployment's pods that are not being deleted.
func (s *system) webPods(ctx context.Context) ([]*api.Pod, error) {
	l, err := s.stores.Pods.List(ctx, registry.ListOptions{Namespace: "default"})
	if err != nil {
		return nil, err
	}
	var out []*api.Pod
	for _, p := range l.Items {
		if p.Labels["app"] == "web" && p.DeletionTimestamp == nil {
			out = append(out, p)
		}
	}
	return out, nil
}

// podsReady checks that exactly `replicas` live pods run image, all Running and Ready, over
// at least nodes nodes.
func (s *system) podsReady(ctx context.Context, image string, nodes int) error {
	pods, err := s.webPods(ctx)
	if err != nil {
		return err
	}
	used := map[string]bool{}
	ready := 0
	for _, p := range pods {
		if p.Spec.Containers[0].Image == image && p.Status.Phase == api.PodRunning && podReady(p) {
			ready++
			used[p.Spec.NodeName] = true
		}
	}
	if ready != replicas || len(pods) != replicas || len(used) < nodes {
		return fmt.Errorf("%d pods, %d of them Running+Ready with %s, on %d nodes", len(pods), ready, image, len(used))
	}
	return nil
}

// placement is "node=count ..." of the live pods.
func (s *system) placement(ctx context.Context) string {
	pods, _ := s.webPods(ctx)
	count := map[string]int{}
	for _, p := range pods {
		count[p.Spec.NodeName]++
	}
	var parts []string
	for n, c := range count {
		parts = append(parts, fmt.Sprintf("%s=%d", n, c))
	}
	sort.Strings(parts)
	return strings.Join(parts, " ")
}

// endpointsReady checks the Service's Endpoints list exactly the Ready pods' IPs.
func (s *system) endpointsReady(ctx context.Context, want int) error {
	ep, err := s.stores.Endpoints.Get(ctx, "default", "web")
	if err != nil {
		return err
	}
	pods, err := s.webPods(ctx)
	if err != nil {
		return err
	}
	var wantIPs, got []string
	for _, p := range pods {
		if podReady(p) && p.Status.PodIP != "" {
			wantIPs = append(wantIPs, p.Status.PodIP)
		}
	}
	for _, ss := range ep.Subsets {
		for _, a := range ss.Addresses {
			got = append(got, a.IP)
		}
	}
	slices.Sort(wantIPs)
	slices.Sort(got)
	if len(got) != want || !slices.Equal(got, wantIPs) {
		return fmt.Errorf("endpoints %v, want the %d ready pods' IPs %v", got, want, wantIPs)
	}
	return nil
}

// serviceReachesAll sends requests to the Service port on node n<node>'s address until every
// live pod has answered, or 4× replicas requests have been sent.
func (s *system) serviceReachesAll(ctx context.Context, node int) error {
	pods, err := s.webPods(ctx)
	if err != nil {
		return err
	}
	want := map[string]bool{}
	for _, p := range pods {
		want[p.Name] = true
	}
	seen := map[string]bool{}
	// A new connection per request, as curl makes: the proxy balances connections.
	hc := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	url := fmt.Sprintf("http://%s:%d/", s.agentAddress(node), servicePort)
	for range 4 * len(want) {
		resp, err := hc.Get(url)
		if err != nil {
			return err
		}
		b, err := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if err != nil {
			return err
		}
		name := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(string(b)), "hello from "))
		seen[name] = true
		if len(seen) >= len(want) {
			break
		}
	}
	for n := range want {
		if !seen[n] {
			return fmt.Errorf("%d requests to %s reached %d of %d pods (not %s)", 4*len(want), url, len(seen), len(want), n)
		}
	}
	return nil
}

// rolledOut checks the Deployment finished rolling out image: status says so and exactly
// `replicas` Ready pods run it.
func (s *system) rolledOut(ctx context.Context, image string) error {
	d, err := s.stores.Deployments.Get(ctx, "default", "web")
	if err != nil {
		return err
	}
	st := d.Status
	if d.Spec.Template.Spec.Containers[0].Image != image {
		return fmt.Errorf("deployment template image %s, want %s", d.Spec.Template.Spec.Containers[0].Image, image)
	}
	if st.ObservedGeneration < d.Generation || st.UpdatedReplicas != replicas || st.Replicas != replicas || st.AvailableReplicas != replicas {
		return fmt.Errorf("deployment status %+v (generation %d)", st, d.Generation)
	}
	return s.podsReady(ctx, image, 1)
}

// replicaSetsOf checks the Deployment owns want ReplicaSets (a rollback reuses one).
func (s *system) replicaSetsOf(ctx context.Context, want int) error {
	l, err := s.stores.ReplicaSets.List(ctx, registry.ListOptions{Namespace: "default"})
	if err != nil {
		return err
	}
	var names []string
	for _, rs := range l.Items {
		if ref := rs.ControllerRef(); ref != nil && ref.Kind == "Deployment" && ref.Name == "web" {
			names = append(names, rs.Name+"@"+rs.Annotations["deployment.kubernetes.io/revision"])
		}
	}
	if len(names) != want {
		return fmt.Errorf("replica sets %v, want %d", names, want)
	}
	return nil
}

// leaseHolder returns the holder of kube-system/<name>.
func (s *system) leaseHolder(ctx context.Context, name string) (string, error) {
	l, err := s.stores.Leases.Get(ctx, "kube-system", name)
	if err != nil {
		return "", err
	}
	if l.Spec.HolderIdentity == nil {
		return "", errors.New("no holder")
	}
	return *l.Spec.HolderIdentity, nil
}

// failover kills the active controller-manager and checks the standby leads, and works,
// within 15 s.
func (s *system) failover(ctx context.Context) {
	t := s.t
	t.Helper()
	active, err := s.leaseHolder(ctx, "kube-controller-manager")
	if err != nil || (active != "cm1" && active != "cm2") {
		t.Fatalf("active controller-manager: %q, %v", active, err)
	}
	standby := map[string]string{"cm1": "cm2", "cm2": "cm1"}[active]
	killed := time.Now()
	s.kill(active)
	took := waitFor(t, ctx, "standby controller-manager leads", 15*time.Second, func() error {
		h, err := s.leaseHolder(ctx, "kube-controller-manager")
		if err != nil {
			return err
		}
		if h != standby {
			return fmt.Errorf("holder %s", h)
		}
		return nil
	})
	// It is not enough to hold the lease: the standby must reconcile. Delete a pod and
	// expect its replacement.
	pods, err := s.webPods(ctx)
	if err != nil || len(pods) == 0 {
		t.Fatalf("pods: %v", err)
	}
	victim := pods[0]
	if _, err := s.stores.Pods.Delete(ctx, victim.Namespace, victim.Name, registry.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "the new controller-manager replaces a deleted pod", 30*time.Second, func() error {
		return s.podsReady(ctx, "keel/hello:1", 1)
	})
	t.Logf("controller-manager failover: %s killed, %s leading after %v, reconciling %v after the kill",
		active, standby, took.Round(time.Millisecond), time.Since(killed).Round(time.Millisecond))
	s.start(active, "controller-manager", "--id", active)
}

// loseNode kills the agent with the most pods and checks its node goes NotReady and its
// pods run elsewhere within 60 s.
func (s *system) loseNode(ctx context.Context) {
	t := s.t
	t.Helper()
	pods, err := s.webPods(ctx)
	if err != nil {
		t.Fatal(err)
	}
	count := map[string]int{}
	for _, p := range pods {
		count[p.Spec.NodeName]++
	}
	victim, most := "", -1
	for i := 1; i <= 3; i++ {
		if n := fmt.Sprintf("n%d", i); count[n] > most {
			victim, most = n, count[n]
		}
	}
	killed := time.Now()
	s.kill("agent-" + victim)
	notReady := waitFor(t, ctx, victim+" NotReady", 60*time.Second, func() error {
		n, err := s.stores.Nodes.Get(ctx, "", victim)
		if err != nil {
			return err
		}
		if nodeReady(n) {
			return errors.New("still Ready")
		}
		return nil
	})
	waitFor(t, ctx, "pods of "+victim+" recreated on other nodes", 60*time.Second-time.Since(killed), func() error {
		pods, err := s.webPods(ctx)
		if err != nil {
			return err
		}
		ready := 0
		for _, p := range pods {
			if p.Spec.NodeName == victim {
				return fmt.Errorf("pod %s still on %s", p.Name, victim)
			}
			if p.Status.Phase == api.PodRunning && podReady(p) {
				ready++
			}
		}
		if ready != replicas {
			return fmt.Errorf("%d of %d pods Ready elsewhere", ready, replicas)
		}
		return nil
	})
	t.Logf("node loss: %s had %d pods; NotReady after %v; all %d pods Ready elsewhere after %v (%s)",
		victim, most, notReady.Round(time.Millisecond), replicas, time.Since(killed).Round(time.Millisecond), s.placement(ctx))
	waitFor(t, ctx, "endpoints without the lost node", 30*time.Second, func() error { return s.endpointsReady(ctx, replicas) })
	waitFor(t, ctx, "HTTP through a surviving node's proxy", 30*time.Second, func() error {
		for i := 1; i <= 3; i++ {
			if fmt.Sprintf("n%d", i) != victim {
				return s.serviceReachesAll(ctx, i)
			}
		}
		return nil
	})
	// The node comes back: its agent stops the pods that were evicted while it was away.
	var idx int
	_, _ = fmt.Sscanf(victim, "n%d", &idx)
	s.startAgent(idx)
	waitFor(t, ctx, victim+" Ready again", 60*time.Second, func() error { return s.nodesReady(ctx, 3) })
	// Evicted pods stay Terminating (deletionTimestamp set) until their node's agent stops
	// them, or node lifecycle removes them once their grace period is over.
	waitFor(t, ctx, "evicted pods of "+victim+" removed", 60*time.Second, func() error {
		l, err := s.stores.Pods.List(ctx, registry.ListOptions{Namespace: "default"})
		if err != nil {
			return err
		}
		for _, p := range l.Items {
			if p.DeletionTimestamp != nil {
				return fmt.Errorf("pod %s on %s still terminating", p.Name, p.Spec.NodeName)
			}
		}
		return nil
	})
}

// snapshot is what must not change across a restart of the orchestrator: every object's
// uid and resourceVersion, and the ctl view.
type snapshot struct {
	objects map[string]string // kind/ns/name → uid@rv
	view    string
}

func (s *system) snapshot(ctx context.Context) snapshot {
	t := s.t
	t.Helper()
	snap := snapshot{objects: map[string]string{}}
	add := func(kind string, m *api.ObjectMeta) {
		snap.objects[kind+"/"+m.Namespace+"/"+m.Name] = m.UID + "@" + m.ResourceVersion
	}
	pods, err := s.stores.Pods.List(ctx, registry.ListOptions{Namespace: "default"})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pods.Items {
		add("pod", &p.ObjectMeta)
	}
	rss, err := s.stores.ReplicaSets.List(ctx, registry.ListOptions{Namespace: "default"})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rss.Items {
		add("replicaset", &r.ObjectMeta)
	}
	ds, err := s.stores.Deployments.List(ctx, registry.ListOptions{Namespace: "default"})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range ds.Items {
		add("deployment", &d.ObjectMeta)
	}
	eps, err := s.stores.Endpoints.List(ctx, registry.ListOptions{Namespace: "default"})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range eps.Items {
		add("endpoints", &e.ObjectMeta)
	}
	view := s.mustCtl("get", "all", "-o", "wide")
	// AGE changes with time; everything else must not.
	var lines []string
	for _, l := range strings.Split(view, "\n") {
		f := strings.Fields(l)
		lines = append(lines, strings.Join(slices.DeleteFunc(f, isAge), " "))
	}
	snap.view = strings.Join(lines, "\n")
	return snap
}

// isAge reports whether a table cell looks like an age (12s, 3m4s, 2h, 5d).
func isAge(f string) bool {
	if f == "" || f[0] < '0' || f[0] > '9' {
		return false
	}
	for _, r := range f {
		if !strings.ContainsRune("0123456789smhd", r) {
			return false
		}
	}
	return strings.ContainsAny(f, "smhd")
}

// restartAll stops every orch process, starts them again, and checks nothing changed.
func (s *system) restartAll(ctx context.Context) {
	t := s.t
	t.Helper()
	waitFor(t, ctx, "steady before the restart", 60*time.Second, func() error {
		if err := s.rolledOut(ctx, "keel/hello:1"); err != nil {
			return err
		}
		return s.endpointsReady(ctx, replicas)
	})
	before := s.snapshot(ctx)
	startRev := s.revision(ctx)
	for _, n := range []string{"s1", "s2", "cm1", "cm2", "agent-n1", "agent-n2", "agent-n3"} {
		s.stop(n)
	}
	s.startAll()
	waitFor(t, ctx, "leaders elected and nodes Ready after the restart", 60*time.Second, func() error {
		for _, l := range []string{"kube-scheduler", "kube-controller-manager"} {
			h, err := s.leaseHolder(ctx, l)
			if err != nil {
				return err
			}
			if l2, err := s.stores.Leases.Get(ctx, "kube-system", l); err != nil || rvOf(l2.ResourceVersion) <= startRev {
				return fmt.Errorf("%s not renewed since the restart (holder %s)", l, h)
			}
		}
		return s.nodesReady(ctx, 3)
	})
	// Give the restarted components time to act on anything they think is wrong: their
	// informers have synced (they lead and renew), so a needless write would come now.
	observe := time.Now().Add(5 * time.Second)
	for time.Now().Before(observe) {
		time.Sleep(200 * time.Millisecond)
	}
	after := s.snapshot(ctx)
	for k, v := range before.objects {
		if after.objects[k] != v {
			t.Errorf("after restarting the orchestrator: %s was %s, now %q", k, v, after.objects[k])
		}
	}
	for k, v := range after.objects {
		if _, ok := before.objects[k]; !ok {
			t.Errorf("after restarting the orchestrator: new object %s (%s)", k, v)
		}
	}
	if before.view != after.view {
		t.Errorf("orch ctl get all changed across the restart:\nbefore:\n%s\nafter:\n%s", before.view, after.view)
	}
	if err := s.serviceReachesAll(ctx, 3); err != nil {
		t.Errorf("after the restart: %v", err)
	}
	t.Logf("restart: %d objects unchanged (uid and resourceVersion), ctl view unchanged", len(before.objects))
}

func rvOf(rv string) int64 {
	n, _ := strconv.ParseInt(rv, 10, 64)
	return n
}

func (s *system) revision(ctx context.Context) int64 {
	resp, err := s.cli.Get(ctx, "/registry/", clientv3.WithCountOnly())
	if err != nil {
		s.t.Fatal(err)
	}
	return resp.Header.Revision
}

// podRecorder keeps every pod event of the default namespace, from a watch.
type podRecorder struct {
	mu     sync.Mutex
	events []podEvent
	rev    int64
}

type podEvent struct {
	rev     int64
	key     string
	pod     *api.Pod // nil for a delete
	deleted bool
}

func (s *system) recordPods(ctx context.Context) *podRecorder {
	r := &podRecorder{rev: s.revision(ctx)}
	prefix := s.stores.Pods.NamespacePrefix("default")
	wch := s.cli.Watch(clientv3.WithRequireLeader(ctx), prefix, clientv3.WithPrefix(), clientv3.WithRev(r.rev+1))
	go func() {
		for resp := range wch {
			if resp.Err() != nil {
				s.t.Errorf("pod watch: %v", resp.Err())
				return
			}
			r.mu.Lock()
			for _, ev := range resp.Events {
				pe := podEvent{rev: ev.Kv.ModRevision, key: string(ev.Kv.Key), deleted: ev.Type == clientv3.EventTypeDelete}
				if !pe.deleted {
					var p api.Pod
					if err := json.Unmarshal(ev.Kv.Value, &p); err == nil {
						pe.pod = &p
					}
				}
				r.events = append(r.events, pe)
			}
			r.rev = resp.Header.Revision
			r.mu.Unlock()
		}
	}()
	return r
}

// revision is the last revision the recorder has seen.
func (r *podRecorder) revision() int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.rev
}

// checkRollout replays the pod history and checks, after every revision in (from, to], that
// the Deployment had at most replicas+maxSurge live pods and at least
// replicas-maxUnavailable Ready ones.
func (r *podRecorder) checkRollout(t *testing.T, from, to int64) {
	t.Helper()
	r.mu.Lock()
	events := slices.Clone(r.events)
	r.mu.Unlock()
	state := map[string]*api.Pod{}
	maxLive, minReady, checked := 0, replicas, 0
	for i, ev := range events {
		if ev.deleted {
			delete(state, ev.key)
		} else if ev.pod != nil {
			state[ev.key] = ev.pod
		}
		if ev.rev <= from || ev.rev > to || (i+1 < len(events) && events[i+1].rev == ev.rev) {
			continue // before the window, or the revision is not complete yet
		}
		live, ready := 0, 0
		for _, p := range state {
			if p.Labels["app"] != "web" || p.DeletionTimestamp != nil ||
				p.Status.Phase == api.PodSucceeded || p.Status.Phase == api.PodFailed {
				continue
			}
			live++
			if podReady(p) {
				ready++
			}
		}
		checked++
		maxLive, minReady = max(maxLive, live), min(minReady, ready)
		if live > replicas+maxSurge {
			t.Errorf("revision %d: %d live pods, more than replicas %d + maxSurge %d", ev.rev, live, replicas, maxSurge)
		}
		if ready < replicas-maxUnavailable {
			t.Errorf("revision %d: %d ready pods, fewer than replicas %d - maxUnavailable %d", ev.rev, ready, replicas, maxUnavailable)
		}
	}
	if checked == 0 {
		t.Errorf("no pod events between revisions %d and %d", from, to)
	}
	t.Logf("rollout (revisions %d..%d, %d states checked): at most %d live pods (limit %d), at least %d ready (limit %d)",
		from, to, checked, maxLive, replicas+maxSurge, minReady, replicas-maxUnavailable)
}
