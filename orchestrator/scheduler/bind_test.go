package scheduler

import (
	"context"
	"strings"
	"testing"

	"github.com/keeldb/keel/internal/testcluster"
	"github.com/keeldb/keel/orchestrator/api"
	"github.com/keeldb/keel/orchestrator/registry"
)

// TestBindBatch writes a batch of bindings in one transaction, and falls back to one
// checked compare-and-swap per pod when a pod changed since the cache saw it.
func TestBindBatch(t *testing.T) {
	c := testcluster.Start(t, 3)
	cli := c.Client()
	ctx := context.Background()
	s := New(cli, Config{})
	pods := registry.New[api.Pod](cli, registry.Config{})
	create := func(name string) *api.Pod {
		t.Helper()
		p, err := pods.Create(ctx, &api.Pod{ObjectMeta: api.ObjectMeta{Namespace: "default", Name: name},
			Spec: api.PodSpec{Containers: []api.Container{{Name: "c", Image: "busybox"}}}})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	job := func(p *api.Pod, node string) bindJob {
		rec := recordOf(p)
		rec.node, rec.boundRV = node, bindPending
		s.mu.Lock()
		s.recordLocked(api.KeyFunc(p), rec)
		s.mu.Unlock()
		return bindJob{key: api.KeyFunc(p), pod: p, node: node, rec: rec}
	}
	check := func(name, node string) {
		t.Helper()
		p, err := pods.Get(ctx, "default", name)
		if err != nil {
			t.Fatal(err)
		}
		if p.Spec.NodeName != node || p.Status.Conditions[0].Type != ConditionPodScheduled || p.Status.Conditions[0].Status != api.ConditionTrue {
			t.Fatalf("%s: node %q, conditions %+v; want bound to %s and PodScheduled", name, p.Spec.NodeName, p.Status.Conditions, node)
		}
		s.mu.Lock()
		rec := s.records["default/"+name]
		s.mu.Unlock()
		if rec == nil || rec.boundRV != resourceVersion(p) {
			t.Fatalf("%s: record %+v, want boundRV %s", name, rec, p.ResourceVersion)
		}
	}

	t.Run("one transaction", func(t *testing.T) {
		a, b := create("a"), create("b")
		s.bindBatch(ctx, []bindJob{job(a, "n1"), job(b, "n2")})
		check("a", "n1")
		check("b", "n2")
		pa, _ := pods.Get(ctx, "default", "a")
		pb, _ := pods.Get(ctx, "default", "b")
		if pa.ResourceVersion != pb.ResourceVersion {
			t.Fatalf("bound at revisions %s and %s, want one transaction", pa.ResourceVersion, pb.ResourceVersion)
		}
		if pa.Generation != 2 {
			t.Fatalf("generation %d after binding, want 2", pa.Generation)
		}
	})
	t.Run("large pods split the batch", func(t *testing.T) {
		big := func(name string) *api.Pod {
			t.Helper()
			p, err := pods.Create(ctx, &api.Pod{ObjectMeta: api.ObjectMeta{Namespace: "default", Name: name,
				Annotations: map[string]string{"big": strings.Repeat("x", 300<<10)}},
				Spec: api.PodSpec{Containers: []api.Container{{Name: "c", Image: "busybox"}}}})
			if err != nil {
				t.Fatal(err)
			}
			return p
		}
		a, b := big("big-a"), big("big-b")
		s.bindBatch(ctx, []bindJob{job(a, "n1"), job(b, "n2")})
		check("big-a", "n1")
		check("big-b", "n2")
	})
	t.Run("stale pod falls back", func(t *testing.T) {
		stale, fresh := create("stale"), create("fresh")
		if _, err := pods.GuaranteedUpdate(ctx, "default", "stale", func(p *api.Pod) (*api.Pod, error) {
			p.Labels = map[string]string{"changed": "yes"}
			return p, nil
		}); err != nil {
			t.Fatal(err)
		}
		s.bindBatch(ctx, []bindJob{job(stale, "n1"), job(fresh, "n2")})
		check("stale", "n1")
		check("fresh", "n2")
		p, _ := pods.Get(ctx, "default", "stale")
		if p.Labels["changed"] != "yes" {
			t.Fatalf("the fallback lost the pod's change: labels %v", p.Labels)
		}
	})
	t.Run("already bound to the chosen node is bound", func(t *testing.T) {
		// An earlier attempt committed but its answer was lost: the retry finds the pod bound
		// to the node it chose and must not drop the assumption.
		p := create("landed")
		if _, err := pods.GuaranteedUpdate(ctx, "default", "landed", func(p *api.Pod) (*api.Pod, error) {
			p.Spec.NodeName = "n3"
			return p, nil
		}); err != nil {
			t.Fatal(err)
		}
		got, err := s.bind(ctx, p, "n3")
		if err != nil || got == nil || got.Spec.NodeName != "n3" || resourceVersion(got) <= 0 {
			t.Fatalf("bind: %+v, %v; want the pod bound to n3 with its resourceVersion", got, err)
		}
	})
	t.Run("bound meanwhile", func(t *testing.T) {
		p := create("taken")
		if _, err := pods.GuaranteedUpdate(ctx, "default", "taken", func(p *api.Pod) (*api.Pod, error) {
			p.Spec.NodeName = "other"
			return p, nil
		}); err != nil {
			t.Fatal(err)
		}
		s.bindBatch(ctx, []bindJob{job(p, "n1")})
		got, _ := pods.Get(ctx, "default", "taken")
		s.mu.Lock()
		rec := s.records["default/taken"]
		s.mu.Unlock()
		if got.Spec.NodeName != "other" || rec != nil {
			t.Fatalf("node %q, record %+v; want the other binding kept and the assumption dropped", got.Spec.NodeName, rec)
		}
	})
}
