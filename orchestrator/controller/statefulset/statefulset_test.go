package statefulset_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/keeldb/keel/internal/testcluster"
	"github.com/keeldb/keel/orchestrator/api"
	"github.com/keeldb/keel/orchestrator/controller/statefulset"
	"github.com/keeldb/keel/orchestrator/internal/poll"
	"github.com/keeldb/keel/orchestrator/registry"
)

// TestController runs the controller against an in-process Keel and plays scheduler and
// agent: web-1 is created only once web-0 is Running and Ready, and the status follows.
func TestController(t *testing.T) {
	c := testcluster.Start(t, 3)
	cli := c.Client()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	st := registry.NewStores(cli, registry.Config{})
	cctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- statefulset.Run(cctx, cli, statefulset.Config{}) }()
	defer func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()

	sts := newSTS(2, nil)
	sts.UID = ""
	sts, err := st.StatefulSets.Create(ctx, sts)
	if err != nil {
		t.Fatal(err)
	}
	podNames := func() ([]string, error) {
		l, err := st.Pods.List(ctx, registry.ListOptions{Namespace: "default"})
		if err != nil {
			return nil, err
		}
		var out []string
		for _, p := range l.Items {
			out = append(out, p.Name)
		}
		slices.Sort(out)
		return out, nil
	}
	waitPods := func(want ...string) {
		t.Helper()
		poll.Eventually(t, 30*time.Second, func() error {
			got, err := podNames()
			if err != nil {
				return err
			}
			if !slices.Equal(got, want) {
				return fmt.Errorf("pods %v, want %v", got, want)
			}
			return nil
		})
	}
	run := func(name string) {
		t.Helper()
		_, err := st.Pods.GuaranteedUpdate(ctx, "default", name, func(cur *api.Pod) (*api.Pod, error) {
			cur.Spec.NodeName = "n1"
			cur.Status.Phase = api.PodRunning
			cur.Status.Conditions = []api.PodCondition{{Type: "Ready", Status: api.ConditionTrue, LastTransitionTime: api.NewTime(time.Now())}}
			return cur, nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	waitPods("web-0")
	// web-1 waits for web-0: a sync on web-0's Pending updates creates nothing.
	if _, err := st.Pods.GuaranteedUpdate(ctx, "default", "web-0", func(cur *api.Pod) (*api.Pod, error) {
		cur.Status.Phase = api.PodPending
		return cur, nil
	}); err != nil {
		t.Fatal(err)
	}
	poll.Eventually(t, 30*time.Second, func() error {
		cur, err := st.StatefulSets.Get(ctx, "default", sts.Name)
		if err != nil {
			return err
		}
		if cur.Status.Replicas != 1 || cur.Status.ObservedGeneration != cur.Generation || cur.Status.UpdateRevision != statefulset.Revision(cur) {
			return fmt.Errorf("status %+v", cur.Status)
		}
		return nil
	})
	if got, err := podNames(); err != nil || !slices.Equal(got, []string{"web-0"}) {
		t.Fatalf("before web-0 is Ready: pods %v, %v", got, err)
	}
	run("web-0")
	waitPods("web-0", "web-1")
	run("web-1")
	poll.Eventually(t, 30*time.Second, func() error {
		cur, err := st.StatefulSets.Get(ctx, "default", sts.Name)
		if err != nil {
			return err
		}
		s := cur.Status
		if s.Replicas != 2 || s.ReadyReplicas != 2 || s.CurrentReplicas != 2 || s.UpdatedReplicas != 2 || s.CurrentRevision != s.UpdateRevision {
			return fmt.Errorf("status %+v", s)
		}
		return nil
	})
}
