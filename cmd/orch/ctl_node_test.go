package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/keeldb/keel/orchestrator/api"
	"github.com/keeldb/keel/orchestrator/registry"
)

func TestCordon(t *testing.T) {
	o, st := startCtl(t)
	ctx := context.Background()
	mustGet[*api.Node](t)(st.Nodes.Create(ctx, &api.Node{ObjectMeta: api.ObjectMeta{Name: "n1"}}))
	unschedulable := func() bool {
		return mustGet[*api.Node](t)(st.Nodes.Get(ctx, "", "n1")).Spec.Unschedulable
	}
	wantLines(t, o.ok("ctl", "cordon", "n1"), "node/n1 cordoned")
	if !unschedulable() {
		t.Fatal("cordon did not set spec.unschedulable")
	}
	wantLines(t, o.ok("ctl", "cordon", "node/n1"), "node/n1 already cordoned")
	wantTable(t, o.ok("ctl", "get", "nodes"), "NAME STATUS ROLES AGE VERSION", `n1 Unknown,SchedulingDisabled <none> \d+s <none>`)
	wantLines(t, o.ok("ctl", "uncordon", "n1"), "node/n1 uncordoned")
	if unschedulable() {
		t.Fatal("uncordon did not clear spec.unschedulable")
	}
	wantLines(t, o.ok("ctl", "uncordon", "n1"), "node/n1 already uncordoned")
	if _, _, err := o.run("ctl", "cordon", "missing"); !errors.Is(err, registry.ErrNotFound) {
		t.Fatalf("cordon of a missing node: %v", err)
	}
}

func TestDrain(t *testing.T) {
	o, st := startCtl(t)
	ctx := context.Background()
	for _, n := range []string{"n1", "n2"} {
		mustGet[*api.Node](t)(st.Nodes.Create(ctx, &api.Node{ObjectMeta: api.ObjectMeta{Name: n}}))
	}
	yes := true
	ownedBy := func(kind string) func(p *api.Pod) {
		return func(p *api.Pod) {
			p.OwnerReferences = []api.OwnerReference{{APIVersion: "apps/v1", Kind: kind, Name: "x", UID: "uid-x", Controller: &yes}}
		}
	}
	on := func(node string) func(p *api.Pod) { return func(p *api.Pod) { p.Spec.NodeName = node } }
	create := func(p *api.Pod) *api.Pod { t.Helper(); return mustGet[*api.Pod](t)(st.Pods.Create(ctx, p)) }
	create(testPod("owned", on("n1"), ownedBy("ReplicaSet")))
	create(testPod("bare", on("n1")))
	create(testPod("daemon", on("n1"), ownedBy("DaemonSet")))
	create(testPod("elsewhere", on("n2"), ownedBy("ReplicaSet")))
	exists := func(name string) bool {
		_, err := st.Pods.Get(ctx, "default", name)
		return err == nil
	}

	t.Run("refuses unmanaged and daemon set pods", func(t *testing.T) {
		o.t = t
		out, _, err := o.run("ctl", "drain", "n1")
		if err == nil || !strings.Contains(err.Error(), "cannot delete Pods not managed by ReplicationController, ReplicaSet, Job, DaemonSet or StatefulSet (use --force to override): default/bare") ||
			!strings.Contains(err.Error(), "cannot delete DaemonSet-managed Pods (use --ignore-daemonsets to ignore): default/daemon") {
			t.Fatalf("drain with a bare pod: %v", err)
		}
		wantLines(t, out, "node/n1 cordoned")
		if p := mustGet[*api.Pod](t)(st.Pods.Get(ctx, "default", "owned")); p.DeletionTimestamp != nil {
			t.Fatal("a refused drain marked a pod for deletion")
		}
	})

	t.Run("evicts gracefully and waits", func(t *testing.T) {
		o.t = t
		b := o.start("ctl", "drain", "n1", "--force", "--ignore-daemonsets", "--delete-emptydir-data")
		// Play the node agent: remove the pods marked terminating.
		for _, name := range []string{"owned", "bare"} {
			eventually(t, name+" marked terminating", func() error {
				p, err := st.Pods.Get(ctx, "default", name)
				if err != nil {
					return err
				}
				if p.DeletionTimestamp == nil || p.DeletionGracePeriodSeconds == nil || *p.DeletionGracePeriodSeconds != 30 {
					return fmt.Errorf("deletionTimestamp %v grace %v", p.DeletionTimestamp, p.DeletionGracePeriodSeconds)
				}
				return nil
			})
			if _, err := st.Pods.Delete(ctx, "default", name, registry.DeleteOptions{GracePeriodSeconds: registry.GracePeriod(0)}); err != nil {
				t.Fatal(err)
			}
		}
		if err := b.wait(t); err != nil {
			t.Fatalf("drain: %v (stderr %q)", err, b.stderr.String())
		}
		wantHasLines(t, b.stdout.String(), "node/n1 already cordoned", "evicting pod default/owned", "evicting pod default/bare",
			"pod/owned evicted", "pod/bare evicted", "node/n1 drained")
		wantHasLines(t, b.stderr.String(), "Warning: ignoring DaemonSet-managed Pods: default/daemon",
			"Warning: deleting Pods not managed by ReplicationController, ReplicaSet, Job, DaemonSet or StatefulSet: default/bare")
		if !exists("daemon") || !exists("elsewhere") {
			t.Fatal("drain removed a daemon set pod or a pod of another node")
		}
	})

	t.Run("grace period 0 deletes at once", func(t *testing.T) {
		o.t = t
		create(testPod("quick", on("n1"), ownedBy("ReplicaSet")))
		wantLines(t, o.ok("ctl", "drain", "n1", "--ignore-daemonsets", "--grace-period=0"),
			"node/n1 already cordoned", "evicting pod default/quick", "pod/quick evicted", "node/n1 drained")
		if exists("quick") {
			t.Fatal("pod still there")
		}
	})

	t.Run("timeout deletes pods whose agent is gone", func(t *testing.T) {
		o.t = t
		create(testPod("stuck", on("n1"), ownedBy("ReplicaSet")))
		out, errOut, err := o.run("ctl", "drain", "n1", "--ignore-daemonsets", "--timeout", "300ms")
		if err != nil {
			t.Fatalf("drain: %v (stderr %q)", err, errOut)
		}
		wantHasLines(t, out, "pod/stuck evicted", "node/n1 drained")
		if !strings.Contains(errOut, "pod default/stuck still there after 300ms") {
			t.Fatalf("stderr %q lacks the forced deletion warning", errOut)
		}
		if exists("stuck") {
			t.Fatal("pod still there")
		}
	})
}
