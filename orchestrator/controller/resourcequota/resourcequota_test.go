package resourcequota_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"testing"
	"time"

	"github.com/keeldb/keel/internal/testcluster"
	"github.com/keeldb/keel/orchestrator/api"
	"github.com/keeldb/keel/orchestrator/controller/resourcequota"
	"github.com/keeldb/keel/orchestrator/internal/poll"
	"github.com/keeldb/keel/orchestrator/registry"
)

func pod(name string) *api.Pod {
	return &api.Pod{ObjectMeta: api.ObjectMeta{Namespace: "default", Name: name},
		Spec: api.PodSpec{Containers: []api.Container{{Name: "c", Image: "x",
			Resources: api.ResourceRequirements{Requests: api.ResourceList{"cpu": "250m"}}}}}}
}

// TestRecomputesUsed: the controller fills status (hard and used) of a new quota from the
// objects already there, releases the usage of a deleted pod, of a pod that Succeeded and
// of a deleted ConfigMap (this one at the periodic resync), so creates refused at the limit
// succeed again.
func TestRecomputesUsed(t *testing.T) {
	c := testcluster.Start(t, 1)
	cli := c.Client()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	st := registry.NewStores(cli, registry.Config{})
	cms := registry.New[api.ConfigMap](cli, registry.Config{})

	for _, n := range []string{"a", "b"} {
		if _, err := st.Pods.Create(ctx, pod(n)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := cms.Create(ctx, &api.ConfigMap{ObjectMeta: api.ObjectMeta{Namespace: "default", Name: "cm"}}); err != nil {
		t.Fatal(err)
	}
	hard := api.ResourceList{"pods": "2", "requests.cpu": "1", "count/configmaps": "1"}
	if _, err := st.ResourceQuotas.Create(ctx, &api.ResourceQuota{ObjectMeta: api.ObjectMeta{Namespace: "default", Name: "q"},
		Spec: api.ResourceQuotaSpec{Hard: hard}}); err != nil {
		t.Fatal(err)
	}

	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- resourcequota.Run(runCtx, cli, resourcequota.Config{ResyncPeriod: 200 * time.Millisecond})
	}()
	defer func() {
		stop()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()

	waitUsed := func(want api.ResourceList) {
		t.Helper()
		poll.Eventually(t, 20*time.Second, func() error {
			q, err := st.ResourceQuotas.Get(ctx, "default", "q")
			if err != nil {
				return err
			}
			if !maps.Equal(q.Status.Hard, hard) || !maps.Equal(q.Status.Used, want) {
				return fmt.Errorf("status %+v, want hard %v used %v", q.Status, hard, want)
			}
			return nil
		})
	}
	waitUsed(api.ResourceList{"pods": "2", "requests.cpu": "500m", "count/configmaps": "1"})

	if _, err := st.Pods.Create(ctx, pod("c")); !errors.Is(err, registry.ErrForbidden) {
		t.Fatalf("third pod: %v, want forbidden", err)
	}
	if _, err := st.Pods.Delete(ctx, "default", "a", registry.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitUsed(api.ResourceList{"pods": "1", "requests.cpu": "250m", "count/configmaps": "1"})
	if _, err := st.Pods.Create(ctx, pod("c")); err != nil {
		t.Fatalf("pod after a release: %v", err)
	}

	// A pod that ended no longer counts.
	if _, err := st.Pods.GuaranteedUpdate(ctx, "default", "b", func(p *api.Pod) (*api.Pod, error) {
		p.Status.Phase = "Succeeded"
		return p, nil
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := cms.Delete(ctx, "default", "cm", registry.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitUsed(api.ResourceList{"pods": "1", "requests.cpu": "250m", "count/configmaps": "0"})
}
