package agent_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/keeldb/keel/internal/testcluster"
	"github.com/keeldb/keel/orchestrator/agent"
	"github.com/keeldb/keel/orchestrator/api"
	"github.com/keeldb/keel/orchestrator/internal/poll"
	"github.com/keeldb/keel/orchestrator/registry"
)

// TestSimMetrics: a sim agent reports a pod's annotated usage as PodMetrics and its node's
// sum as NodeMetrics; the pod's metrics go once the pod is deleted.
func TestSimMetrics(t *testing.T) {
	c := testcluster.Start(t, 1)
	cli := c.Client()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	stores := registry.NewStores(cli, registry.Config{})
	podMetrics := registry.New[api.PodMetrics](cli, registry.Config{})
	nodeMetrics := registry.New[api.NodeMetrics](cli, registry.Config{})
	a := agent.New(cli, agent.Config{NodeName: "sim", HeartbeatInterval: 100 * time.Millisecond,
		MetricsInterval: 200 * time.Millisecond})
	startAgent(t, ctx, a)

	for i, cpu := range []string{"250m", "1"} {
		p := &api.Pod{ObjectMeta: api.ObjectMeta{Name: fmt.Sprintf("p%d", i), Labels: map[string]string{"app": "burn"},
			Annotations: map[string]string{agent.SimulatedCPUAnnotation: cpu, agent.SimulatedMemoryAnnotation: "64Mi"}},
			Spec: api.PodSpec{NodeName: "sim", Containers: []api.Container{{Name: "c", Image: "x"}, {Name: "side", Image: "y"}}}}
		if _, err := stores.Pods.Create(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	poll.Eventually(t, 20*time.Second, func() error {
		m, err := podMetrics.Get(ctx, "default", "p0")
		if err != nil {
			return err
		}
		if len(m.Containers) != 2 || m.Containers[0].Usage["cpu"] != "250m" || m.Containers[0].Usage["memory"] != "65536Ki" ||
			m.Containers[1].Usage["cpu"] != "0m" || m.Labels["app"] != "burn" || m.Window != "200ms" {
			return fmt.Errorf("pod metrics %+v", m)
		}
		n, err := nodeMetrics.Get(ctx, "", "sim")
		if err != nil {
			return err
		}
		if n.Usage["cpu"] != "1250m" || n.Usage["memory"] != "131072Ki" {
			return fmt.Errorf("node usage %v, want 1250m and 131072Ki", n.Usage)
		}
		return nil
	})
	if _, err := stores.Pods.Delete(ctx, "default", "p0", registry.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	poll.Eventually(t, 20*time.Second, func() error {
		if _, err := podMetrics.Get(ctx, "default", "p0"); !errors.Is(err, registry.ErrNotFound) {
			return fmt.Errorf("p0's metrics still there (err %v)", err)
		}
		return nil
	})
	// Revoking each round's predecessor lease keeps the metrics rewritten since: p1's stay
	// through later rounds (each newer than the last).
	var last time.Time
	for range 3 {
		poll.Eventually(t, 20*time.Second, func() error {
			m, err := podMetrics.Get(ctx, "default", "p1")
			if err != nil {
				return err
			}
			if !m.CreationTimestamp.After(last) && !last.IsZero() {
				return fmt.Errorf("p1's metrics not rewritten since %v", last)
			}
			last = m.CreationTimestamp.Time
			return nil
		})
	}
}
