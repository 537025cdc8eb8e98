package garbagecollector_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/keeldb/keel/internal/testcluster"
	"github.com/keeldb/keel/orchestrator/api"
	"github.com/keeldb/keel/orchestrator/controller/garbagecollector"
	"github.com/keeldb/keel/orchestrator/internal/poll"
	"github.com/keeldb/keel/orchestrator/registry"
)

type env struct {
	t      *testing.T
	ctx    context.Context
	cli    *clientv3.Client
	stores *registry.Stores
}

// startGC runs a collector until the returned stop is called or t ends.
func startGC(t *testing.T, e *env) (stop func()) {
	ctx, cancel := context.WithCancel(e.ctx)
	done := make(chan error, 1)
	go func() { done <- garbagecollector.Run(ctx, e.cli, garbagecollector.Config{Workers: 2}) }()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}
	t.Cleanup(stop)
	return stop
}

func owner(obj api.Object) api.OwnerReference {
	t := true
	r := api.ResourceOf(obj)
	return api.OwnerReference{APIVersion: r.APIVersion, Kind: r.Kind, Name: obj.Meta().Name, UID: obj.Meta().UID, Controller: &t}
}

// create creates obj, retrying transient errors (a leader change under load); an
// AlreadyExists after a lost reply returns the stored object.
func create[T any, P registry.ObjectPtr[T]](e *env, s *registry.Store[T, P], obj P) P {
	e.t.Helper()
	var out P
	poll.Eventually(e.t, 10*time.Second, func() error {
		var err error
		out, err = s.Create(e.ctx, obj)
		if errors.Is(err, registry.ErrAlreadyExists) {
			out, err = s.Get(e.ctx, obj.Meta().Namespace, obj.Meta().Name)
		}
		return err
	})
	return out
}

// remove deletes ns/name, retrying transient errors.
func remove[T any, P registry.ObjectPtr[T]](e *env, s *registry.Store[T, P], ns, name string) {
	e.t.Helper()
	poll.Eventually(e.t, 10*time.Second, func() error {
		_, err := s.Delete(e.ctx, ns, name, registry.DeleteOptions{})
		if errors.Is(err, registry.ErrNotFound) {
			return nil
		}
		return err
	})
}

func (e *env) pod(ns, name string, owners ...api.OwnerReference) *api.Pod {
	e.t.Helper()
	return create(e, e.stores.Pods, &api.Pod{
		ObjectMeta: api.ObjectMeta{Namespace: ns, Name: name, OwnerReferences: owners},
		Spec:       api.PodSpec{Containers: []api.Container{{Name: "c", Image: "busybox"}}},
	})
}

func (e *env) replicaSet(ns, name string, owners ...api.OwnerReference) *api.ReplicaSet {
	e.t.Helper()
	zero := int32(0)
	ls := map[string]string{"rs": name}
	return create(e, e.stores.ReplicaSets, &api.ReplicaSet{
		ObjectMeta: api.ObjectMeta{Namespace: ns, Name: name, OwnerReferences: owners},
		Spec: api.ReplicaSetSpec{Replicas: &zero, Selector: &api.LabelSelector{MatchLabels: ls},
			Template: api.PodTemplateSpec{ObjectMeta: api.ObjectMeta{Labels: ls},
				Spec: api.PodSpec{Containers: []api.Container{{Name: "c", Image: "busybox"}}}}},
	})
}

func (e *env) deployment(ns, name string) *api.Deployment {
	e.t.Helper()
	ls := map[string]string{"d": name}
	return create(e, e.stores.Deployments, &api.Deployment{
		ObjectMeta: api.ObjectMeta{Namespace: ns, Name: name},
		Spec: api.DeploymentSpec{Selector: &api.LabelSelector{MatchLabels: ls},
			Template: api.PodTemplateSpec{ObjectMeta: api.ObjectMeta{Labels: ls},
				Spec: api.PodSpec{Containers: []api.Container{{Name: "c", Image: "busybox"}}}}},
	})
}

// names lists the pod and replica set names left in ns.
func (e *env) names(ns string) (pods, rss []string, err error) {
	pl, err := e.stores.Pods.List(e.ctx, registry.ListOptions{Namespace: ns})
	if err != nil {
		return nil, nil, err
	}
	rl, err := e.stores.ReplicaSets.List(e.ctx, registry.ListOptions{Namespace: ns})
	if err != nil {
		return nil, nil, err
	}
	for _, p := range pl.Items {
		pods = append(pods, p.Name)
	}
	for _, rs := range rl.Items {
		rss = append(rss, rs.Name)
	}
	return pods, rss, nil
}

// waitLeft polls until exactly the given pods and replica sets are left in ns.
func (e *env) waitLeft(ns string, pods, rss []string) {
	e.t.Helper()
	poll.Eventually(e.t, 20*time.Second, func() error {
		p, r, err := e.names(ns)
		if err != nil {
			return err
		}
		if fmt.Sprint(p) != fmt.Sprint(pods) || fmt.Sprint(r) != fmt.Sprint(rss) {
			return fmt.Errorf("left pods %v, replica sets %v; want pods %v, replica sets %v", p, r, pods, rss)
		}
		return nil
	})
}

func TestGarbageCollector(t *testing.T) {
	cl := testcluster.Start(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	top := t
	e := &env{t: t, ctx: ctx, cli: cl.Client(), stores: registry.NewStores(cl.Client(), registry.Config{})}

	t.Run("RestartCollectsDanglingDependents", func(t *testing.T) {
		e.t = t
		stop := startGC(t, e)
		rs := e.replicaSet("restart", "rs")
		e.pod("restart", "kept", owner(rs))
		stop()
		// While the collector is down: its owner is deleted, and a pod is created with an
		// owner that never existed.
		e.pod("restart", "owned", owner(rs))
		remove(e, e.stores.ReplicaSets, "restart", "rs")
		e.pod("restart", "never-owned", api.OwnerReference{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "ghost", UID: "no-such-uid"})
		e.pod("restart", "orphan")
		startGC(top, e) // it keeps running for the other subtests
		e.waitLeft("restart", []string{"orphan"}, nil)
	})

	t.Run("ReplicaSetPods", func(t *testing.T) {
		e.t = t
		rs := e.replicaSet("rs", "web")
		other := e.replicaSet("rs", "other")
		e.pod("rs", "web-1", owner(rs))
		e.pod("rs", "web-2", owner(rs))
		e.pod("rs", "other-1", owner(other))
		e.pod("rs", "orphan")
		remove(e, e.stores.ReplicaSets, "rs", "web")
		e.waitLeft("rs", []string{"orphan", "other-1"}, []string{"other"})
	})

	t.Run("DeploymentCascade", func(t *testing.T) {
		e.t = t
		d := e.deployment("deploy", "app")
		rs1 := e.replicaSet("deploy", "app-1", owner(d))
		rs2 := e.replicaSet("deploy", "app-2", owner(d))
		e.pod("deploy", "app-1-a", owner(rs1))
		e.pod("deploy", "app-2-a", owner(rs2))
		e.pod("deploy", "app-2-b", owner(rs2))
		e.pod("deploy", "orphan")
		e.waitLeft("deploy", []string{"app-1-a", "app-2-a", "app-2-b", "orphan"}, []string{"app-1", "app-2"})
		remove(e, e.stores.Deployments, "deploy", "app")
		e.waitLeft("deploy", []string{"orphan"}, nil)
	})

	t.Run("OwnerRecreated", func(t *testing.T) {
		e.t = t
		old := e.replicaSet("recreated", "rs")
		stale := owner(old)
		remove(e, e.stores.ReplicaSets, "recreated", "rs")
		cur := e.replicaSet("recreated", "rs")
		// A pod pointing at the old uid belongs to an owner that is gone, even though an
		// object of that kind and name exists.
		e.pod("recreated", "stale", stale)
		e.pod("recreated", "current", owner(cur))
		e.waitLeft("recreated", []string{"current"}, []string{"rs"})
	})

	t.Run("SomeOwnersGone", func(t *testing.T) {
		e.t = t
		a := e.replicaSet("multi", "a")
		b := e.replicaSet("multi", "b")
		refB := owner(b)
		refB.Controller = nil
		e.pod("multi", "shared", owner(a), refB)
		remove(e, e.stores.ReplicaSets, "multi", "b")
		poll.Eventually(t, 20*time.Second, func() error {
			p, err := e.stores.Pods.Get(ctx, "multi", "shared")
			if err != nil {
				return err
			}
			if len(p.OwnerReferences) != 1 || p.OwnerReferences[0].UID != a.UID {
				return fmt.Errorf("owner references %+v, want only a's", p.OwnerReferences)
			}
			return nil
		})
		if _, err := e.stores.Pods.Get(ctx, "multi", "shared"); errors.Is(err, registry.ErrNotFound) {
			t.Error("pod with a remaining owner was deleted")
		}
	})
}
