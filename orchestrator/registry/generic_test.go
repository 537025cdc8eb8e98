package registry_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/keeldb/keel/internal/testcluster"
	"github.com/keeldb/keel/orchestrator/api"
	"github.com/keeldb/keel/orchestrator/registry"
)

// TestGenerics checks that every kind has a Generic store and that it round-trips an object
// through create, get, list, update and delete.
func TestGenerics(t *testing.T) {
	c := testcluster.Start(t, 1)
	gens := registry.Generics(c.Client(), registry.Config{})
	for _, r := range api.Resources() {
		g, ok := gens[r.Name]
		if !ok {
			t.Errorf("no Generic for %s", r.Name)
			continue
		}
		if g.Resource().Kind != r.Kind {
			t.Errorf("%s: Generic of %s", r.Name, g.Resource().Name)
		}
		if obj := g.New(); obj.TypeInfo().Kind != r.Kind || obj.TypeInfo().APIVersion != r.APIVersion {
			t.Errorf("%s: New() is %+v", r.Name, obj.TypeInfo())
		}
	}
	if len(gens) != len(api.Resources()) {
		t.Errorf("%d Generics for %d resources", len(gens), len(api.Resources()))
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	g := gens["configmaps"]
	cm := &api.ConfigMap{ObjectMeta: api.ObjectMeta{Namespace: "gen", Name: "a"}, Data: map[string]string{"k": "v"}}
	created, err := g.Create(ctx, cm)
	if err != nil {
		t.Fatal(err)
	}
	got, err := g.Get(ctx, "gen", "a")
	if err != nil || got.Meta().UID != created.Meta().UID {
		t.Fatalf("Get: %v, %v", got, err)
	}
	l, err := g.List(ctx, registry.ListOptions{Namespace: "gen"})
	if err != nil || len(l.Items) != 1 || l.Revision == 0 {
		t.Fatalf("List: %+v, %v", l, err)
	}
	got.(*api.ConfigMap).Data["k"] = "w"
	if _, err := g.Update(ctx, got); err != nil {
		t.Fatal(err)
	}
	if _, err := g.Update(ctx, got); !errors.Is(err, registry.ErrConflict) {
		t.Fatalf("stale Update: %v", err)
	}
	up, err := g.GuaranteedUpdate(ctx, "gen", "a", func(cur api.Object) (api.Object, error) {
		cur.Meta().Labels = map[string]string{"x": "y"}
		return cur, nil
	})
	if err != nil || up.Meta().Labels["x"] != "y" || up.(*api.ConfigMap).Data["k"] != "w" {
		t.Fatalf("GuaranteedUpdate: %+v, %v", up, err)
	}
	if _, err := g.Delete(ctx, "gen", "a", registry.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := g.Get(ctx, "gen", "a"); !errors.Is(err, registry.ErrNotFound) {
		t.Fatalf("Get after Delete: %v", err)
	}
}
