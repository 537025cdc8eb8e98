package nodelifecycle_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/keeldb/keel/internal/testcluster"
	"github.com/keeldb/keel/orchestrator/agent"
	"github.com/keeldb/keel/orchestrator/api"
	"github.com/keeldb/keel/orchestrator/controller/nodelifecycle"
	"github.com/keeldb/keel/orchestrator/controller/replicaset"
	"github.com/keeldb/keel/orchestrator/events"
	"github.com/keeldb/keel/orchestrator/registry"

	"github.com/keeldb/keel/orchestrator/internal/poll"
)

// start runs fn in the background until the returned stop is called (or the test ends).
func start(t *testing.T, ctx context.Context, fn func(context.Context) error) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- fn(ctx) }()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	}
	t.Cleanup(stop)
	return stop
}

func nodeUsable(n *api.Node) bool {
	for _, t := range n.Spec.Taints {
		if t.Effect == api.TaintNoSchedule || t.Effect == api.TaintNoExecute {
			return false
		}
	}
	for _, c := range n.Status.Conditions {
		if c.Type == "Ready" {
			return c.Status == api.ConditionTrue
		}
	}
	return false
}

// bind plays the scheduler: it binds every unbound pod round-robin to the usable nodes.
func bind(ctx context.Context, stores *registry.Stores) error {
	nodes, err := stores.Nodes.List(ctx, registry.ListOptions{})
	if err != nil {
		return err
	}
	var usable []string
	for _, n := range nodes.Items {
		if nodeUsable(n) {
			usable = append(usable, n.Name)
		}
	}
	pods, err := stores.Pods.List(ctx, registry.ListOptions{})
	if err != nil {
		return err
	}
	i := 0
	for _, p := range pods.Items {
		if p.Spec.NodeName != "" || len(usable) == 0 {
			continue
		}
		node := usable[i%len(usable)]
		i++
		_, err := stores.Pods.GuaranteedUpdate(ctx, p.Namespace, p.Name, func(cur *api.Pod) (*api.Pod, error) {
			if cur.Spec.NodeName == "" {
				cur.Spec.NodeName = node
			}
			return cur, nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// TestNodeLossReschedules runs two agents, the ReplicaSet controller and the node
// lifecycle controller; when one agent stops, its nodes become unreachable and their pods
// are evicted and recreated on the other agent's node.
func TestNodeLossReschedules(t *testing.T) {
	cl := testcluster.Start(t, 3)
	cli := cl.Client()
	ctx, cancel := context.WithTimeout(context.Background(), 80*time.Second)
	defer cancel()
	stores := registry.NewStores(cli, registry.Config{})

	agentCfg := func(name string, nodes int) agent.Config {
		return agent.Config{NodeName: name, Nodes: nodes, HeartbeatInterval: 100 * time.Millisecond}
	}
	stopA := start(t, ctx, agent.New(cli, agentCfg("a", 2)).Run)
	start(t, ctx, agent.New(cli, agentCfg("b", 1)).Run)
	rec := events.NewRecorder(cli, events.Config{Component: "controller-manager"})
	start(t, ctx, rec.Run)
	start(t, ctx, func(ctx context.Context) error { return replicaset.Run(ctx, cli, replicaset.Config{}) })
	start(t, ctx, func(ctx context.Context) error {
		return nodelifecycle.Run(ctx, cli, nodelifecycle.Config{GracePeriod: 3 * time.Second,
			EvictionTimeout: time.Second, MonitorPeriod: 100 * time.Millisecond, Recorder: rec})
	})

	poll.Eventually(t, 20*time.Second, func() error { return countReadyNodes(ctx, stores, 3) })
	replicas, grace := int32(6), int64(1)
	rs, err := stores.ReplicaSets.Create(ctx, &api.ReplicaSet{
		ObjectMeta: api.ObjectMeta{Name: "web"},
		Spec: api.ReplicaSetSpec{Replicas: &replicas,
			Selector: &api.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: api.PodTemplateSpec{ObjectMeta: api.ObjectMeta{Labels: map[string]string{"app": "web"}},
				// Evicted pods are removed once this grace period is over.
				Spec: api.PodSpec{Containers: []api.Container{{Name: "c", Image: "nginx"}}, TerminationGracePeriodSeconds: &grace}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	var onA []string
	poll.Eventually(t, 30*time.Second, func() error {
		if err := bind(ctx, stores); err != nil {
			return err
		}
		byNode, err := runningByNode(ctx, stores)
		if err != nil {
			return err
		}
		if n := total(byNode); n != 6 {
			return fmt.Errorf("%d pods running (%v), want 6", n, byNode)
		}
		onA = append(byNode["a-0"], byNode["a-1"]...)
		return nil
	})
	if len(onA) == 0 {
		t.Fatal("no pod on agent a's nodes")
	}

	stopA()
	poll.Eventually(t, 30*time.Second, func() error {
		for _, name := range []string{"a-0", "a-1"} {
			n, err := stores.Nodes.Get(ctx, "", name)
			if err != nil {
				return err
			}
			if ready, tainted := readyOf(n), hasNoExecute(n); ready != api.ConditionUnknown || !tainted {
				return fmt.Errorf("node %s: Ready=%s, NoExecute unreachable taint %v", name, ready, tainted)
			}
		}
		return nil
	})
	poll.Eventually(t, 30*time.Second, func() error {
		if err := bind(ctx, stores); err != nil {
			return err
		}
		byNode, err := runningByNode(ctx, stores)
		if err != nil {
			return err
		}
		if len(byNode["b"]) != 6 || total(byNode) != 6 {
			return fmt.Errorf("running pods by node %v, want all 6 on b", byNode)
		}
		for _, name := range onA {
			if slices.Contains(byNode["b"], name) {
				return fmt.Errorf("pod %s from a lost node still exists", name)
			}
		}
		return nil
	})
	b, err := stores.Nodes.Get(ctx, "", "b")
	if err != nil {
		t.Fatal(err)
	}
	if readyOf(b) != api.ConditionTrue || len(b.Spec.Taints) != 0 {
		t.Errorf("live node b: Ready=%s taints %+v", readyOf(b), b.Spec.Taints)
	}
	// Events: NodeNotReady on each lost node, TaintManagerEviction on each evicted pod.
	var want []string
	for _, name := range []string{"a-0", "a-1"} {
		want = append(want, fmt.Sprintf("Node/%s NodeNotReady: Node %s status is now: NodeNotReady", name, name))
	}
	for _, name := range onA {
		want = append(want, fmt.Sprintf("Pod/%s TaintManagerEviction: Marking for deletion Pod default/%s", name, name))
	}
	poll.Eventually(t, 10*time.Second, func() error {
		l, err := stores.Events.List(ctx, registry.ListOptions{Namespace: "default"})
		if err != nil {
			return err
		}
		var got []string
		for _, ev := range l.Items {
			got = append(got, fmt.Sprintf("%s/%s %s: %s", ev.InvolvedObject.Kind, ev.InvolvedObject.Name, ev.Reason, ev.Message))
		}
		for _, w := range want {
			if !slices.Contains(got, w) {
				return fmt.Errorf("no event %q in %q", w, got)
			}
		}
		return nil
	})
	poll.Eventually(t, 30*time.Second, func() error {
		cur, err := stores.ReplicaSets.Get(ctx, "default", rs.Name)
		if err != nil {
			return err
		}
		if cur.Status.Replicas != 6 || cur.Status.ReadyReplicas != 6 {
			return fmt.Errorf("status %+v", cur.Status)
		}
		return nil
	})
}

func countReadyNodes(ctx context.Context, stores *registry.Stores, want int) error {
	l, err := stores.Nodes.List(ctx, registry.ListOptions{})
	if err != nil {
		return err
	}
	n := 0
	for _, node := range l.Items {
		if nodeUsable(node) {
			n++
		}
	}
	if n != want {
		return fmt.Errorf("%d ready nodes, want %d", n, want)
	}
	return nil
}

// runningByNode returns the names of the Running pods, grouped by node; every pod must be
// Running.
func runningByNode(ctx context.Context, stores *registry.Stores) (map[string][]string, error) {
	l, err := stores.Pods.List(ctx, registry.ListOptions{})
	if err != nil {
		return nil, err
	}
	out := map[string][]string{}
	var notRunning []string
	for _, p := range l.Items {
		if p.Status.Phase != api.PodRunning {
			notRunning = append(notRunning, p.Name+"@"+p.Spec.NodeName)
			continue
		}
		out[p.Spec.NodeName] = append(out[p.Spec.NodeName], p.Name)
	}
	if len(notRunning) > 0 {
		return nil, fmt.Errorf("pods not running: %s", strings.Join(notRunning, ", "))
	}
	return out, nil
}

func total(m map[string][]string) int {
	n := 0
	for _, v := range m {
		n += len(v)
	}
	return n
}

func readyOf(n *api.Node) string {
	for _, c := range n.Status.Conditions {
		if c.Type == "Ready" {
			return c.Status
		}
	}
	return ""
}

func hasNoExecute(n *api.Node) bool {
	for _, t := range n.Spec.Taints {
		if t.Key == nodelifecycle.TaintUnreachable && t.Effect == api.TaintNoExecute {
			return true
		}
	}
	return false
}
