package registry_test

import (
	"context"
	"errors"
	"testing"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/keeldb/keel/internal/testcluster"
	"github.com/keeldb/keel/orchestrator/api"
	"github.com/keeldb/keel/orchestrator/registry"
)

// keyLease returns the store lease of key (NoLease when none), failing t when the key is
// missing.
func keyLease(t *testing.T, ctx context.Context, cli *clientv3.Client, key string) clientv3.LeaseID {
	t.Helper()
	resp, err := cli.Get(ctx, key)
	if err != nil || len(resp.Kvs) != 1 {
		t.Fatalf("get %s: %v %v", key, resp, err)
	}
	return clientv3.LeaseID(resp.Kvs[0].Lease)
}

// TestLeases checks that CreateWithLease attaches a store lease, that updates keep it,
// that GuaranteedUpdateWithLease moves the key to another lease, and that revoking the
// lease deletes the object.
func TestLeases(t *testing.T) {
	c := testcluster.Start(t, 1)
	cli := c.Client()
	ctx := ctxT(t)
	events := registry.New[api.Event](cli, registry.Config{})
	grant := func() clientv3.LeaseID {
		l, err := cli.Grant(ctx, 60)
		if err != nil {
			t.Fatal(err)
		}
		return l.ID
	}
	l1, l2 := grant(), grant()
	ev := &api.Event{ObjectMeta: api.ObjectMeta{Namespace: "default", Name: "p.1"},
		InvolvedObject: api.ObjectReference{Kind: "Pod", Name: "p"}, Reason: "R", Count: 1}
	if _, err := events.CreateWithLease(ctx, ev, l1); err != nil {
		t.Fatal(err)
	}
	key := events.Key("default", "p.1")
	if got := keyLease(t, ctx, cli, key); got != l1 {
		t.Fatalf("lease after CreateWithLease: got %x, want %x", got, l1)
	}
	bump := func(cur *api.Event) (*api.Event, error) { cur.Count++; return cur, nil }
	if _, err := events.GuaranteedUpdate(ctx, "default", "p.1", bump); err != nil {
		t.Fatal(err)
	}
	if got := keyLease(t, ctx, cli, key); got != l1 {
		t.Errorf("lease after GuaranteedUpdate: got %x, want %x (kept)", got, l1)
	}
	cur, err := events.Get(ctx, "default", "p.1")
	if err != nil {
		t.Fatal(err)
	}
	cur.Message = "m"
	if _, err := events.Update(ctx, cur); err != nil {
		t.Fatal(err)
	}
	if got := keyLease(t, ctx, cli, key); got != l1 {
		t.Errorf("lease after Update: got %x, want %x (kept)", got, l1)
	}
	out, err := events.GuaranteedUpdateWithLease(ctx, "default", "p.1", l2, bump)
	if err != nil {
		t.Fatal(err)
	}
	if out.Count != 3 {
		t.Errorf("count: got %d, want 3", out.Count)
	}
	if got := keyLease(t, ctx, cli, key); got != l2 {
		t.Errorf("lease after GuaranteedUpdateWithLease: got %x, want %x", got, l2)
	}
	// The key left l1: revoking it leaves the event; revoking l2 deletes it.
	if _, err := cli.Revoke(ctx, l1); err != nil {
		t.Fatal(err)
	}
	if _, err := events.Get(ctx, "default", "p.1"); err != nil {
		t.Fatalf("after revoking the old lease: %v", err)
	}
	if _, err := cli.Revoke(ctx, l2); err != nil {
		t.Fatal(err)
	}
	if _, err := events.Get(ctx, "default", "p.1"); !errors.Is(err, registry.ErrNotFound) {
		t.Fatalf("after revoking its lease: got %v, want ErrNotFound", err)
	}
	// A plain Create attaches no lease; a missing lease is an error.
	ev.Name = "p.2"
	if _, err := events.Create(ctx, ev); err != nil {
		t.Fatal(err)
	}
	if got := keyLease(t, ctx, cli, events.Key("default", "p.2")); got != clientv3.NoLease {
		t.Errorf("lease after Create: got %x, want none", got)
	}
	ev.Name = "p.3"
	if _, err := events.CreateWithLease(ctx, ev, l1); err == nil {
		t.Error("CreateWithLease with a revoked lease: got nil error")
	}
}
