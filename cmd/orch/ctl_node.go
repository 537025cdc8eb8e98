package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strings"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/keeldb/keel/orchestrator/api"
	"github.com/keeldb/keel/orchestrator/labels"
	"github.com/keeldb/keel/orchestrator/registry"
)

// cordonFlags makes cordon (unschedulable = true) or uncordon.
func cordonFlags(unschedulable bool) func(fs *flag.FlagSet) verbFunc {
	return func(fs *flag.FlagSet) verbFunc {
		return func(ctx context.Context, c *ctl, pos []string) error {
			if len(pos) == 0 {
				fmt.Fprintf(c.stderr, "usage: orch ctl %s NODE...\n", map[bool]string{true: "cordon", false: "uncordon"}[unschedulable])
				return errUsage
			}
			st := registry.NewStores(c.cli, registry.Config{})
			for _, name := range pos {
				if err := setUnschedulable(ctx, c, st, strings.TrimPrefix(name, "node/"), unschedulable); err != nil {
					return err
				}
			}
			return nil
		}
	}
}

// setUnschedulable sets a node's spec.unschedulable and prints kubectl's "node/x cordoned"
// (or "already cordoned", "uncordoned", "already uncordoned").
func setUnschedulable(ctx context.Context, c *ctl, st *registry.Stores, name string, unschedulable bool) error {
	verb := "uncordoned"
	if unschedulable {
		verb = "cordoned"
	}
	_, err := st.Nodes.GuaranteedUpdate(ctx, "", name, func(n *api.Node) (*api.Node, error) {
		if n.Spec.Unschedulable == unschedulable {
			return nil, errSkipped
		}
		n.Spec.Unschedulable = unschedulable
		return n, nil
	})
	switch {
	case errors.Is(err, errSkipped):
		fmt.Fprintf(c.stdout, "node/%s already %s\n", name, verb)
	case err != nil:
		return err
	default:
		fmt.Fprintf(c.stdout, "node/%s %s\n", name, verb)
	}
	return nil
}

// drainOptions are drain's flags.
type drainOptions struct {
	ignoreDaemonSets bool
	force            bool
	gracePeriod      int64         // seconds; -1 = each pod's terminationGracePeriodSeconds
	timeout          time.Duration // how long to wait for graceful deletion; 0 = forever
}

func drainFlags(fs *flag.FlagSet) verbFunc {
	var o drainOptions
	fs.BoolVar(&o.ignoreDaemonSets, "ignore-daemonsets", false, "skip DaemonSet-managed pods")
	fs.BoolVar(&o.force, "force", false, "also delete pods no controller manages")
	fs.Bool("delete-emptydir-data", false, "accepted for kubectl compatibility (Keel pods have no volumes)")
	fs.Bool("delete-local-data", false, "deprecated alias of --delete-emptydir-data")
	fs.Int64Var(&o.gracePeriod, "grace-period", -1, "seconds each pod gets to stop (-1 = its own terminationGracePeriodSeconds, 0 = delete at once)")
	fs.DurationVar(&o.timeout, "timeout", 0, "wait this long for pods to stop, then delete what remains without waiting for its agent (0 = wait forever)")
	return func(ctx context.Context, c *ctl, pos []string) error {
		if len(pos) != 1 {
			fmt.Fprintln(c.stderr, "usage: orch ctl drain NODE [--ignore-daemonsets] [--force] [--grace-period N] [--timeout D]")
			return errUsage
		}
		return c.drain(ctx, strings.TrimPrefix(pos[0], "node/"), o)
	}
}

// drain cordons the node, then deletes its pods as kubectl drain evicts them: gracefully
// (deletionTimestamp and deletionGracePeriodSeconds set, the node agent stops the pod and
// removes it) unless the grace period is 0, and waits until they are gone. Pods no
// controller manages are refused without --force, DaemonSet pods without
// --ignore-daemonsets. Requests are bounded by --command-timeout, the wait by --timeout.
func (c *ctl) drain(ctx context.Context, node string, o drainOptions) error {
	st := registry.NewStores(c.cli, registry.Config{})
	rctx, cancel := c.bounded(ctx)
	defer cancel()
	if err := setUnschedulable(rctx, c, st, node, true); err != nil {
		return err
	}
	all, err := listPods(rctx, st, "", labels.Selector{})
	if err != nil {
		return err
	}
	evict, unmanaged, daemons := drainPlan(all, node)
	var errs []string
	if len(unmanaged) > 0 && !o.force {
		errs = append(errs, "cannot delete Pods not managed by ReplicationController, ReplicaSet, Job, DaemonSet or StatefulSet (use --force to override): "+podList(unmanaged))
	}
	if len(daemons) > 0 && !o.ignoreDaemonSets {
		errs = append(errs, "cannot delete DaemonSet-managed Pods (use --ignore-daemonsets to ignore): "+podList(daemons))
	}
	if len(errs) > 0 {
		return fmt.Errorf("unable to drain node %q due to error: %s", node, strings.Join(errs, ", "))
	}
	if len(unmanaged) > 0 {
		fmt.Fprintf(c.stderr, "Warning: deleting Pods not managed by ReplicationController, ReplicaSet, Job, DaemonSet or StatefulSet: %s\n", podList(unmanaged))
	}
	if len(daemons) > 0 {
		fmt.Fprintf(c.stderr, "Warning: ignoring DaemonSet-managed Pods: %s\n", podList(daemons))
	}
	for _, p := range evict {
		fmt.Fprintf(c.stdout, "evicting pod %s/%s\n", p.Namespace, p.Name)
		if err := c.evict(rctx, st, p, o.gracePeriod); err != nil {
			return err
		}
	}
	if err := c.waitGone(ctx, st, evict, o.timeout); err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "node/%s drained\n", node)
	return nil
}

// drainPlan sorts a node's pods as kubectl drain does: those to evict (including the
// unmanaged ones, which need --force), the unmanaged ones, and DaemonSet pods (skipped).
// Mirror pods are left alone; finished pods are evicted even without a controller.
func drainPlan(all []*api.Pod, node string) (evict, unmanaged, daemons []*api.Pod) {
	for _, p := range all {
		if p.Spec.NodeName != node {
			continue
		}
		ref := p.ControllerRef()
		finished := p.Status.Phase == api.PodSucceeded || p.Status.Phase == api.PodFailed
		switch {
		case p.Annotations["kubernetes.io/config.mirror"] != "":
			continue // a static pod's mirror: the node owns it
		case ref != nil && ref.Kind == "DaemonSet" && !finished:
			daemons = append(daemons, p)
			continue
		case ref == nil && !finished:
			unmanaged = append(unmanaged, p)
		}
		evict = append(evict, p)
	}
	return evict, unmanaged, daemons
}

func podList(ps []*api.Pod) string {
	var s []string
	for _, p := range ps {
		s = append(s, p.Namespace+"/"+p.Name)
	}
	return strings.Join(s, ", ")
}

// evict deletes p gracefully (the registry marks it for its node agent to stop and
// remove; at once when unscheduled) with gracePeriod seconds, or the pod's own grace period
// when gracePeriod < 0; 0 removes it at once. Only this incarnation of the pod (its uid) is
// touched.
func (c *ctl) evict(ctx context.Context, st *registry.Stores, p *api.Pod, gracePeriod int64) error {
	opts := registry.DeleteOptions{UID: p.UID}
	if gracePeriod >= 0 {
		opts.GracePeriodSeconds = &gracePeriod
	}
	_, err := st.Pods.Delete(ctx, p.Namespace, p.Name, opts)
	return ignoreGone(err)
}

// ignoreGone treats "the pod is already gone (or replaced)" as success.
func ignoreGone(err error) error {
	if errors.Is(err, registry.ErrNotFound) || errors.Is(err, registry.ErrConflict) || errors.Is(err, errSkipped) {
		return nil
	}
	return err
}

// waitGone waits until every pod in ps is deleted (or replaced by a pod of another uid),
// printing "pod/x evicted" for each, by watching the pods' prefix from the revision it
// checked them at. After timeout (when > 0) it deletes the pods still there without
// waiting for their agents: a pod on a node whose agent is down would never go.
func (c *ctl) waitGone(ctx context.Context, st *registry.Stores, ps []*api.Pod, timeout time.Duration) error {
	left := map[string]*api.Pod{}
	for _, p := range ps {
		left[st.Pods.Key(p.Namespace, p.Name)] = p
	}
	gone := func(key string) {
		if p, ok := left[key]; ok {
			fmt.Fprintf(c.stdout, "pod/%s evicted\n", p.Name)
			delete(left, key)
		}
	}
	rev, err := c.dropDeleted(ctx, st, left, gone)
	if err != nil || len(left) == 0 {
		return err
	}
	wctx, wcancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	defer wcancel()
	var expired <-chan time.Time
	if timeout > 0 {
		t := time.NewTimer(timeout)
		defer t.Stop()
		expired = t.C
	}
	wch := c.cli.Watch(wctx, st.Pods.Prefix(), clientv3.WithPrefix(), clientv3.WithRev(rev+1))
	for len(left) > 0 {
		select {
		case <-expired:
			expired = nil
			if err := c.forceDelete(ctx, st, left, timeout); err != nil {
				return err
			}
		case wr, ok := <-wch:
			if !ok {
				return fmt.Errorf("waiting for pods to be deleted: %w", context.Cause(ctx))
			}
			if err := wr.Err(); err != nil {
				return fmt.Errorf("watch pods: %w", err)
			}
			for _, ev := range wr.Events {
				key := string(ev.Kv.Key)
				p, ok := left[key]
				if !ok {
					continue
				}
				if ev.Type == mvccpb.DELETE {
					gone(key)
					continue
				}
				if cur, err := st.Pods.Decode(ev.Kv); err == nil && cur.UID != p.UID {
					gone(key)
				}
			}
		}
	}
	return nil
}

// dropDeleted calls gone for every key of left no longer in the store and returns the
// revision it read at.
func (c *ctl) dropDeleted(ctx context.Context, st *registry.Stores, left map[string]*api.Pod, gone func(key string)) (int64, error) {
	rctx, cancel := c.bounded(ctx)
	defer cancel()
	resp, err := c.cli.Get(rctx, st.Pods.Prefix(), clientv3.WithPrefix(), clientv3.WithKeysOnly())
	if err != nil {
		return 0, fmt.Errorf("list pods: %w", err)
	}
	present := map[string]bool{}
	for _, kv := range resp.Kvs {
		present[string(kv.Key)] = true
	}
	for key := range left {
		if !present[key] {
			gone(key)
		}
	}
	return resp.Header.Revision, nil
}

// forceDelete deletes the pods still left after the drain timeout.
func (c *ctl) forceDelete(ctx context.Context, st *registry.Stores, left map[string]*api.Pod, timeout time.Duration) error {
	rctx, cancel := c.bounded(ctx)
	defer cancel()
	for _, p := range left {
		fmt.Fprintf(c.stderr, "Warning: pod %s/%s still there after %v (is its node's agent down?); deleting it without waiting for confirmation\n",
			p.Namespace, p.Name, timeout)
		if _, err := st.Pods.Delete(rctx, p.Namespace, p.Name, registry.DeleteOptions{UID: p.UID, GracePeriodSeconds: registry.GracePeriod(0)}); ignoreGone(err) != nil {
			return err
		}
	}
	return nil
}
