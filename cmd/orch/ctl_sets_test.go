package main

import (
	"context"
	"strings"
	"testing"

	"github.com/keeldb/keel/orchestrator/api"
)

func TestSetRolloutStatus(t *testing.T) {
	three, one := int32(3), int32(1)
	ds := func(gen, obs int64, desired, updated, avail int32) *api.DaemonSet {
		d := &api.DaemonSet{ObjectMeta: api.ObjectMeta{Name: "agent", Generation: gen}, Status: api.DaemonSetStatus{ObservedGeneration: obs,
			DesiredNumberScheduled: desired, UpdatedNumberScheduled: updated, NumberAvailable: avail}}
		d.Spec.UpdateStrategy.Type = api.RollingUpdateStrategy
		return d
	}
	sts := func(gen, obs int64, partition *int32, ready, updated, current int32, cur, upd string) *api.StatefulSet {
		s := &api.StatefulSet{ObjectMeta: api.ObjectMeta{Name: "web", Generation: gen}, Spec: api.StatefulSetSpec{Replicas: &three},
			Status: api.StatefulSetStatus{ObservedGeneration: obs, ReadyReplicas: ready, UpdatedReplicas: updated, CurrentReplicas: current,
				CurrentRevision: cur, UpdateRevision: upd}}
		s.Spec.UpdateStrategy = api.StatefulSetUpdateStrategy{Type: api.RollingUpdateStrategy,
			RollingUpdate: &api.RollingUpdateStatefulSetStrategy{Partition: partition}}
		return s
	}
	check := func(name, want string, wantDone bool) func(string, bool, error) {
		return func(msg string, done bool, err error) {
			t.Helper()
			if err != nil || msg != want || done != wantDone {
				t.Errorf("%s: got %q, %v, %v; want %q, %v", name, msg, done, err, want, wantDone)
			}
		}
	}
	check("ds not observed", "Waiting for daemon set spec update to be observed...\n", false)(daemonSetRolloutStatus(ds(2, 1, 3, 3, 3)))
	check("ds updating", "Waiting for daemon set \"agent\" rollout to finish: 1 out of 3 new pods have been updated...\n", false)(daemonSetRolloutStatus(ds(2, 2, 3, 1, 3)))
	check("ds available", "Waiting for daemon set \"agent\" rollout to finish: 2 of 3 updated pods are available...\n", false)(daemonSetRolloutStatus(ds(2, 2, 3, 3, 2)))
	check("ds done", "daemon set \"agent\" successfully rolled out\n", true)(daemonSetRolloutStatus(ds(2, 2, 3, 3, 3)))
	check("sts ready", "Waiting for 2 pods to be ready...\n", false)(statefulSetRolloutStatus(sts(1, 1, nil, 1, 1, 1, "a", "a")))
	check("sts partition", "Waiting for partitioned roll out to finish: 1 out of 2 new pods have been updated...\n", false)(statefulSetRolloutStatus(sts(2, 2, &one, 3, 1, 2, "a", "b")))
	check("sts partition done", "partitioned roll out complete: 2 new pods have been updated...\n", true)(statefulSetRolloutStatus(sts(2, 2, &one, 3, 2, 1, "a", "b")))
	check("sts updating", "waiting for statefulset rolling update to complete 1 pods at revision b...\n", false)(statefulSetRolloutStatus(sts(2, 2, nil, 3, 1, 2, "a", "b")))
	check("sts done", "statefulset rolling update complete 3 pods at revision b...\n", true)(statefulSetRolloutStatus(sts(2, 2, nil, 3, 3, 3, "b", "b")))
	onDelete := ds(1, 1, 3, 3, 3)
	onDelete.Spec.UpdateStrategy.Type = api.OnDeleteStrategy
	if _, _, err := daemonSetRolloutStatus(onDelete); err == nil || !strings.Contains(err.Error(), "only available for RollingUpdate") {
		t.Errorf("OnDelete: %v", err)
	}
}

// TestSetsCtl applies a DaemonSet and a StatefulSet and reads them back through get,
// describe and scale.
func TestSetsCtl(t *testing.T) {
	o, st := startCtl(t)
	o.ok("ctl", "apply", "-f", "../../examples/sets.yaml")
	out := o.ok("ctl", "get", "ds")
	if !strings.Contains(out, "NAME         DESIRED   CURRENT   READY   UP-TO-DATE   AVAILABLE   NODE SELECTOR   AGE") ||
		!strings.Contains(out, "node-agent") {
		t.Errorf("get ds:\n%s", out)
	}
	if out := o.ok("ctl", "get", "sts"); !strings.Contains(out, "db     0/3") {
		t.Errorf("get sts:\n%s", out)
	}
	wantLines(t, o.ok("ctl", "scale", "sts/db", "--replicas", "1"), "statefulset.apps/db scaled")
	s, err := st.StatefulSets.Get(context.Background(), "default", "db")
	if err != nil || *s.Spec.Replicas != 1 {
		t.Fatalf("after scale: %v, %v", s, err)
	}
	wantLines(t, o.ok("ctl", "rollout", "restart", "ds/node-agent"), "daemonset.apps/node-agent restarted")
	wantLines(t, o.ok("ctl", "rollout", "restart", "sts/db"), "statefulset.apps/db restarted")
	if s, err := st.StatefulSets.Get(context.Background(), "default", "db"); err != nil || s.Spec.Template.Annotations[restartedAtAnnotation] == "" {
		t.Errorf("after restart: %v, %v", s, err)
	}
	if _, _, err := o.run("ctl", "rollout", "undo", "sts/db"); err == nil {
		t.Error("rollout undo sts/db succeeded without revision history")
	}
	if out := o.ok("ctl", "describe", "sts", "db"); !strings.Contains(out, "Replicas:") || !strings.Contains(out, "Update Strategy:") {
		t.Errorf("describe sts:\n%s", out)
	}
	if out := o.ok("ctl", "describe", "ds", "node-agent"); !strings.Contains(out, "Desired Number of Nodes Scheduled: 0") {
		t.Errorf("describe ds:\n%s", out)
	}
}
