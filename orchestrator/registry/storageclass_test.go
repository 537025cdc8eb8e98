package registry_test

import (
	"testing"

	"github.com/keeldb/keel/internal/testcluster"
	"github.com/keeldb/keel/orchestrator/api"
	"github.com/keeldb/keel/orchestrator/registry"
)

// TestClaimGetsTheDefaultStorageClass: as Kubernetes' DefaultStorageClass admission, a claim
// created without storageClassName gets the default class's name; an explicit "" (no class)
// and a named class are kept, and without a default class nothing is set.
func TestClaimGetsTheDefaultStorageClass(t *testing.T) {
	c := testcluster.Start(t, 1)
	ctx := ctxT(t)

	claims := registry.New[api.PersistentVolumeClaim](c.Client(), registry.Config{})
	claim := func(name string, class *string) *api.PersistentVolumeClaim {
		t.Helper()
		pvc := &api.PersistentVolumeClaim{ObjectMeta: api.ObjectMeta{Namespace: "default", Name: name},
			Spec: api.PersistentVolumeClaimSpec{AccessModes: []string{"ReadWriteOnce"}, StorageClassName: class,
				Resources: api.VolumeResourceRequirements{Requests: api.ResourceList{"storage": "1Gi"}}}}
		got, err := claims.Create(ctx, pvc)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	className := func(p *api.PersistentVolumeClaim) string {
		if p.Spec.StorageClassName == nil {
			return "<nil>"
		}
		return *p.Spec.StorageClassName
	}

	if got := className(claim("before", nil)); got != "<nil>" {
		t.Fatalf("without a default class: storageClassName %q, want unset", got)
	}
	classes := registry.New[api.StorageClass](c.Client(), registry.Config{})
	if _, err := classes.Create(ctx, api.DefaultLocalPathClass()); err != nil {
		t.Fatal(err)
	}
	empty, named := "", "fast"
	for _, tc := range []struct {
		name  string
		class *string
		want  string
	}{{"unset", nil, api.DefaultStorageClassName}, {"none", &empty, ""}, {"named", &named, "fast"}} {
		if got := className(claim(tc.name, tc.class)); got != tc.want {
			t.Errorf("claim %s: storageClassName %q, want %q", tc.name, got, tc.want)
		}
	}
}
