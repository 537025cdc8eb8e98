package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/keeldb/keel/internal/testcluster"
	"github.com/keeldb/keel/orchestrator/api"
	"github.com/keeldb/keel/orchestrator/registry"
)

func eventually(t *testing.T, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 30s: %v", what, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestSchedulerCommand runs two `orch scheduler` instances: one leads and binds pods; once
// it is stopped the other takes over and binds the next pod.
func TestSchedulerCommand(t *testing.T) {
	c := testcluster.Start(t, 3)
	cli := c.Client()
	stores := registry.NewStores(cli, registry.Config{})
	ctx := context.Background()
	node, err := stores.Nodes.Create(ctx, &api.Node{ObjectMeta: api.ObjectMeta{Name: "n1"}})
	if err != nil {
		t.Fatal(err)
	}
	node.Status = api.NodeStatus{Allocatable: api.ResourceList{"cpu": "4", "memory": "8Gi", "pods": "10"},
		Conditions: []api.NodeCondition{{Type: "Ready", Status: api.ConditionTrue}}}
	if _, err := stores.Nodes.UpdateStatus(ctx, node); err != nil {
		t.Fatal(err)
	}

	type instance struct {
		cancel context.CancelFunc
		done   chan error
	}
	start := func(id string) *instance {
		ictx, cancel := context.WithCancel(ctx)
		in := &instance{cancel: cancel, done: make(chan error, 1)}
		go func() {
			in.done <- run(ictx, []string{"scheduler", "--id", id, "--endpoints", strings.Join(c.Endpoints(), ","), "--log-level", "error"}, io.Discard, io.Discard)
		}()
		t.Cleanup(func() { cancel(); <-in.done })
		return in
	}
	instances := map[string]*instance{"a": start("a"), "b": start("b")}

	bind := func(name string) {
		t.Helper()
		if _, err := stores.Pods.Create(ctx, &api.Pod{ObjectMeta: api.ObjectMeta{Namespace: "default", Name: name},
			Spec: api.PodSpec{Containers: []api.Container{{Name: "c", Image: "busybox"}}}}); err != nil {
			t.Fatal(err)
		}
		eventually(t, name+" bound", func() error {
			p, err := stores.Pods.Get(ctx, "default", name)
			if err != nil {
				return err
			}
			if p.Spec.NodeName != "n1" {
				return fmt.Errorf("node %q", p.Spec.NodeName)
			}
			return nil
		})
	}
	bind("p1")

	leader := func() string {
		resp, err := cli.Get(ctx, "/registry/leaderelection/kube-system/kube-scheduler/", clientv3.WithFirstCreate()...)
		if err != nil || len(resp.Kvs) == 0 {
			return ""
		}
		return string(resp.Kvs[0].Value)
	}
	first := leader()
	in, ok := instances[first]
	if !ok {
		t.Fatalf("leader %q, want a or b", first)
	}
	in.cancel()
	if err := <-in.done; err != nil {
		t.Fatalf("stopped scheduler returned %v", err)
	}
	in.done <- nil // for the cleanup
	eventually(t, "the other scheduler leads", func() error {
		if l := leader(); l == first || l == "" {
			return fmt.Errorf("leader %q", l)
		}
		return nil
	})
	bind("p2")
	// The Lease names the current leader.
	second := leader()
	eventually(t, "the Lease names "+second, func() error {
		l, err := stores.Leases.Get(ctx, "kube-system", "kube-scheduler")
		if err != nil {
			return err
		}
		if h := l.Spec.HolderIdentity; h == nil || *h != second || l.Spec.LeaseTransitions == nil || *l.Spec.LeaseTransitions != 1 {
			return fmt.Errorf("lease spec %+v", l.Spec)
		}
		return nil
	})
}

// TestComponents runs the whole system from the command line: an agent with three
// simulated nodes, a scheduler, a controller-manager, and `ctl apply` of a ReplicaSet. The
// components take the flags scripts/bench-orch.sh gives them with EXTERNAL=1.
func TestComponents(t *testing.T) {
	c := testcluster.Start(t, 3)
	eps := strings.Join(c.Endpoints(), ",")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 3)
	for _, args := range [][]string{
		{"agent", "--node", "sim", "--nodes", "3", "--capacity", "cpu=4,memory=8Gi,pods=20", "--labels", "pool=sim"},
		{"scheduler", "--bind-workers", "2"},
		{"controller-manager", "--concurrent-job-syncs", "8", "--controllers", "*,-cronjob"},
	} {
		go func() {
			done <- run(ctx, append(args, "--endpoints", eps, "--log-level", "error"), io.Discard, io.Discard)
		}()
	}
	t.Cleanup(func() {
		cancel()
		for range 3 {
			if err := <-done; err != nil {
				t.Errorf("component returned %v", err)
			}
		}
	})
	o := &orch{t: t, endpoints: eps, dir: t.TempDir()}
	rs := o.file("rs.yaml", `apiVersion: apps/v1
kind: ReplicaSet
metadata: {name: web}
spec:
  replicas: 6
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      nodeSelector: {pool: sim}
      containers:
      - name: web
        image: nginx
        resources: {requests: {cpu: 500m}}
`)
	wantLines(t, o.ok("ctl", "apply", "-f", rs), "replicaset.apps/web created")
	stores := registry.NewStores(c.Client(), registry.Config{})
	eventually(t, "6 pods running, 2 per node", func() error {
		l, err := stores.Pods.List(context.Background(), registry.ListOptions{Namespace: "default"})
		if err != nil {
			return err
		}
		perNode := map[string]int{}
		running := 0
		for _, p := range l.Items {
			perNode[p.Spec.NodeName]++
			if p.Status.Phase == api.PodRunning {
				running++
			}
		}
		if len(l.Items) != 6 || running != 6 || len(perNode) != 3 || perNode["sim-0"] != 2 || perNode["sim-1"] != 2 {
			return fmt.Errorf("%d pods, %d running, per node %v", len(l.Items), running, perNode)
		}
		return nil
	})
	out := o.ok("ctl", "get", "pods", "-o", "wide")
	if n := strings.Count(out, "Running"); n != 6 {
		t.Fatalf("get pods shows %d Running, want 6:\n%s", n, out)
	}

	// A Deployment goes through its ReplicaSet to running pods.
	deploy := o.file("deploy.yaml", strings.NewReplacer("kind: ReplicaSet", "kind: Deployment", "name: web", "name: api",
		"app: web", "app: api", "replicas: 6", "replicas: 3").Replace(`apiVersion: apps/v1
kind: ReplicaSet
metadata: {name: web}
spec:
  replicas: 6
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: nginx, resources: {requests: {cpu: 100m}}}]
`))
	wantLines(t, o.ok("ctl", "apply", "-f", deploy), "deployment.apps/api created")
	eventually(t, "3 api pods running", func() error {
		out := o.ok("ctl", "get", "pods", "-l", "app=api")
		if n := strings.Count(out, "Running"); n != 3 {
			return fmt.Errorf("%d running:\n%s", n, out)
		}
		return nil
	})
}
