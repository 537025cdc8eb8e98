package agent

import (
	"context"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/keeldb/keel/internal/testcluster"
	"github.com/keeldb/keel/orchestrator/api"
	"github.com/keeldb/keel/orchestrator/registry"
)

// TestStatusBatch: statuses submitted together are written when each pod is as cached, and
// refused (for the caller's read + compare-and-swap) for a pod that changed since, without
// failing the others of its batch.
func TestStatusBatch(t *testing.T) {
	c := testcluster.Start(t, 1)
	cli := c.Client()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	stores := registry.NewStores(cli, registry.Config{})
	const n = 20
	var cached []*api.Pod
	for i := range n {
		p, err := stores.Pods.Create(ctx, &api.Pod{ObjectMeta: api.ObjectMeta{Name: fmt.Sprintf("p%d", i)},
			Spec: api.PodSpec{NodeName: "sim", Containers: []api.Container{{Name: "c", Image: "sim"}}}})
		if err != nil {
			t.Fatal(err)
		}
		cached = append(cached, p)
	}
	// p3 changes after the "cache" saw it.
	if _, err := stores.Pods.GuaranteedUpdate(ctx, "default", "p3", func(cur *api.Pod) (*api.Pod, error) {
		cur.Labels = map[string]string{"changed": "yes"}
		return cur, nil
	}); err != nil {
		t.Fatal(err)
	}
	b := newStatusBatcher(cli)
	bctx, bcancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { b.run(bctx) })
	defer func() { bcancel(); wg.Wait() }()

	written := make([]bool, n)
	var sub sync.WaitGroup
	for i, p := range cached {
		sub.Go(func() {
			next := api.DeepCopy(p)
			runningStatus(next, "10.0.0.1", time.Now())
			written[i] = b.submit(ctx, stores.Pods.Key(p.Namespace, p.Name), p, next)
		})
	}
	sub.Wait()
	for i, p := range cached {
		got, err := stores.Pods.Get(ctx, "default", p.Name)
		if err != nil {
			t.Fatal(err)
		}
		if i == 3 {
			if written[i] || got.Status.Phase == api.PodRunning || got.Labels["changed"] != "yes" {
				t.Fatalf("changed pod: written %v, phase %q, labels %v; want refused, its change kept", written[i], got.Status.Phase, got.Labels)
			}
			continue
		}
		if !written[i] || got.Status.Phase != api.PodRunning || got.Status.PodIP == "" || got.UID != p.UID {
			t.Fatalf("%s: written %v, phase %q, podIP %q; want Running", p.Name, written[i], got.Status.Phase, got.Status.PodIP)
		}
	}
}

// TestWithOwnStatus: writing a Running status into withOwnStatus's copy leaves the cached
// pod as it was.
func TestWithOwnStatus(t *testing.T) {
	p := &api.Pod{ObjectMeta: api.ObjectMeta{Name: "p", UID: "u"},
		Spec: api.PodSpec{NodeName: "sim", Containers: []api.Container{{Name: "c", Image: "sim"}}},
		Status: api.PodStatus{Phase: api.PodPending,
			Conditions:        []api.PodCondition{{Type: "PodScheduled", Status: api.ConditionTrue}, {Type: "Ready", Status: api.ConditionFalse}},
			ContainerStatuses: []api.ContainerStatus{{Name: "c", Image: "sim"}},
			PodIPs:            []api.PodIP{{IP: "10.0.0.9"}}}}
	before := api.DeepCopy(p)
	next := withOwnStatus(p)
	runningStatus(next, "10.0.0.1", time.Now())
	if !reflect.DeepEqual(p, before) {
		t.Fatalf("cached pod changed:\n%+v\nwas\n%+v", p.Status, before.Status)
	}
	if next.Status.Phase != api.PodRunning || !podReady(next) || next.Status.ContainerStatuses[0].State.Running == nil {
		t.Fatalf("copy not Running: %+v", next.Status)
	}
}
