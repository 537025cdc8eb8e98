package agent_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keeldb/keel/internal/testcluster"
	"github.com/keeldb/keel/orchestrator/agent"
	"github.com/keeldb/keel/orchestrator/api"
	"github.com/keeldb/keel/orchestrator/internal/poll"
	"github.com/keeldb/keel/orchestrator/registry"
)

// TestPodMaxPids runs a pod on a process-runtime node with a pod pids limit of 12: the
// shell forks eleven children, the twelfth fork is refused and the shell fails (the shim,
// outside the pod's pids cgroup, does not count). Needs root and a pids controller.
func TestPodMaxPids(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("creating cgroups needs root")
	}
	_, v1 := os.Stat("/sys/fs/cgroup/pids/cgroup.procs")
	b, _ := os.ReadFile("/sys/fs/cgroup/cgroup.controllers")
	if v1 != nil && !strings.Contains(string(b), "pids") {
		t.Skip("no pids cgroup controller")
	}
	c := testcluster.Start(t, 1)
	cli := c.Client()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	stores := registry.NewStores(cli, registry.Config{})
	root := podRoot(t)
	startAgent(t, ctx, agent.New(cli, agent.Config{NodeName: procNode, Runtime: agent.RuntimeProcess, HeartbeatInterval: 200 * time.Millisecond,
		MetricsInterval: -1,
		Process: agent.ProcessConfig{Address: procAddress, PodCIDR: procCIDR, RootDir: root, Port: -1, StopPodsOnExit: true,
			PollInterval: 20 * time.Millisecond, PodMaxPids: 12}}))
	p := &api.Pod{ObjectMeta: api.ObjectMeta{Name: "forker"}, Spec: api.PodSpec{NodeName: procNode, RestartPolicy: api.RestartNever,
		Containers: []api.Container{{Name: "c", Image: "sh", Command: []string{"sh", "-c",
			"for i in $(seq 1 20); do sleep 300 & echo forked $i; done; echo all forked"}}}}}
	if _, err := stores.Pods.Create(ctx, p); err != nil {
		t.Fatal(err)
	}
	poll.Eventually(t, 30*time.Second, func() error {
		got, err := stores.Pods.Get(ctx, "default", "forker")
		if err != nil {
			return err
		}
		if got.Status.Phase != api.PodFailed {
			return fmt.Errorf("phase %s, containers %+v", got.Status.Phase, got.Status.ContainerStatuses)
		}
		return nil
	})
	logs, _ := filepath.Glob(filepath.Join(root, "pods", "*", "c", "0.log"))
	if len(logs) != 1 {
		t.Fatalf("logs %v", logs)
	}
	out, err := os.ReadFile(logs[0])
	if err != nil {
		t.Fatal(err)
	}
	if s := string(out); !strings.Contains(s, "forked 11\n") || !strings.Contains(s, "Cannot fork") || strings.Contains(s, "forked 12") {
		t.Errorf("the pod forked past its pids limit:\n%s", s)
	}
}
