package replicaset_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/keeldb/keel/internal/testcluster"
	"github.com/keeldb/keel/orchestrator/api"
	"github.com/keeldb/keel/orchestrator/controller/garbagecollector"
	"github.com/keeldb/keel/orchestrator/controller/replicaset"
	"github.com/keeldb/keel/orchestrator/labels"
	"github.com/keeldb/keel/orchestrator/registry"

	"github.com/keeldb/keel/orchestrator/internal/poll"
)

type env struct {
	t      *testing.T
	ctx    context.Context
	stores *registry.Stores
}

func newRS(name string, replicas int32) *api.ReplicaSet {
	return &api.ReplicaSet{
		ObjectMeta: api.ObjectMeta{Name: name},
		Spec: api.ReplicaSetSpec{
			Replicas: &replicas,
			Selector: &api.LabelSelector{MatchLabels: map[string]string{"app": name}},
			Template: api.PodTemplateSpec{
				ObjectMeta: api.ObjectMeta{Labels: map[string]string{"app": name, "tier": "web"}},
				Spec:       api.PodSpec{Containers: []api.Container{{Name: "c", Image: "nginx"}}},
			},
		},
	}
}

// pods returns the pods labelled app=app, and those of them controlled by uid.
func (e *env) pods(app, uid string) (all, owned []*api.Pod) {
	e.t.Helper()
	sel := labels.SelectorFromSet(map[string]string{"app": app})
	l, err := e.stores.Pods.List(e.ctx, registry.ListOptions{Namespace: "default", Selector: sel})
	if err != nil {
		e.t.Fatal(err)
	}
	for _, p := range l.Items {
		if ref := p.ControllerRef(); ref != nil && ref.UID == uid {
			owned = append(owned, p)
		}
	}
	return l.Items, owned
}

// finalize plays the node agent: it removes the pods marked for deletion, as an agent does
// once their containers stopped.
func (e *env) finalize() {
	e.t.Helper()
	l, err := e.stores.Pods.List(e.ctx, registry.ListOptions{Namespace: "default"})
	if err != nil {
		e.t.Fatal(err)
	}
	for _, p := range l.Items {
		if p.DeletionTimestamp == nil {
			continue
		}
		_, err := e.stores.Pods.Delete(e.ctx, p.Namespace, p.Name, registry.DeleteOptions{UID: p.UID, GracePeriodSeconds: registry.GracePeriod(0)})
		if err != nil && !errors.Is(err, registry.ErrNotFound) && !errors.Is(err, registry.ErrConflict) {
			e.t.Fatal(err)
		}
	}
}

func names(ps []*api.Pod) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.Name)
	}
	slices.Sort(out)
	return out
}

// waitOwned waits until exactly n pods labelled app=name exist, all controlled by rs, and
// returns them.
func (e *env) waitOwned(rs *api.ReplicaSet, n int) []*api.Pod {
	e.t.Helper()
	var got []*api.Pod
	poll.Eventually(e.t, 30*time.Second, func() error {
		e.finalize()
		all, owned := e.pods(rs.Name, rs.UID)
		if len(all) != n || len(owned) != n {
			return fmt.Errorf("%d pods labelled, %d owned, want %d", len(all), len(owned), n)
		}
		got = owned
		return nil
	})
	return got
}

func (e *env) waitStatus(rs *api.ReplicaSet, replicas, ready int32) {
	e.t.Helper()
	poll.Eventually(e.t, 30*time.Second, func() error {
		cur, err := e.stores.ReplicaSets.Get(e.ctx, "default", rs.Name)
		if err != nil {
			return err
		}
		s := cur.Status
		if s.Replicas != replicas || s.ReadyReplicas != ready || s.AvailableReplicas != ready ||
			s.FullyLabeledReplicas != replicas || s.ObservedGeneration != cur.Generation {
			return fmt.Errorf("status %+v (generation %d), want replicas %d ready/available %d", s, cur.Generation, replicas, ready)
		}
		return nil
	})
}

func (e *env) setReplicas(name string, n int32) {
	e.t.Helper()
	_, err := e.stores.ReplicaSets.GuaranteedUpdate(e.ctx, "default", name, func(cur *api.ReplicaSet) (*api.ReplicaSet, error) {
		cur.Spec.Replicas = &n
		return cur, nil
	})
	if err != nil {
		e.t.Fatal(err)
	}
}

// markRunning binds p to a node and reports it Running and Ready, as scheduler and agent
// would.
func (e *env) markRunning(p *api.Pod) {
	e.t.Helper()
	_, err := e.stores.Pods.GuaranteedUpdate(e.ctx, p.Namespace, p.Name, func(cur *api.Pod) (*api.Pod, error) {
		cur.Spec.NodeName = "n1"
		cur.Status.Phase = api.PodRunning
		cur.Status.Conditions = []api.PodCondition{{Type: "Ready", Status: api.ConditionTrue, LastTransitionTime: api.NewTime(time.Now())}}
		return cur, nil
	})
	if err != nil {
		e.t.Fatal(err)
	}
}

func TestReplicaSet(t *testing.T) {
	c := testcluster.Start(t, 3)
	cli := c.Client()
	ctx, cancel := context.WithTimeout(context.Background(), 80*time.Second)
	defer cancel()
	e := &env{t: t, ctx: ctx, stores: registry.NewStores(cli, registry.Config{})}

	// Orphans created before any controller runs, for the adoption case.
	for i := range 2 {
		_, err := e.stores.Pods.Create(ctx, &api.Pod{
			ObjectMeta: api.ObjectMeta{Name: fmt.Sprintf("orphan-%d", i), Labels: map[string]string{"app": "adopt"}},
			Spec:       api.PodSpec{Containers: []api.Container{{Name: "c", Image: "nginx"}}}})
		if err != nil {
			t.Fatal(err)
		}
	}

	cctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- replicaset.Run(cctx, cli, replicaset.Config{}) }()
	// Cascading deletion is the garbage collector's, as in the controller-manager.
	gcDone := make(chan error, 1)
	go func() { gcDone <- garbagecollector.Run(cctx, cli, garbagecollector.Config{}) }()
	defer func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
		if err := <-gcDone; err != nil {
			t.Errorf("garbage collector: %v", err)
		}
	}()

	rs, err := e.stores.ReplicaSets.Create(ctx, newRS("web", 5))
	if err != nil {
		t.Fatal(err)
	}

	t.Run("creates replicas", func(t *testing.T) {
		e.t = t
		pods := e.waitOwned(rs, 5)
		for _, p := range pods {
			if p.Labels["tier"] != "web" || len(p.Spec.Containers) != 1 || p.Spec.Containers[0].Image != "nginx" {
				t.Errorf("pod %s not from the template: %+v %+v", p.Name, p.Labels, p.Spec.Containers)
			}
			ref := p.ControllerRef()
			if ref.Kind != "ReplicaSet" || ref.Name != "web" || ref.BlockOwnerDeletion == nil || !*ref.BlockOwnerDeletion {
				t.Errorf("pod %s owner reference %+v", p.Name, ref)
			}
		}
		e.waitStatus(rs, 5, 0)
		for _, p := range pods[:3] {
			e.markRunning(p)
		}
		e.waitStatus(rs, 5, 3)
	})

	t.Run("heals a deleted pod", func(t *testing.T) {
		e.t = t
		_, before := e.pods("web", rs.UID)
		i := slices.IndexFunc(before, func(p *api.Pod) bool { return p.Spec.NodeName != "" })
		victim := before[i]
		if _, err := e.stores.Pods.Delete(ctx, victim.Namespace, victim.Name, registry.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		// A bound pod is deleted gracefully: it stays, terminating, and no longer counts,
		// so its replacement is created at once.
		poll.Eventually(t, 30*time.Second, func() error {
			_, owned := e.pods("web", rs.UID)
			var terminating []string
			for _, p := range owned {
				if p.DeletionTimestamp != nil {
					terminating = append(terminating, p.Name)
				}
			}
			if len(owned) != 6 || !slices.Equal(terminating, []string{victim.Name}) {
				return fmt.Errorf("pods %v, terminating %v; want 6 with %s terminating", names(owned), terminating, victim.Name)
			}
			return nil
		})
		e.waitStatus(rs, 5, 2)
		terminatingReplicas := func(want int32) func() error {
			return func() error {
				cur, err := e.stores.ReplicaSets.Get(ctx, "default", rs.Name)
				if err != nil {
					return err
				}
				if got := cur.Status.TerminatingReplicas; got != want {
					return fmt.Errorf("status.terminatingReplicas %d, want %d", got, want)
				}
				return nil
			}
		}
		poll.Eventually(t, 30*time.Second, terminatingReplicas(1))
		poll.Eventually(t, 30*time.Second, func() error {
			e.finalize()
			all, owned := e.pods("web", rs.UID)
			if len(all) != 5 || len(owned) != 5 || slices.Contains(names(owned), victim.Name) {
				return fmt.Errorf("pods %v, want 5 without %s", names(all), victim.Name)
			}
			return nil
		})
		poll.Eventually(t, 30*time.Second, terminatingReplicas(0))
	})

	t.Run("scales down, deleting unscheduled pods first", func(t *testing.T) {
		e.t = t
		_, owned := e.pods("web", rs.UID)
		var running []string
		for _, p := range owned {
			if p.Status.Phase == api.PodRunning {
				running = append(running, p.Name)
			}
		}
		if len(running) < 2 {
			t.Fatalf("only %d running pods to keep: %v", len(running), running)
		}
		e.setReplicas("web", 2)
		pods := e.waitOwned(rs, 2)
		for _, p := range pods {
			if p.Status.Phase != api.PodRunning || p.Spec.NodeName == "" {
				t.Errorf("kept pod %s is %q on %q; scheduled running pods should be kept", p.Name, p.Status.Phase, p.Spec.NodeName)
			}
		}
		e.waitStatus(rs, 2, 2)
	})

	t.Run("releases a pod that stops matching", func(t *testing.T) {
		e.t = t
		_, owned := e.pods("web", rs.UID)
		p := owned[0]
		_, err := e.stores.Pods.GuaranteedUpdate(ctx, p.Namespace, p.Name, func(cur *api.Pod) (*api.Pod, error) {
			cur.Labels = map[string]string{"app": "debug"}
			return cur, nil
		})
		if err != nil {
			t.Fatal(err)
		}
		poll.Eventually(t, 30*time.Second, func() error {
			cur, err := e.stores.Pods.Get(ctx, p.Namespace, p.Name)
			if err != nil {
				return err
			}
			if ref := cur.ControllerRef(); ref != nil {
				return fmt.Errorf("pod %s still controlled by %s", p.Name, ref.Name)
			}
			return nil
		})
		e.waitOwned(rs, 2)
	})

	t.Run("adopts orphans", func(t *testing.T) {
		e.t = t
		ars, err := e.stores.ReplicaSets.Create(ctx, newRS("adopt", 3))
		if err != nil {
			t.Fatal(err)
		}
		pods := e.waitOwned(ars, 3)
		if got := names(pods); !slices.Contains(got, "orphan-0") || !slices.Contains(got, "orphan-1") {
			t.Errorf("owned pods %v, want both orphans adopted", got)
		}
	})

	t.Run("deletes the pods of a deleted replica set", func(t *testing.T) {
		e.t = t
		if _, err := e.stores.ReplicaSets.Delete(ctx, "default", "web", registry.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		poll.Eventually(t, 30*time.Second, func() error {
			e.finalize()
			if _, owned := e.pods("web", rs.UID); len(owned) > 0 {
				return fmt.Errorf("pods of the deleted replica set remain: %v", names(owned))
			}
			return nil
		})
		// The released pod is not the replica set's any more and stays.
		if all, _ := e.pods("debug", ""); len(all) != 1 {
			t.Errorf("released pods: got %d, want 1", len(all))
		}
	})

}
