package deployment_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/keeldb/keel/internal/testcluster"
	"github.com/keeldb/keel/orchestrator/agent"
	"github.com/keeldb/keel/orchestrator/api"
	"github.com/keeldb/keel/orchestrator/controller/deployment"
	"github.com/keeldb/keel/orchestrator/controller/garbagecollector"
	"github.com/keeldb/keel/orchestrator/controller/replicaset"
	"github.com/keeldb/keel/orchestrator/labels"
	"github.com/keeldb/keel/orchestrator/registry"

	"github.com/keeldb/keel/orchestrator/internal/poll"
)

var errStop = errors.New("invariant violated")

func start(t *testing.T, ctx context.Context, fn func(context.Context) error) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- fn(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	})
}

// binder plays the scheduler until ctx ends: it binds unbound pods round-robin to the
// agent's nodes.
func binder(stores *registry.Stores, nodes []string) func(context.Context) error {
	return func(ctx context.Context) error {
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		i := 0
		for {
			select {
			case <-ctx.Done():
				return nil
			case <-tick.C:
			}
			l, err := stores.Pods.List(ctx, registry.ListOptions{})
			if err != nil {
				continue
			}
			for _, p := range l.Items {
				if p.Spec.NodeName != "" {
					continue
				}
				node := nodes[i%len(nodes)]
				i++
				_, _ = stores.Pods.GuaranteedUpdate(ctx, p.Namespace, p.Name, func(cur *api.Pod) (*api.Pod, error) {
					if cur.Spec.NodeName == "" {
						cur.Spec.NodeName = node
					}
					return cur, nil
				})
			}
		}
	}
}

type env struct {
	t      *testing.T
	ctx    context.Context
	stores *registry.Stores
}

func podReady(p *api.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == "Ready" {
			return c.Status == api.ConditionTrue
		}
	}
	return false
}

type podSummary struct {
	total, ready int
	images       map[string]int
}

func (e *env) pods(app string) podSummary {
	e.t.Helper()
	l, err := e.stores.Pods.List(e.ctx, registry.ListOptions{Namespace: "default", Selector: labels.SelectorFromSet(map[string]string{"app": app})})
	if err != nil {
		e.t.Fatal(err)
	}
	s := podSummary{images: map[string]int{}}
	for _, p := range l.Items {
		s.total++
		if podReady(p) {
			s.ready++
		}
		s.images[p.Spec.Containers[0].Image]++
	}
	return s
}

func (e *env) replicaSets(app string) []*api.ReplicaSet {
	e.t.Helper()
	l, err := e.stores.ReplicaSets.List(e.ctx, registry.ListOptions{Namespace: "default", Selector: labels.SelectorFromSet(map[string]string{"app": app})})
	if err != nil {
		e.t.Fatal(err)
	}
	return l.Items
}

func (e *env) setImage(name, image string) {
	e.t.Helper()
	_, err := e.stores.Deployments.GuaranteedUpdate(e.ctx, "default", name, func(cur *api.Deployment) (*api.Deployment, error) {
		cur.Spec.Template.Spec.Containers[0].Image = image
		if cur.Annotations == nil {
			cur.Annotations = map[string]string{}
		}
		cur.Annotations[deployment.ChangeCauseAnnotation] = "image " + image
		return cur, nil
	})
	if err != nil {
		e.t.Fatal(err)
	}
}

// rolledOut checks that the deployment is complete on image: status counts, one
// ReplicaSet with all replicas and the given revision, every pod ready on image.
func (e *env) rolledOut(name, image string, n int32, rev string) error {
	d, err := e.stores.Deployments.Get(e.ctx, "default", name)
	if err != nil {
		return err
	}
	s := d.Status
	if s.ObservedGeneration != d.Generation || s.Replicas != n || s.UpdatedReplicas != n || s.AvailableReplicas != n || s.UnavailableReplicas != 0 {
		return fmt.Errorf("deployment status %+v (generation %d)", s, d.Generation)
	}
	var active []string
	for _, rs := range e.replicaSets(name) {
		if *rs.Spec.Replicas > 0 || rs.Status.Replicas > 0 {
			active = append(active, fmt.Sprintf("%s=%d/%d rev %s image %s", rs.Name, *rs.Spec.Replicas, rs.Status.Replicas,
				rs.Annotations[deployment.RevisionAnnotation], rs.Spec.Template.Spec.Containers[0].Image))
		}
	}
	want := ""
	for _, rs := range e.replicaSets(name) {
		if rs.Spec.Template.Spec.Containers[0].Image == image {
			want = fmt.Sprintf("%s=%d/%d rev %s image %s", rs.Name, n, n, rev, image)
		}
	}
	if len(active) != 1 || active[0] != want {
		return fmt.Errorf("active replica sets %v, want [%s]", active, want)
	}
	if p := e.pods(name); p.total != int(n) || p.ready != int(n) || p.images[image] != int(n) {
		return fmt.Errorf("pods %+v, want %d ready on %s", p, n, image)
	}
	return nil
}

func newDeployment(name string, n int32, strategy api.DeploymentStrategy) *api.Deployment {
	return &api.Deployment{
		ObjectMeta: api.ObjectMeta{Name: name},
		Spec: api.DeploymentSpec{Replicas: &n, Strategy: strategy,
			Selector: &api.LabelSelector{MatchLabels: map[string]string{"app": name}},
			Template: api.PodTemplateSpec{ObjectMeta: api.ObjectMeta{Labels: map[string]string{"app": name}},
				Spec: api.PodSpec{Containers: []api.Container{{Name: "c", Image: "v1"}}}}},
	}
}

func TestDeployment(t *testing.T) {
	cl := testcluster.Start(t, 3)
	cli := cl.Client()
	ctx, cancel := context.WithTimeout(context.Background(), 80*time.Second)
	defer cancel()
	e := &env{t: t, ctx: ctx, stores: registry.NewStores(cli, registry.Config{})}
	a := agent.New(cli, agent.Config{NodeName: "n", Nodes: 2, HeartbeatInterval: time.Second})
	start(t, ctx, a.Run)
	start(t, ctx, binder(e.stores, a.NodeNames()))
	start(t, ctx, func(ctx context.Context) error { return replicaset.Run(ctx, cli, replicaset.Config{}) })
	start(t, ctx, func(ctx context.Context) error { return deployment.Run(ctx, cli, deployment.Config{}) })
	// Cascading deletion is the garbage collector's, as in the controller-manager.
	start(t, ctx, func(ctx context.Context) error { return garbagecollector.Run(ctx, cli, garbagecollector.Config{}) })

	t.Run("rolling update", func(t *testing.T) {
		e.t = t
		one, zero := api.FromInt(1), api.FromInt(0)
		d := newDeployment("web", 4, api.DeploymentStrategy{Type: api.RollingUpdateStrategy,
			RollingUpdate: &api.RollingUpdateDeployment{MaxSurge: &one, MaxUnavailable: &zero}})
		if _, err := e.stores.Deployments.Create(ctx, d); err != nil {
			t.Fatal(err)
		}
		poll.Eventually(t, 30*time.Second, func() error { return e.rolledOut("web", "v1", 4, "1") })
		e.setImage("web", "v2")
		sawBoth := false
		poll.Eventually(t, 40*time.Second, func() error {
			p := e.pods("web")
			if p.total > 5 || p.ready < 4 {
				return fmt.Errorf("%w: %d pods (max 5), %d ready (min 4)", errStop, p.total, p.ready)
			}
			sawBoth = sawBoth || p.images["v1"] > 0 && p.images["v2"] > 0
			return e.rolledOut("web", "v2", 4, "2")
		})
		if !sawBoth {
			t.Error("never saw old and new pods together: not a rolling update")
		}
	})

	t.Run("rollback reuses the old replica set", func(t *testing.T) {
		e.t = t
		before := len(e.replicaSets("web"))
		e.setImage("web", "v1")
		poll.Eventually(t, 40*time.Second, func() error {
			p := e.pods("web")
			if p.total > 5 || p.ready < 4 {
				return fmt.Errorf("%w: %d pods (max 5), %d ready (min 4)", errStop, p.total, p.ready)
			}
			return e.rolledOut("web", "v1", 4, "3")
		})
		if after := len(e.replicaSets("web")); after != before {
			t.Errorf("%d replica sets after rollback, want %d (no new one)", after, before)
		}
		for _, rs := range e.replicaSets("web") {
			img := rs.Spec.Template.Spec.Containers[0].Image
			if got := rs.Annotations[deployment.ChangeCauseAnnotation]; got != "image "+img {
				t.Errorf("replica set %s (%s): change-cause %q, want %q", rs.Name, img, got, "image "+img)
			}
		}
	})

	t.Run("recreate", func(t *testing.T) {
		e.t = t
		d := newDeployment("batch", 3, api.DeploymentStrategy{Type: api.RecreateStrategy})
		if _, err := e.stores.Deployments.Create(ctx, d); err != nil {
			t.Fatal(err)
		}
		poll.Eventually(t, 30*time.Second, func() error { return e.rolledOut("batch", "v1", 3, "1") })
		e.setImage("batch", "v2")
		poll.Eventually(t, 40*time.Second, func() error {
			if p := e.pods("batch"); p.images["v1"] > 0 && p.images["v2"] > 0 {
				return fmt.Errorf("%w: old and new pods together: %v", errStop, p.images)
			}
			return e.rolledOut("batch", "v2", 3, "2")
		})
	})

	t.Run("deleting a deployment deletes its replica sets and pods", func(t *testing.T) {
		e.t = t
		if _, err := e.stores.Deployments.Delete(ctx, "default", "batch", registry.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		poll.Eventually(t, 30*time.Second, func() error {
			rss, p := e.replicaSets("batch"), e.pods("batch")
			if len(rss) > 0 || p.total > 0 {
				return fmt.Errorf("%d replica sets, %d pods left", len(rss), p.total)
			}
			return nil
		})
		if got := len(e.replicaSets("web")); got != 2 {
			t.Errorf("web replica sets: got %d, want 2 (untouched)", got)
		}
	})
}
