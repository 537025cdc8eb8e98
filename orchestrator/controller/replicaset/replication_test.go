package replicaset_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/keeldb/keel/internal/testcluster"
	"github.com/keeldb/keel/orchestrator/api"
	"github.com/keeldb/keel/orchestrator/controller/garbagecollector"
	"github.com/keeldb/keel/orchestrator/controller/replicaset"
	"github.com/keeldb/keel/orchestrator/internal/poll"
	"github.com/keeldb/keel/orchestrator/registry"
)

// TestReplicationController runs the ReplicationManager with the garbage collector: an RC
// whose selector defaults to its template's labels creates its pods, replaces a deleted
// one, scales, and its pods go with it.
func TestReplicationController(t *testing.T) {
	c := testcluster.Start(t, 1)
	cli := c.Client()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	e := &env{t: t, ctx: ctx, stores: registry.NewStores(cli, registry.Config{})}
	rcs := registry.New[api.ReplicationController](cli, registry.Config{})

	cctx, stop := context.WithCancel(ctx)
	done := make(chan error, 2)
	go func() { done <- replicaset.RunReplicationManager(cctx, cli, replicaset.Config{}) }()
	go func() { done <- garbagecollector.Run(cctx, cli, garbagecollector.Config{}) }()
	defer func() {
		stop()
		for range 2 {
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		}
	}()

	three := int32(3)
	rc, err := rcs.Create(ctx, &api.ReplicationController{
		ObjectMeta: api.ObjectMeta{Name: "guestbook"},
		Spec: api.ReplicationControllerSpec{Replicas: &three, Template: &api.PodTemplateSpec{
			ObjectMeta: api.ObjectMeta{Labels: map[string]string{"app": "guestbook"}},
			Spec:       api.PodSpec{Containers: []api.Container{{Name: "c", Image: "nginx"}}},
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if rc.Spec.Selector["app"] != "guestbook" || rc.Labels["app"] != "guestbook" {
		t.Fatalf("selector %v, labels %v; want both defaulted to the template's labels", rc.Spec.Selector, rc.Labels)
	}
	waitOwned := func(n int) []*api.Pod {
		t.Helper()
		var got []*api.Pod
		poll.Eventually(t, 30*time.Second, func() error {
			all, owned := e.pods("guestbook", rc.UID)
			if len(all) != n || len(owned) != n {
				return fmt.Errorf("%d pods labelled, %d owned, want %d", len(all), len(owned), n)
			}
			got = owned
			return nil
		})
		return got
	}
	pods := waitOwned(3)
	if ref := pods[0].ControllerRef(); ref.Kind != "ReplicationController" || ref.APIVersion != "v1" {
		t.Errorf("owner reference %+v, want ReplicationController v1", ref)
	}
	if _, err := e.stores.Pods.Delete(ctx, "default", pods[0].Name, registry.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	poll.Eventually(t, 30*time.Second, func() error {
		_, owned := e.pods("guestbook", rc.UID)
		for _, p := range owned {
			if p.Name == pods[0].Name {
				return fmt.Errorf("deleted pod %s still there", p.Name)
			}
		}
		if len(owned) != 3 {
			return fmt.Errorf("%d pods, want 3", len(owned))
		}
		return nil
	})
	if _, err := rcs.GuaranteedUpdate(ctx, "default", "guestbook", func(cur *api.ReplicationController) (*api.ReplicationController, error) {
		one := int32(1)
		cur.Spec.Replicas = &one
		return cur, nil
	}); err != nil {
		t.Fatal(err)
	}
	waitOwned(1)
	poll.Eventually(t, 30*time.Second, func() error {
		cur, err := rcs.Get(ctx, "default", "guestbook")
		if err != nil {
			return err
		}
		if cur.Status.Replicas != 1 || cur.Status.ObservedGeneration != cur.Generation {
			return fmt.Errorf("status %+v, want replicas 1 at generation %d", cur.Status, cur.Generation)
		}
		return nil
	})
	if _, err := rcs.Delete(ctx, "default", "guestbook", registry.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	poll.Eventually(t, 30*time.Second, func() error {
		if all, _ := e.pods("guestbook", rc.UID); len(all) != 0 {
			return fmt.Errorf("%d pods left after the RC's deletion", len(all))
		}
		return nil
	})
}
