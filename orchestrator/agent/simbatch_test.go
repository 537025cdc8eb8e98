package agent_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/keeldb/keel/internal/testcluster"
	"github.com/keeldb/keel/orchestrator/agent"
	"github.com/keeldb/keel/orchestrator/api"
	"github.com/keeldb/keel/orchestrator/internal/poll"
	"github.com/keeldb/keel/orchestrator/registry"
)

// TestSimCompletes: in the sim runtime a pod with restartPolicy Never or OnFailure runs and
// then succeeds (a Job's pod); one with Always stays Running.
func TestSimCompletes(t *testing.T) {
	c := testcluster.Start(t, 1)
	cli := c.Client()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	stores := registry.NewStores(cli, registry.Config{})
	startAgent(t, ctx, agent.New(cli, agent.Config{NodeName: "sim", HeartbeatInterval: 100 * time.Millisecond,
		StartDelay: 50 * time.Millisecond, Capacity: api.ResourceList{"cpu": "4", "memory": "8Gi", "pods": "110"}}))
	for _, rp := range []string{api.RestartNever, api.RestartOnFailure, api.RestartAlways} {
		if _, err := stores.Pods.Create(ctx, &api.Pod{ObjectMeta: api.ObjectMeta{Name: "p-" + map[string]string{
			api.RestartNever: "never", api.RestartOnFailure: "onfailure", api.RestartAlways: "always"}[rp]},
			Spec: api.PodSpec{NodeName: "sim", RestartPolicy: rp, Containers: []api.Container{{Name: "c", Image: "busybox"}}}}); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{"p-never", "p-onfailure"} {
		poll.Eventually(t, 20*time.Second, func() error {
			p, err := stores.Pods.Get(ctx, "default", name)
			if err != nil {
				return err
			}
			if p.Status.Phase != api.PodSucceeded {
				return fmt.Errorf("%s: phase %q", name, p.Status.Phase)
			}
			if term := p.Status.ContainerStatuses[0].State.Terminated; term == nil || term.ExitCode != 0 || term.Reason != "Completed" {
				return fmt.Errorf("%s: container %+v", name, p.Status.ContainerStatuses[0])
			}
			return nil
		})
	}
	poll.Eventually(t, 20*time.Second, func() error {
		p, err := stores.Pods.Get(ctx, "default", "p-always")
		if err != nil {
			return err
		}
		if p.Status.Phase != api.PodRunning {
			return fmt.Errorf("restartPolicy Always: phase %q, want Running", p.Status.Phase)
		}
		return nil
	})
}
