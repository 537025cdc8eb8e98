package agent_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keeldb/keel/internal/testcluster"
	"github.com/keeldb/keel/orchestrator/agent"
	"github.com/keeldb/keel/orchestrator/api"
	"github.com/keeldb/keel/orchestrator/internal/poll"
	"github.com/keeldb/keel/orchestrator/registry"
)

// fedSource is a SignalSource the test feeds: a node of capacity bytes whose Running pods
// use what use says, by pod name. The host's real memory would make the test depend on
// whatever else runs on the machine.
type fedSource struct {
	capacity int64
	mu       sync.Mutex
	use      map[string]int64
}

func (s *fedSource) Observe(_ string, pods []*api.Pod) (agent.MemoryObservation, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	obs := agent.MemoryObservation{Capacity: s.capacity, Available: s.capacity, Pods: map[string][]agent.ContainerMemory{}}
	for _, p := range pods {
		u, ok := s.use[p.Name]
		if !ok || p.Status.Phase != api.PodRunning {
			continue
		}
		obs.Pods[p.UID] = []agent.ContainerMemory{{Name: p.Spec.Containers[0].Name, WorkingSet: u}}
		obs.Available -= u
	}
	return obs, nil
}

// TestProcessEviction evicts a BestEffort process pod on a process-runtime node whose
// memory signal the test feeds: its process is killed and not restarted, it is reported
// Failed/Evicted, and the Burstable pod within its request keeps running.
func TestProcessEviction(t *testing.T) {
	c := testcluster.Start(t, 1)
	cli := c.Client()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	stores := registry.NewStores(cli, registry.Config{})
	root := podRoot(t)
	src := &fedSource{capacity: 1 << 30, use: map[string]int64{"db": 500 << 20, "web": 400 << 20}}
	startAgent(t, ctx, agent.New(cli, agent.Config{NodeName: procNode, Runtime: agent.RuntimeProcess, HeartbeatInterval: 200 * time.Millisecond,
		MetricsInterval: -1,
		Process: agent.ProcessConfig{Address: procAddress, PodCIDR: procCIDR, RootDir: root, Port: -1, StopPodsOnExit: true,
			BackoffBase: 100 * time.Millisecond, BackoffMax: time.Second, PollInterval: 20 * time.Millisecond},
		Eviction: agent.EvictionConfig{Thresholds: thresholds(t, "memory.available<200Mi"), Interval: 20 * time.Millisecond,
			PressureTransitionPeriod: time.Minute, Source: src}}))

	for _, name := range []string{"db", "web"} {
		p := &api.Pod{ObjectMeta: api.ObjectMeta{Name: name}, Spec: api.PodSpec{NodeName: procNode,
			Containers: []api.Container{{Name: name, Image: "sleep", Command: []string{"sleep", "600"}}}}}
		if name == "db" {
			p.Spec.Containers[0].Resources.Requests = api.ResourceList{"memory": "512Mi"}
		}
		if _, err := stores.Pods.Create(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	pod := func(name string) *api.Pod {
		t.Helper()
		p, err := stores.Pods.Get(ctx, "default", name)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	// Both run before the threshold is crossed (one alone leaves enough), so the first to
	// be reported Running has a pid to check.
	var webPid int
	poll.Eventually(t, 20*time.Second, func() error {
		p := pod("web")
		if len(p.Status.ContainerStatuses) == 1 && strings.HasPrefix(p.Status.ContainerStatuses[0].ContainerID, "process://") {
			webPid = pidOf(t, p.Status.ContainerStatuses[0])
			return nil
		}
		if p.Status.Phase == api.PodFailed {
			return nil // already evicted, with its pid recorded in the status
		}
		return fmt.Errorf("web: %+v", p.Status.ContainerStatuses)
	})
	want := "The node was low on resource: memory. Threshold quantity: 200Mi, available: 124Mi. " +
		"Container web was using 400Mi, request is 0, has larger consumption of memory. "
	poll.Eventually(t, 20*time.Second, func() error {
		p := pod("web")
		if p.Status.Phase != api.PodFailed || p.Status.Reason != agent.EvictedReason || p.Status.Message != want {
			return fmt.Errorf("web: phase %s reason %q message %q", p.Status.Phase, p.Status.Reason, p.Status.Message)
		}
		cs := p.Status.ContainerStatuses
		if len(cs) != 1 || cs[0].State.Terminated == nil || cs[0].RestartCount != 0 {
			return fmt.Errorf("web containers: %+v", cs)
		}
		if webPid == 0 {
			webPid = pidOf(t, cs[0])
		}
		return nil
	})
	if processAlive(webPid) {
		t.Errorf("the evicted pod's process %d still runs", webPid)
	}
	if cond := condition(pod("web"), "DisruptionTarget"); cond != api.ConditionTrue {
		t.Errorf("web DisruptionTarget = %q", cond)
	}
	poll.Eventually(t, 20*time.Second, func() error {
		n, err := stores.Nodes.Get(ctx, "", procNode)
		if err != nil {
			return err
		}
		if cond, tainted := nodePressure(n); cond.Status != api.ConditionTrue || !tainted {
			return fmt.Errorf("MemoryPressure %+v, tainted %v", cond, tainted)
		}
		evs, err := stores.Events.List(ctx, registry.ListOptions{Namespace: "default"})
		if err != nil {
			return err
		}
		for _, e := range evs.Items {
			if e.InvolvedObject.Name == "web" && e.Reason == agent.EvictedReason {
				return nil
			}
		}
		return errors.New("no Evicted event for web")
	})
	// Under memory pressure a BestEffort pod bound here is refused, not started.
	late := &api.Pod{ObjectMeta: api.ObjectMeta{Name: "late"}, Spec: api.PodSpec{NodeName: procNode,
		Containers: []api.Container{{Name: "c", Image: "sleep", Command: []string{"sleep", "600"}}}}}
	if _, err := stores.Pods.Create(ctx, late); err != nil {
		t.Fatal(err)
	}
	poll.Eventually(t, 20*time.Second, func() error {
		p := pod("late")
		if p.Status.Phase != api.PodFailed || p.Status.Reason != agent.EvictedReason || p.Status.Message != "The node had condition: [MemoryPressure]. " {
			return fmt.Errorf("late: %s %q %q", p.Status.Phase, p.Status.Reason, p.Status.Message)
		}
		if len(p.Status.ContainerStatuses) != 0 {
			return fmt.Errorf("late was started: %+v", p.Status.ContainerStatuses)
		}
		return nil
	})
	db := pod("db")
	if db.Status.Phase != api.PodRunning || len(db.Status.ContainerStatuses) != 1 || !processAlive(pidOf(t, db.Status.ContainerStatuses[0])) {
		t.Errorf("db: phase %s, containers %+v", db.Status.Phase, db.Status.ContainerStatuses)
	}
	if web := pod("web"); web.Status.Phase != api.PodFailed || web.Status.ContainerStatuses[0].RestartCount != 0 {
		t.Errorf("the evicted pod was restarted: %s %+v", web.Status.Phase, web.Status.ContainerStatuses)
	}
}
