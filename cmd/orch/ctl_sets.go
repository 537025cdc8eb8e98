package main

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/keeldb/keel/orchestrator/api"
	"github.com/keeldb/keel/orchestrator/registry"
)

func labelsString(m map[string]string) string {
	keys := slices.Sorted(maps.Keys(m))
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + m[k]
	}
	return strings.Join(parts, ",")
}

// daemonSetRolloutStatus is kubectl's DaemonSetStatusViewer.
func daemonSetRolloutStatus(ds *api.DaemonSet) (string, bool, error) {
	if ds.Spec.UpdateStrategy.Type != api.RollingUpdateStrategy {
		return "", true, errors.New("rollout status is only available for RollingUpdate strategy type")
	}
	st := ds.Status
	if ds.Generation > st.ObservedGeneration {
		return "Waiting for daemon set spec update to be observed...\n", false, nil
	}
	if st.UpdatedNumberScheduled < st.DesiredNumberScheduled {
		return fmt.Sprintf("Waiting for daemon set %q rollout to finish: %d out of %d new pods have been updated...\n",
			ds.Name, st.UpdatedNumberScheduled, st.DesiredNumberScheduled), false, nil
	}
	if st.NumberAvailable < st.DesiredNumberScheduled {
		return fmt.Sprintf("Waiting for daemon set %q rollout to finish: %d of %d updated pods are available...\n",
			ds.Name, st.NumberAvailable, st.DesiredNumberScheduled), false, nil
	}
	return fmt.Sprintf("daemon set %q successfully rolled out\n", ds.Name), true, nil
}

// statefulSetRolloutStatus is kubectl's StatefulSetStatusViewer.
func statefulSetRolloutStatus(sts *api.StatefulSet) (string, bool, error) {
	if sts.Spec.UpdateStrategy.Type != api.RollingUpdateStrategy {
		return "", true, errors.New("rollout status is only available for RollingUpdate strategy type")
	}
	st := sts.Status
	if st.ObservedGeneration == 0 || sts.Generation > st.ObservedGeneration {
		return "Waiting for statefulset spec update to be observed...\n", false, nil
	}
	if r := sts.Spec.Replicas; r != nil && st.ReadyReplicas < *r {
		return fmt.Sprintf("Waiting for %d pods to be ready...\n", *r-st.ReadyReplicas), false, nil
	}
	if ru := sts.Spec.UpdateStrategy.RollingUpdate; ru != nil && ru.Partition != nil && *ru.Partition > 0 && sts.Spec.Replicas != nil {
		if st.UpdatedReplicas < *sts.Spec.Replicas-*ru.Partition {
			return fmt.Sprintf("Waiting for partitioned roll out to finish: %d out of %d new pods have been updated...\n",
				st.UpdatedReplicas, *sts.Spec.Replicas-*ru.Partition), false, nil
		}
		return fmt.Sprintf("partitioned roll out complete: %d new pods have been updated...\n", st.UpdatedReplicas), true, nil
	}
	if st.UpdateRevision != st.CurrentRevision {
		return fmt.Sprintf("waiting for statefulset rolling update to complete %d pods at revision %s...\n",
			st.UpdatedReplicas, st.UpdateRevision), false, nil
	}
	return fmt.Sprintf("statefulset rolling update complete %d pods at revision %s...\n", st.CurrentReplicas, st.CurrentRevision), true, nil
}

// setRolloutStatus prints the rollout messages of the DaemonSet or StatefulSet ns/name as
// its status changes, watching its key, until the rollout completes or ctx ends.
func setRolloutStatus(ctx context.Context, c *ctl, res api.Resource, ns, name string, watch bool) error {
	st := registry.NewStores(c.cli, registry.Config{})
	var key string
	var check func(kv *mvccpb.KeyValue) (string, bool, error)
	switch res.Name {
	case "daemonsets":
		key = st.DaemonSets.Key(ns, name)
		check = func(kv *mvccpb.KeyValue) (string, bool, error) {
			ds, err := st.DaemonSets.Decode(kv)
			if err != nil {
				return "", false, err
			}
			return daemonSetRolloutStatus(ds)
		}
	case "statefulsets":
		key = st.StatefulSets.Key(ns, name)
		check = func(kv *mvccpb.KeyValue) (string, bool, error) {
			sts, err := st.StatefulSets.Decode(kv)
			if err != nil {
				return "", false, err
			}
			return statefulSetRolloutStatus(sts)
		}
	}
	gctx, cancel := c.bounded(ctx)
	resp, err := c.cli.Get(gctx, key)
	cancel()
	if err != nil {
		return fmt.Errorf("get %s %q: %w", res.Name, name, err)
	}
	if len(resp.Kvs) == 0 {
		return fmt.Errorf("%w: %s %q", registry.ErrNotFound, qualifiedKind(res), name)
	}
	last := ""
	step := func(kv *mvccpb.KeyValue) (bool, error) {
		msg, done, err := check(kv)
		if err != nil {
			return false, err
		}
		if msg != last {
			fmt.Fprint(c.stdout, msg)
			last = msg
		}
		return done, nil
	}
	if done, err := step(resp.Kvs[0]); err != nil || done || !watch {
		return err
	}
	wctx, wcancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	defer wcancel()
	for wr := range c.cli.Watch(wctx, key, clientv3.WithRev(resp.Header.Revision+1)) {
		if err := wr.Err(); err != nil && ctx.Err() == nil {
			return fmt.Errorf("watch %s %q: %w", res.Name, name, err)
		}
		for _, ev := range wr.Events {
			if ev.Type == mvccpb.DELETE {
				return fmt.Errorf("%s %q was deleted", strings.ToLower(res.Kind), name)
			}
			if done, err := step(ev.Kv); err != nil || done {
				return err
			}
		}
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return errors.New("timed out waiting for the condition")
	}
	return ctx.Err()
}

// restartSet restarts a DaemonSet's or StatefulSet's pods as kubectl does: a new
// restartedAt annotation on the pod template makes a new revision that the rolling update
// rolls out.
func restartSet(ctx context.Context, c *ctl, res api.Resource, ns, name string) error {
	st := registry.NewStores(c.cli, registry.Config{})
	stamp := func(t *api.PodTemplateSpec) {
		if t.Annotations == nil {
			t.Annotations = map[string]string{}
		}
		t.Annotations[restartedAtAnnotation] = c.now().Format(time.RFC3339)
	}
	var err error
	switch res.Name {
	case "daemonsets":
		_, err = st.DaemonSets.GuaranteedUpdate(ctx, ns, name, func(d *api.DaemonSet) (*api.DaemonSet, error) {
			stamp(&d.Spec.Template)
			return d, nil
		})
	case "statefulsets":
		_, err = st.StatefulSets.GuaranteedUpdate(ctx, ns, name, func(s *api.StatefulSet) (*api.StatefulSet, error) {
			stamp(&s.Spec.Template)
			return s, nil
		})
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "%s/%s restarted\n", qualifiedKind(res), name)
	return nil
}

// scaleStatefulSet sets a StatefulSet's spec.replicas.
func scaleStatefulSet(ctx context.Context, st *registry.Stores, ns, name string, n int32) error {
	_, err := st.StatefulSets.GuaranteedUpdate(ctx, ns, name, func(s *api.StatefulSet) (*api.StatefulSet, error) {
		s.Spec.Replicas = &n
		return s, nil
	})
	return err
}

// daemonSet describes a DaemonSet as kubectl does.
func (d *describer) daemonSet(ctx context.Context, w *describeWriter, ds *api.DaemonSet) error {
	w.line(0, "Name:\t%s", ds.Name)
	w.line(0, "Namespace:\t%s", ds.Namespace)
	w.line(0, "Selector:\t%s", selectorString(ds.Spec.Selector))
	w.line(0, "Node-Selector:\t%s", orNone(labelsString(ds.Spec.Template.Spec.NodeSelector)))
	w.labelsMultiline(0, "Labels", ds.Labels, "=")
	w.labelsMultiline(0, "Annotations", ds.Annotations, ": ")
	st := ds.Status
	w.line(0, "Desired Number of Nodes Scheduled: %d", st.DesiredNumberScheduled)
	w.line(0, "Current Number of Nodes Scheduled: %d", st.CurrentNumberScheduled)
	w.line(0, "Number of Nodes Scheduled with Up-to-date Pods: %d", st.UpdatedNumberScheduled)
	w.line(0, "Number of Nodes Scheduled with Available Pods: %d", st.NumberAvailable)
	w.line(0, "Number of Nodes Misscheduled: %d", st.NumberMisscheduled)
	if err := d.ownedPodsStatus(ctx, w, ds.Namespace, ds.UID, ds.Spec.Selector); err != nil {
		return err
	}
	w.podTemplate(0, ds.Spec.Template)
	return nil
}

// statefulSet describes a StatefulSet as kubectl does.
func (d *describer) statefulSet(ctx context.Context, w *describeWriter, sts *api.StatefulSet) error {
	w.line(0, "Name:\t%s", sts.Name)
	w.line(0, "Namespace:\t%s", sts.Namespace)
	w.line(0, "CreationTimestamp:\t%s", describeTime(sts.CreationTimestamp))
	w.line(0, "Selector:\t%s", selectorString(sts.Spec.Selector))
	w.labelsMultiline(0, "Labels", sts.Labels, "=")
	w.labelsMultiline(0, "Annotations", sts.Annotations, ": ")
	w.line(0, "Replicas:\t%d desired | %d total", int32Ptr(sts.Spec.Replicas), sts.Status.Replicas)
	w.line(0, "Update Strategy:\t%s", sts.Spec.UpdateStrategy.Type)
	if ru := sts.Spec.UpdateStrategy.RollingUpdate; ru != nil && ru.Partition != nil {
		w.line(1, "Partition:\t%d", *ru.Partition)
	}
	if err := d.ownedPodsStatus(ctx, w, sts.Namespace, sts.UID, sts.Spec.Selector); err != nil {
		return err
	}
	w.podTemplate(0, sts.Spec.Template)
	w.line(0, "Volume Claims:\t<none>")
	return nil
}

// ownedPodsStatus prints kubectl's "Pods Status" line over the pods the owner controls.
func (d *describer) ownedPodsStatus(ctx context.Context, w *describeWriter, ns, uid string, sel *api.LabelSelector) error {
	pods, err := podsOf(ctx, d.st, ns, sel)
	if err != nil {
		return err
	}
	phases := map[string]int{}
	for _, p := range pods {
		if ref := p.ControllerRef(); ref != nil && ref.UID == uid {
			phases[orDefault(p.Status.Phase, api.PodPending)]++
		}
	}
	w.line(0, "Pods Status:\t%d Running / %d Waiting / %d Succeeded / %d Failed",
		phases[api.PodRunning], phases[api.PodPending], phases[api.PodSucceeded], phases[api.PodFailed])
	return nil
}
