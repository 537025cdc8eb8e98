package registry_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/keeldb/keel/internal/testcluster"
	"github.com/keeldb/keel/orchestrator/api"
	"github.com/keeldb/keel/orchestrator/labels"
	"github.com/keeldb/keel/orchestrator/registry"
)

func pod(ns, name string, ls map[string]string) *api.Pod {
	return &api.Pod{
		ObjectMeta: api.ObjectMeta{Namespace: ns, Name: name, Labels: ls},
		Spec:       api.PodSpec{Containers: []api.Container{{Name: "c", Image: "busybox"}}},
	}
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// TestRegistry runs every registry scenario against one real 3-member cluster; each
// subtest uses its own namespace.
func TestRegistry(t *testing.T) {
	c := testcluster.Start(t, 3)
	cli := c.Client()
	fixed := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	pods := registry.New[api.Pod](cli, registry.Config{Now: func() time.Time { return fixed }})

	t.Run("CreateGet", func(t *testing.T) { testCreateGet(t, cli, pods, fixed) })
	t.Run("UpdateConflict", func(t *testing.T) { testUpdateConflict(t, pods) })
	t.Run("UpdateStatus", func(t *testing.T) { testUpdateStatus(t, pods) })
	t.Run("List", func(t *testing.T) { testList(t, cli, pods) })
	t.Run("Delete", func(t *testing.T) { testDelete(t, pods) })
	t.Run("GracefulDelete", func(t *testing.T) { testGracefulDelete(t, pods, fixed) })
	t.Run("GuaranteedUpdateConcurrent", func(t *testing.T) { testGuaranteedUpdate(t, c, pods) })
	t.Run("ClusterScoped", func(t *testing.T) { testClusterScoped(t, cli) })
	t.Run("ManifestRoundTrip", func(t *testing.T) { testManifestRoundTrip(t, cli) })
}

func testCreateGet(t *testing.T, cli *clientv3.Client, pods *registry.Store[api.Pod, *api.Pod], now time.Time) {
	ctx := ctxT(t)
	in := pod("create", "p1", map[string]string{"app": "web"})
	got, err := pods.Create(ctx, in)
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	if in.UID != "" || in.ResourceVersion != "" {
		t.Errorf("Create modified its argument: %+v", in.ObjectMeta)
	}
	m := got.ObjectMeta
	if m.UID == "" || m.Generation != 1 || !m.CreationTimestamp.Equal(now) || m.ResourceVersion == "" ||
		got.Kind != "Pod" || got.APIVersion != "v1" || got.Spec.RestartPolicy != api.RestartAlways {
		t.Errorf("created object: %+v %+v", got.TypeMeta, m)
	}
	if _, err := pods.Create(ctx, in); !errors.Is(err, registry.ErrAlreadyExists) {
		t.Errorf("second Create: got %v, want ErrAlreadyExists", err)
	}
	// The stored value is JSON at the Kubernetes key, without resourceVersion, and
	// resourceVersion is the key's mod_revision.
	resp, err := cli.Get(ctx, "/registry/pods/create/p1")
	if err != nil || len(resp.Kvs) != 1 {
		t.Fatalf("raw get: %v %v", resp, err)
	}
	var raw map[string]any
	if err := json.Unmarshal(resp.Kvs[0].Value, &raw); err != nil {
		t.Fatal(err)
	}
	if _, ok := raw["metadata"].(map[string]any)["resourceVersion"]; ok {
		t.Errorf("stored value carries a resourceVersion: %s", resp.Kvs[0].Value)
	}
	if want := strconv.FormatInt(resp.Kvs[0].ModRevision, 10); m.ResourceVersion != want {
		t.Errorf("resourceVersion %s, want mod_revision %s", m.ResourceVersion, want)
	}
	again, err := pods.Get(ctx, "create", "p1")
	if err != nil || again.UID != m.UID || again.ResourceVersion != m.ResourceVersion {
		t.Errorf("Get = %+v, %v", again, err)
	}
	if _, err := pods.Get(ctx, "create", "nope"); !errors.Is(err, registry.ErrNotFound) {
		t.Errorf("Get missing: got %v, want ErrNotFound", err)
	}
	bad := pod("create", "bad", nil)
	bad.Spec.Containers[0].Image = ""
	if _, err := pods.Create(ctx, bad); !errors.Is(err, api.ErrInvalid) {
		t.Errorf("Create invalid: got %v, want ErrInvalid", err)
	}
	gen := pod("create", "", nil)
	gen.GenerateName = "web-"
	g, err := pods.Create(ctx, gen)
	if err != nil || len(g.Name) != len("web-")+5 {
		t.Errorf("Create with generateName = %q, %v", g.Name, err)
	}
}

func testUpdateConflict(t *testing.T, pods *registry.Store[api.Pod, *api.Pod]) {
	ctx := ctxT(t)
	created, err := pods.Create(ctx, pod("update", "p", nil))
	if err != nil {
		t.Fatal(err)
	}
	a, b := api.DeepCopy(created), api.DeepCopy(created)
	a.Labels = map[string]string{"writer": "a"}
	a.Status.Phase = api.PodRunning // ignored by Update
	ua, err := pods.Update(ctx, a)
	if err != nil {
		t.Fatalf("Update: %v", err)
	}
	if ua.Generation != 1 || ua.Status.Phase != "" || ua.ResourceVersion == created.ResourceVersion {
		t.Errorf("metadata-only update: generation %d, phase %q, rv %s", ua.Generation, ua.Status.Phase, ua.ResourceVersion)
	}
	b.Labels = map[string]string{"writer": "b"}
	if _, err := pods.Update(ctx, b); !errors.Is(err, registry.ErrConflict) {
		t.Fatalf("stale Update: got %v, want ErrConflict", err)
	}
	ua.Spec.Containers[0].Image = "busybox:2"
	ub, err := pods.Update(ctx, ua)
	if err != nil {
		t.Fatal(err)
	}
	if ub.Generation != 2 || ub.UID != created.UID || !ub.CreationTimestamp.Equal(created.CreationTimestamp.Time) {
		t.Errorf("spec update: generation %d uid %s", ub.Generation, ub.UID)
	}
	got, _ := pods.Get(ctx, "update", "p")
	if got.Labels["writer"] != "a" || got.Spec.Containers[0].Image != "busybox:2" {
		t.Errorf("stored after updates: %+v", got)
	}
	missing := api.DeepCopy(got)
	missing.Name = "other"
	if _, err := pods.Update(ctx, missing); !errors.Is(err, registry.ErrNotFound) {
		t.Errorf("Update missing: got %v, want ErrNotFound", err)
	}
}

func testUpdateStatus(t *testing.T, pods *registry.Store[api.Pod, *api.Pod]) {
	ctx := ctxT(t)
	created, err := pods.Create(ctx, pod("status", "p", nil))
	if err != nil {
		t.Fatal(err)
	}
	st := api.DeepCopy(created)
	st.Status.Phase = api.PodRunning
	st.Spec.Containers[0].Image = "ignored"
	st.Labels = map[string]string{"ignored": "yes"}
	got, err := pods.UpdateStatus(ctx, st)
	if err != nil {
		t.Fatalf("UpdateStatus: %v", err)
	}
	if got.Status.Phase != api.PodRunning || got.Spec.Containers[0].Image != "busybox" || got.Labels != nil || got.Generation != 1 {
		t.Errorf("after UpdateStatus: phase %q image %q labels %v generation %d",
			got.Status.Phase, got.Spec.Containers[0].Image, got.Labels, got.Generation)
	}
	if _, err := pods.UpdateStatus(ctx, st); !errors.Is(err, registry.ErrConflict) {
		t.Errorf("stale UpdateStatus: got %v, want ErrConflict", err)
	}
	st.ResourceVersion = "" // unconditional
	st.Status.Phase = api.PodSucceeded
	if got, err = pods.UpdateStatus(ctx, st); err != nil || got.Status.Phase != api.PodSucceeded {
		t.Errorf("unconditional UpdateStatus = %v, %v", got, err)
	}
}

func testList(t *testing.T, cli *clientv3.Client, pods *registry.Store[api.Pod, *api.Pod]) {
	ctx := ctxT(t)
	for i := range 25 {
		tier := "front"
		if i%3 == 0 {
			tier = "back"
		}
		if _, err := pods.Create(ctx, pod("list", fmt.Sprintf("p%02d", i), map[string]string{"tier": tier})); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := pods.Create(ctx, pod("list-other", "x", map[string]string{"tier": "back"})); err != nil {
		t.Fatal(err)
	}
	all, err := pods.List(ctx, registry.ListOptions{Namespace: "list"})
	if err != nil || len(all.Items) != 25 || all.Continue != "" {
		t.Fatalf("List = %d items, %v", len(all.Items), err)
	}
	sel, _ := labels.Parse("tier=back")
	back, err := pods.List(ctx, registry.ListOptions{Namespace: "list", Selector: sel})
	if err != nil || len(back.Items) != 9 {
		t.Fatalf("List tier=back = %d items, %v; want 9", len(back.Items), err)
	}
	everywhere, err := pods.List(ctx, registry.ListOptions{Selector: sel})
	if err != nil || len(everywhere.Items) < 10 {
		t.Fatalf("List all namespaces tier=back = %d items, %v; want >= 10", len(everywhere.Items), err)
	}

	// Paging: pages of 4 matching items, all at the first page's revision even though
	// objects are created in between.
	var names []string
	opts := registry.ListOptions{Namespace: "list", Selector: sel, Limit: 4}
	page, err := pods.List(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	rev := page.Revision
	if _, err := pods.Create(ctx, pod("list", "p99", map[string]string{"tier": "back"})); err != nil {
		t.Fatal(err)
	}
	for {
		if len(page.Items) > 4 || page.Revision != rev {
			t.Fatalf("page of %d items at revision %d, want <= 4 at %d", len(page.Items), page.Revision, rev)
		}
		for _, p := range page.Items {
			names = append(names, p.Name)
		}
		if page.Continue == "" {
			break
		}
		opts.Continue = page.Continue
		if page, err = pods.List(ctx, opts); err != nil {
			t.Fatal(err)
		}
	}
	want := []string{"p00", "p03", "p06", "p09", "p12", "p15", "p18", "p21", "p24"}
	if fmt.Sprint(names) != fmt.Sprint(want) {
		t.Fatalf("paged names %v, want %v", names, want)
	}
	// Reading at the old revision does not see p99; the latest does.
	old, err := pods.List(ctx, registry.ListOptions{Namespace: "list", Selector: sel, Revision: rev})
	if err != nil || len(old.Items) != 9 || old.Revision != rev {
		t.Fatalf("List at revision %d = %d items at %d, %v; want 9", rev, len(old.Items), old.Revision, err)
	}
	latest, err := pods.List(ctx, registry.ListOptions{Namespace: "list", Selector: sel})
	if err != nil || len(latest.Items) != 10 {
		t.Fatalf("latest List = %d items, %v; want 10", len(latest.Items), err)
	}

	// A continue token at a compacted revision is expired.
	first, err := pods.List(ctx, registry.ListOptions{Namespace: "list", Limit: 2})
	if err != nil || first.Continue == "" {
		t.Fatalf("first page: %v", err)
	}
	if _, err := pods.Create(ctx, pod("list", "p98", nil)); err != nil {
		t.Fatal(err)
	}
	cur, err := cli.Get(ctx, "/")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Compact(ctx, cur.Header.Revision); err != nil {
		t.Fatal(err)
	}
	if _, err := pods.List(ctx, registry.ListOptions{Namespace: "list", Limit: 2, Continue: first.Continue}); !errors.Is(err, registry.ErrExpired) {
		t.Fatalf("List with compacted continue: got %v, want ErrExpired", err)
	}
	if _, err := pods.List(ctx, registry.ListOptions{Namespace: "list", Continue: "garbage"}); !errors.Is(err, api.ErrInvalid) {
		t.Fatalf("List with bad continue: got %v, want ErrInvalid", err)
	}
}

func testDelete(t *testing.T, pods *registry.Store[api.Pod, *api.Pod]) {
	ctx := ctxT(t)
	created, err := pods.Create(ctx, pod("delete", "p", nil))
	if err != nil {
		t.Fatal(err)
	}
	up := api.DeepCopy(created)
	up.Labels = map[string]string{"a": "b"}
	if _, err := pods.Update(ctx, up); err != nil {
		t.Fatal(err)
	}
	if _, err := pods.Delete(ctx, "delete", "p", registry.DeleteOptions{ResourceVersion: created.ResourceVersion}); !errors.Is(err, registry.ErrConflict) {
		t.Fatalf("Delete with stale precondition: got %v, want ErrConflict", err)
	}
	if _, err := pods.Delete(ctx, "delete", "p", registry.DeleteOptions{UID: "not-the-uid"}); !errors.Is(err, registry.ErrConflict) {
		t.Fatalf("Delete with wrong uid: got %v, want ErrConflict", err)
	}
	gone, err := pods.Delete(ctx, "delete", "p", registry.DeleteOptions{UID: created.UID})
	if err != nil || gone.Labels["a"] != "b" {
		t.Fatalf("Delete = %+v, %v", gone, err)
	}
	if _, err := pods.Get(ctx, "delete", "p"); !errors.Is(err, registry.ErrNotFound) {
		t.Fatalf("Get after Delete: got %v, want ErrNotFound", err)
	}
	if _, err := pods.Delete(ctx, "delete", "p", registry.DeleteOptions{}); !errors.Is(err, registry.ErrNotFound) {
		t.Fatalf("second Delete: got %v, want ErrNotFound", err)
	}
}

// testGuaranteedUpdate has many writers on different members each add their own
// annotations to one object; every one must survive (a lost update would drop another
// writer's annotation). The mutation is idempotent so that a write whose outcome is unknown
// (e.g. "leader changed" on a loaded machine) can simply be retried.
func testGuaranteedUpdate(t *testing.T, c *testcluster.Cluster, pods *registry.Store[api.Pod, *api.Pod]) {
	ctx := ctxT(t)
	if _, err := pods.Create(ctx, pod("gu", "counter", nil)); err != nil {
		t.Fatal(err)
	}
	const writers, increments = 4, 10
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	var mu sync.Mutex
	attempts, ambiguous := 0, 0
	for w := range writers {
		store := registry.New[api.Pod](c.Client(w%3), registry.Config{})
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range increments {
				key := fmt.Sprintf("w%d-%d", w, i)
				for try := 0; ; try++ {
					_, err := store.GuaranteedUpdate(ctx, "gu", "counter", func(p *api.Pod) (*api.Pod, error) {
						if p.Annotations == nil {
							p.Annotations = map[string]string{}
						}
						p.Annotations[key] = "1"
						mu.Lock()
						attempts++
						mu.Unlock()
						return p, nil
					})
					if err == nil {
						break
					}
					if ctx.Err() != nil || try == 20 {
						errs <- err
						return
					}
					mu.Lock()
					ambiguous++
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("GuaranteedUpdate: %v", err)
	}
	got, err := pods.Get(ctx, "gu", "counter")
	if err != nil {
		t.Fatal(err)
	}
	for w := range writers {
		for i := range increments {
			if got.Annotations[fmt.Sprintf("w%d-%d", w, i)] != "1" {
				t.Errorf("update w%d-%d lost", w, i)
			}
		}
	}
	if len(got.Annotations) != writers*increments {
		t.Errorf("%d annotations, want %d", len(got.Annotations), writers*increments)
	}
	t.Logf("%d updates took %d attempts (%d retried after an error)", writers*increments, attempts, ambiguous)
	// fn's error aborts without writing.
	boom := errors.New("boom")
	if _, err := pods.GuaranteedUpdate(ctx, "gu", "counter", func(p *api.Pod) (*api.Pod, error) { return nil, boom }); !errors.Is(err, boom) {
		t.Fatalf("GuaranteedUpdate with failing fn: got %v", err)
	}
	if _, err := pods.GuaranteedUpdate(ctx, "gu", "missing", func(p *api.Pod) (*api.Pod, error) { return p, nil }); !errors.Is(err, registry.ErrNotFound) {
		t.Fatalf("GuaranteedUpdate on missing: got %v", err)
	}
}

func testClusterScoped(t *testing.T, cli *clientv3.Client) {
	ctx := ctxT(t)
	nodes := registry.New[api.Node](cli, registry.Config{})
	n := &api.Node{ObjectMeta: api.ObjectMeta{Name: "n1", Labels: map[string]string{"zone": "a"}}}
	n.Status.Capacity = api.ResourceList{"cpu": "4", "memory": "8Gi", "pods": "110"}
	if _, err := nodes.Create(ctx, n); err != nil {
		t.Fatal(err)
	}
	resp, err := cli.Get(ctx, "/registry/nodes/n1")
	if err != nil || len(resp.Kvs) != 1 {
		t.Fatalf("raw get of /registry/nodes/n1: %v", err)
	}
	bad := &api.Node{ObjectMeta: api.ObjectMeta{Name: "n2", Namespace: "default"}}
	if _, err := nodes.Create(ctx, bad); !errors.Is(err, api.ErrInvalid) {
		t.Fatalf("namespaced node: got %v, want ErrInvalid", err)
	}
	got, err := nodes.Get(ctx, "", "n1")
	if err != nil || got.Status.Capacity["memory"].Value() != 8<<30 {
		t.Fatalf("Get node = %+v, %v", got, err)
	}
}

// testManifestRoundTrip stores a decoded Deployment and Service and reads them back equal,
// and checks that a status write does not bump generation while a spec change does.
func testManifestRoundTrip(t *testing.T, cli *clientv3.Client) {
	ctx := ctxT(t)
	s := registry.NewStores(cli, registry.Config{})
	objs, err := api.DecodeManifests(strings.NewReader(manifest))
	if err != nil {
		t.Fatal(err)
	}
	d, err := s.Deployments.Create(ctx, objs[0].(*api.Deployment))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Services.Create(ctx, objs[1].(*api.Service)); err != nil {
		t.Fatal(err)
	}
	got, err := s.Deployments.Get(ctx, "rt", "web")
	if err != nil {
		t.Fatal(err)
	}
	a, _ := json.Marshal(got)
	b, _ := json.Marshal(d)
	if string(a) != string(b) {
		t.Fatalf("read back\n%s\nwant\n%s", a, b)
	}
	got, err = s.Deployments.GuaranteedUpdate(ctx, "rt", "web", func(d *api.Deployment) (*api.Deployment, error) {
		d.Status.ObservedGeneration = d.Generation
		d.Status.Replicas = 2
		return d, nil
	})
	if err != nil || got.Generation != 1 || got.Status.Replicas != 2 {
		t.Fatalf("status change: generation %d, %v", got.Generation, err)
	}
	got, err = s.Deployments.GuaranteedUpdate(ctx, "rt", "web", func(d *api.Deployment) (*api.Deployment, error) {
		d.Spec.Template.Spec.Containers[0].Image = "nginx:2"
		return d, nil
	})
	if err != nil || got.Generation != 2 || got.Status.ObservedGeneration != 1 {
		t.Fatalf("spec change: generation %d, observed %d, %v", got.Generation, got.Status.ObservedGeneration, err)
	}
}

const manifest = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: rt
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: nginx:1
        resources:
          requests: {cpu: 100m, memory: 64Mi}
---
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: rt
spec:
  selector: {app: web}
  ports:
  - port: 80
    targetPort: 8080
`
