package registry

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/keeldb/keel/internal/testcluster"
	"github.com/keeldb/keel/orchestrator/api"
)

func newPod(ns, name string) *api.Pod {
	return &api.Pod{ObjectMeta: api.ObjectMeta{Namespace: ns, Name: name},
		Spec: api.PodSpec{Containers: []api.Container{{Name: "c", Image: "busybox"}}}}
}

// TestEmptyPolicyCache: a create in a namespace without LimitRange and ResourceQuota caches
// it, and the next creates skip the reads; a LimitRange or ResourceQuota created there by
// another Store on another client (which this Store's cache cannot know of) fails the
// guard of the next create, which is then admitted through the reads: the LimitRange's
// defaults applied, the quota charged and then enforced.
func TestEmptyPolicyCache(t *testing.T) {
	c := testcluster.Start(t, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pods := New[api.Pod](c.Client(), Config{})
	other := NewStores(c.Client(), Config{})

	cached := func(ns string) bool {
		_, ok := pods.empty.get(ns)
		return ok
	}
	orig := newPod("lr", "warm")
	got, err := pods.Create(ctx, orig)
	if err != nil {
		t.Fatal(err)
	}
	if !cached("lr") {
		t.Fatal("namespace without policies not cached")
	}
	if orig.UID != "" || orig.ResourceVersion != "" || got.UID == "" || got.ResourceVersion == "" {
		t.Errorf("create modified its argument or returned no identity: arg %+v, got %+v", orig.ObjectMeta, got.ObjectMeta)
	}
	if _, err := pods.Create(ctx, newPod("lr", "warm")); !errors.Is(err, ErrAlreadyExists) {
		t.Fatalf("duplicate create in a cached namespace: %v, want ErrAlreadyExists", err)
	}
	if !cached("lr") {
		t.Error("an existing key dropped the namespace from the cache")
	}

	lr := &api.LimitRange{ObjectMeta: api.ObjectMeta{Namespace: "lr", Name: "limits"}, Spec: api.LimitRangeSpec{Limits: []api.LimitRangeItem{
		{Type: api.LimitTypeContainer, Max: api.ResourceList{"memory": "1Gi"}, Default: api.ResourceList{"cpu": "500m", "memory": "256Mi"}},
	}}}
	if _, err := other.LimitRanges.Create(ctx, lr); err != nil {
		t.Fatal(err)
	}
	got, err = pods.Create(ctx, newPod("lr", "after"))
	if err != nil {
		t.Fatal(err)
	}
	if r := got.Spec.Containers[0].Resources; r.Limits["cpu"] != "500m" || r.Limits["memory"] != "256Mi" {
		t.Errorf("pod created after the LimitRange has resources %+v, want its defaults", r)
	}
	if cached("lr") {
		t.Error("namespace with a LimitRange still cached")
	}
	big := newPod("lr", "big")
	big.Spec.Containers[0].Resources.Limits = api.ResourceList{"memory": "2Gi"}
	if _, err := pods.Create(ctx, big); !errors.Is(err, ErrForbidden) {
		t.Errorf("pod over the LimitRange's max: %v, want forbidden", err)
	}

	if _, err := pods.Create(ctx, newPod("rq", "warm")); err != nil {
		t.Fatal(err)
	}
	if !cached("rq") {
		t.Fatal("namespace without policies not cached")
	}
	q := &api.ResourceQuota{ObjectMeta: api.ObjectMeta{Namespace: "rq", Name: "one-pod"},
		Spec: api.ResourceQuotaSpec{Hard: api.ResourceList{"pods": "1"}}}
	if _, err := other.ResourceQuotas.Create(ctx, q); err != nil {
		t.Fatal(err)
	}
	q.Status = api.ResourceQuotaStatus{Hard: q.Spec.Hard, Used: api.ResourceList{"pods": "0"}}
	if _, err := other.ResourceQuotas.UpdateStatus(ctx, q); err != nil {
		t.Fatal(err)
	}
	if _, err := pods.Create(ctx, newPod("rq", "charged")); err != nil {
		t.Fatal(err)
	}
	if got, err := other.ResourceQuotas.Get(ctx, "rq", "one-pod"); err != nil || got.Status.Used["pods"] != "1" {
		t.Errorf("quota after a create: %v, %v; want used pods=1", got.Status.Used, err)
	}
	if _, err := pods.Create(ctx, newPod("rq", "refused")); !errors.Is(err, ErrForbidden) {
		t.Errorf("create over the quota: %v, want forbidden", err)
	}
	if cached("rq") {
		t.Error("namespace with a ResourceQuota still cached")
	}
}

// TestEmptyPolicyCacheBounded: the cache holds at most maxEmptyNamespaces, keeps the later
// revision of a namespace, and drops only the revision a failed guard used.
func TestEmptyPolicyCacheBounded(t *testing.T) {
	c := newEmptyPolicies()
	for i := range maxEmptyNamespaces + 10 {
		c.put(string(rune('a'+i%26))+string(rune(i)), int64(i+1))
	}
	if n := c.len(); n != maxEmptyNamespaces {
		t.Errorf("%d entries, want the bound %d", n, maxEmptyNamespaces)
	}
	c.put("ns", 5)
	c.put("ns", 3)
	if rev, _ := c.get("ns"); rev != 5 {
		t.Errorf("rev %d after put 5 then 3, want 5", rev)
	}
	c.drop("ns", 3)
	if _, ok := c.get("ns"); !ok {
		t.Error("drop of an older revision removed a newer entry")
	}
	c.drop("ns", 5)
	if _, ok := c.get("ns"); ok {
		t.Error("drop at the recorded revision left the entry")
	}
}
