package daemonset_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/keeldb/keel/internal/testcluster"
	"github.com/keeldb/keel/orchestrator/api"
	"github.com/keeldb/keel/orchestrator/controller/daemonset"
	"github.com/keeldb/keel/orchestrator/internal/poll"
	"github.com/keeldb/keel/orchestrator/registry"
)

// TestController runs the controller against an in-process Keel: a pod per node, named by
// its node affinity; a new node gets one, a node that stops matching loses it, and the
// status counts them. The test plays scheduler and agent where it needs pods Running.
func TestController(t *testing.T) {
	c := testcluster.Start(t, 3)
	cli := c.Client()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	st := registry.NewStores(cli, registry.Config{})
	addNode := func(name string, lbls map[string]string) {
		t.Helper()
		if _, err := st.Nodes.Create(ctx, &api.Node{ObjectMeta: api.ObjectMeta{Name: name, Labels: lbls}}); err != nil {
			t.Fatal(err)
		}
	}
	addNode("n1", map[string]string{"role": "edge"})
	addNode("n2", map[string]string{"role": "edge"})
	addNode("n3", map[string]string{"role": "core"})

	cctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- daemonset.Run(cctx, cli, daemonset.Config{}) }()
	defer func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()

	ds := newDS(func(d *api.DaemonSet) {
		d.UID = ""
		d.Spec.Template.Spec.NodeSelector = map[string]string{"role": "edge"}
	})
	ds, err := st.DaemonSets.Create(ctx, ds)
	if err != nil {
		t.Fatal(err)
	}
	// targets returns the nodes the DaemonSet's pods are meant for.
	targets := func() ([]string, []*api.Pod, error) {
		l, err := st.Pods.List(ctx, registry.ListOptions{Namespace: "default"})
		if err != nil {
			return nil, nil, err
		}
		var out []string
		for _, p := range l.Items {
			if p.DeletionTimestamp != nil {
				continue // terminating: no agent runs here to remove it
			}
			if ref := p.ControllerRef(); ref == nil || ref.UID != ds.UID {
				return nil, nil, fmt.Errorf("pod %s not controlled by the DaemonSet", p.Name)
			}
			out = append(out, daemonset.TargetNode(p))
		}
		slices.Sort(out)
		return out, l.Items, nil
	}
	waitTargets := func(want ...string) []*api.Pod {
		t.Helper()
		var pods []*api.Pod
		poll.Eventually(t, 30*time.Second, func() error {
			got, ps, err := targets()
			if err != nil {
				return err
			}
			if !slices.Equal(got, want) {
				return fmt.Errorf("daemon pods for %v, want %v", got, want)
			}
			pods = ps
			return nil
		})
		return pods
	}
	for _, p := range waitTargets("n1", "n2") {
		_, err := st.Pods.GuaranteedUpdate(ctx, "default", p.Name, func(cur *api.Pod) (*api.Pod, error) {
			cur.Spec.NodeName = daemonset.TargetNode(cur)
			cur.Status.Phase = api.PodRunning
			cur.Status.Conditions = []api.PodCondition{{Type: "Ready", Status: api.ConditionTrue, LastTransitionTime: api.NewTime(time.Now())}}
			return cur, nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	poll.Eventually(t, 30*time.Second, func() error {
		cur, err := st.DaemonSets.Get(ctx, "default", ds.Name)
		if err != nil {
			return err
		}
		want := api.DaemonSetStatus{DesiredNumberScheduled: 2, CurrentNumberScheduled: 2, NumberReady: 2, NumberAvailable: 2,
			UpdatedNumberScheduled: 2, ObservedGeneration: cur.Generation}
		if cur.Status != want {
			return fmt.Errorf("status %+v, want %+v", cur.Status, want)
		}
		return nil
	})

	addNode("n4", map[string]string{"role": "edge"})
	waitTargets("n1", "n2", "n4")

	if _, err := st.Nodes.GuaranteedUpdate(ctx, "", "n2", func(n *api.Node) (*api.Node, error) {
		n.Labels["role"] = "core"
		return n, nil
	}); err != nil {
		t.Fatal(err)
	}
	waitTargets("n1", "n4")
}
