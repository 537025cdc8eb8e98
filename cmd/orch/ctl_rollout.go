package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strconv"
	"text/tabwriter"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/keeldb/keel/orchestrator/api"
	"github.com/keeldb/keel/orchestrator/controller/deployment"
	"github.com/keeldb/keel/orchestrator/registry"
)

// Annotations kubectl's rollout commands read and write.
const (
	changeCauseAnnotation = "kubernetes.io/change-cause"
	restartedAtAnnotation = "kubectl.kubernetes.io/restartedAt"
	// progressDeadlineExceeded is the Progressing condition's reason once a rollout stalls.
	progressDeadlineExceeded = "ProgressDeadlineExceeded"
)

// rollbackSkippedAnnotations are the Deployment annotations rollout undo keeps rather than
// copying them from the ReplicaSet (kubectl's annotationsToSkip).
var rollbackSkippedAnnotations = map[string]bool{
	"kubectl.kubernetes.io/last-applied-configuration": true,
	deployment.RevisionAnnotation:                      true,
	"deployment.kubernetes.io/revision-history":        true,
	"deployment.kubernetes.io/desired-replicas":        true,
	"deployment.kubernetes.io/max-replicas":            true,
	"deprecated.deployment.rollback.to":                true,
}

const rolloutUsage = `usage: orch ctl rollout SUBCOMMAND deployment/NAME [-n NS]
  status   [--timeout D] [--watch=false]  wait until the rollout finishes (also ds/NAME, sts/NAME; restart too)
  history  [--revision N]                 list revisions, or show one revision's pod template
  undo     [--to-revision N]              roll back to the previous (or the given) revision
  pause | resume | restart`

func rolloutFlags(fs *flag.FlagSet) verbFunc {
	ns := namespaceFlag(fs)
	timeout := fs.Duration("timeout", 0, "status: give up after this long (0 = wait forever)")
	watch := fs.Bool("watch", true, "status: wait until the rollout finishes")
	fs.BoolVar(watch, "w", true, "status: wait until the rollout finishes")
	revision := fs.Int64("revision", 0, "history: show the pod template of this revision")
	toRevision := fs.Int64("to-revision", 0, "undo: the revision to roll back to (0 = the previous one)")
	return func(ctx context.Context, c *ctl, pos []string) error {
		if len(pos) < 2 {
			fmt.Fprintln(c.stderr, rolloutUsage)
			return errUsage
		}
		t, err := oneTarget(pos[1:], "deployments", "daemonsets", "statefulsets")
		if err != nil {
			return err
		}
		if t.res.Name != "deployments" {
			if pos[0] == "restart" {
				ctx, cancel := c.bounded(ctx)
				defer cancel()
				return restartSet(ctx, c, t.res, *ns, t.name)
			}
			if pos[0] != "status" {
				return fmt.Errorf("rollout %s supports only deployments (%s keep no revision history)", pos[0], t.res.Name)
			}
			if *timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, *timeout)
				defer cancel()
			}
			return setRolloutStatus(ctx, c, t.res, *ns, t.name, *watch)
		}
		st := registry.NewStores(c.cli, registry.Config{})
		r := &rollout{c: c, st: st, ns: *ns, name: t.name}
		if pos[0] == "status" {
			if *timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, *timeout)
				defer cancel()
			}
			return r.status(ctx, *watch)
		}
		ctx, cancel := c.bounded(ctx)
		defer cancel()
		switch pos[0] {
		case "history":
			return r.history(ctx, *revision)
		case "undo":
			return r.undo(ctx, *toRevision)
		case "pause", "resume":
			return r.setPaused(ctx, pos[0] == "pause")
		case "restart":
			return r.restart(ctx)
		}
		fmt.Fprintf(c.stderr, "unknown rollout subcommand %q\n%s\n", pos[0], rolloutUsage)
		return errUsage
	}
}

// rollout runs one rollout subcommand on the Deployment ns/name.
type rollout struct {
	c        *ctl
	st       *registry.Stores
	ns, name string
}

func (r *rollout) ref() string { return "deployment.apps/" + r.name }

// status prints kubectl's rollout messages as the Deployment's status changes, until the
// rollout is complete, it exceeds its progress deadline, or ctx ends. It watches the
// Deployment's key rather than polling it.
func (r *rollout) status(ctx context.Context, watch bool) error {
	gctx, cancel := r.c.bounded(ctx)
	resp, err := r.c.cli.Get(gctx, r.st.Deployments.Key(r.ns, r.name))
	cancel()
	if err != nil {
		return fmt.Errorf("get deployment %q: %w", r.name, err)
	}
	if len(resp.Kvs) == 0 {
		return fmt.Errorf("%w: deployments.apps %q", registry.ErrNotFound, r.name)
	}
	last := ""
	check := func(kv *mvccpb.KeyValue) (bool, error) {
		d, err := r.st.Deployments.Decode(kv)
		if err != nil {
			return false, err
		}
		msg, done, err := rolloutStatus(d)
		if err != nil {
			return false, err
		}
		if msg != last {
			fmt.Fprint(r.c.stdout, msg)
			last = msg
		}
		return done, nil
	}
	if done, err := check(resp.Kvs[0]); err != nil || done || !watch {
		return err
	}
	wctx, wcancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	defer wcancel()
	for wr := range r.c.cli.Watch(wctx, r.st.Deployments.Key(r.ns, r.name), clientv3.WithRev(resp.Header.Revision+1)) {
		if err := wr.Err(); err != nil && ctx.Err() == nil {
			return fmt.Errorf("watch deployment %q: %w", r.name, err)
		}
		for _, ev := range wr.Events {
			if ev.Type == mvccpb.DELETE {
				return fmt.Errorf("deployment %q was deleted", r.name)
			}
			if done, err := check(ev.Kv); err != nil || done {
				return err
			}
		}
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return errors.New("timed out waiting for the condition")
	}
	return ctx.Err()
}

// rolloutStatus is kubectl's DeploymentStatusViewer: a message, and whether the rollout is
// complete; an error once the progress deadline is exceeded.
func rolloutStatus(d *api.Deployment) (string, bool, error) {
	if d.Generation > d.Status.ObservedGeneration {
		return "Waiting for deployment spec update to be observed...\n", false, nil
	}
	for _, c := range d.Status.Conditions {
		if c.Type == "Progressing" && c.Reason == progressDeadlineExceeded {
			return "", false, fmt.Errorf("deployment %q exceeded its progress deadline", d.Name)
		}
	}
	st := d.Status
	if d.Spec.Replicas != nil && st.UpdatedReplicas < *d.Spec.Replicas {
		return fmt.Sprintf("Waiting for deployment %q rollout to finish: %d out of %d new replicas have been updated...\n",
			d.Name, st.UpdatedReplicas, *d.Spec.Replicas), false, nil
	}
	if st.Replicas > st.UpdatedReplicas {
		return fmt.Sprintf("Waiting for deployment %q rollout to finish: %d old replicas are pending termination...\n",
			d.Name, st.Replicas-st.UpdatedReplicas), false, nil
	}
	if st.AvailableReplicas < st.UpdatedReplicas {
		return fmt.Sprintf("Waiting for deployment %q rollout to finish: %d of %d updated replicas are available...\n",
			d.Name, st.AvailableReplicas, st.UpdatedReplicas), false, nil
	}
	return fmt.Sprintf("deployment %q successfully rolled out\n", d.Name), true, nil
}

// ownedReplicaSets returns d's ReplicaSets (controller reference with d's uid), by revision.
func ownedReplicaSets(ctx context.Context, st *registry.Stores, d *api.Deployment) ([]*api.ReplicaSet, error) {
	l, err := st.ReplicaSets.List(ctx, registry.ListOptions{Namespace: d.Namespace})
	if err != nil {
		return nil, err
	}
	var out []*api.ReplicaSet
	for _, rs := range l.Items {
		if ref := rs.ControllerRef(); ref != nil && ref.UID == d.UID {
			out = append(out, rs)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return rsRevision(out[i]) < rsRevision(out[j]) })
	return out, nil
}

// rsRevision is a ReplicaSet's revision annotation, -1 when absent or malformed.
func rsRevision(rs *api.ReplicaSet) int64 {
	v, err := strconv.ParseInt(rs.Annotations[deployment.RevisionAnnotation], 10, 64)
	if err != nil {
		return -1
	}
	return v
}

func (r *rollout) history(ctx context.Context, revision int64) error {
	d, err := r.st.Deployments.Get(ctx, r.ns, r.name)
	if err != nil {
		return err
	}
	rss, err := ownedReplicaSets(ctx, r.st, d)
	if err != nil {
		return err
	}
	byRev := map[int64]*api.ReplicaSet{}
	var revs []int64
	for _, rs := range rss {
		if v := rsRevision(rs); v >= 0 {
			if _, dup := byRev[v]; !dup {
				revs = append(revs, v)
			}
			byRev[v] = rs
		}
	}
	if revision > 0 {
		rs, ok := byRev[revision]
		if !ok {
			return errors.New("unable to find the specified revision")
		}
		fmt.Fprintf(r.c.stdout, "%s with revision #%d\n", r.ref(), revision)
		tmpl := rs.Spec.Template
		if cause := rs.Annotations[changeCauseAnnotation]; cause != "" {
			tmpl.Annotations = maps.Clone(tmpl.Annotations)
			if tmpl.Annotations == nil {
				tmpl.Annotations = map[string]string{}
			}
			tmpl.Annotations[changeCauseAnnotation] = cause
		}
		w := newDescribeWriter(r.c.stdout)
		w.podTemplate(0, tmpl)
		return w.flush()
	}
	fmt.Fprintln(r.c.stdout, r.ref())
	if len(revs) == 0 {
		fmt.Fprintln(r.c.stdout, "No rollout history found.")
		return nil
	}
	tw := tabwriter.NewWriter(r.c.stdout, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "REVISION\tCHANGE-CAUSE")
	for _, v := range revs {
		fmt.Fprintf(tw, "%d\t%s\n", v, orNone(byRev[v].Annotations[changeCauseAnnotation]))
	}
	return tw.Flush()
}

// errSkipped ends a GuaranteedUpdate that has nothing to write.
var errSkipped = errors.New("nothing to change")

// undo copies the pod template of the chosen revision's ReplicaSet (default: the previous
// one) back into the Deployment, as kubectl's apps/v1 rollbacker does: the controller then
// finds that ReplicaSet by its template hash and scales it up again.
func (r *rollout) undo(ctx context.Context, toRevision int64) error {
	var skipped int64
	_, err := r.st.Deployments.GuaranteedUpdate(ctx, r.ns, r.name, func(d *api.Deployment) (*api.Deployment, error) {
		if d.Spec.Paused {
			return nil, fmt.Errorf("you cannot rollback a paused deployment; resume it first with 'orch ctl rollout resume deployment/%s' and try again", d.Name)
		}
		rss, err := ownedReplicaSets(ctx, r.st, d)
		if err != nil {
			return nil, err
		}
		rs, err := revisionToRestore(d, rss, toRevision)
		if err != nil {
			return nil, err
		}
		if sameTemplate(rs.Spec.Template, d.Spec.Template) {
			skipped = rsRevision(rs)
			return nil, errSkipped
		}
		tmpl := rs.Spec.Template
		tmpl.Labels = maps.Clone(tmpl.Labels)
		delete(tmpl.Labels, deployment.PodTemplateHashLabel)
		d.Spec.Template = tmpl
		for k, v := range rs.Annotations {
			if !rollbackSkippedAnnotations[k] {
				if d.Annotations == nil {
					d.Annotations = map[string]string{}
				}
				d.Annotations[k] = v
			}
		}
		return d, nil
	})
	if errors.Is(err, errSkipped) {
		fmt.Fprintf(r.c.stdout, "%s skipped rollback (current template already matches revision %d)\n", r.ref(), skipped)
		return nil
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(r.c.stdout, "%s rolled back\n", r.ref())
	return nil
}

// revisionToRestore is kubectl's deploymentRevision: the ReplicaSet of toRevision, or with
// 0 the one of the second highest revision.
func revisionToRestore(d *api.Deployment, rss []*api.ReplicaSet, toRevision int64) (*api.ReplicaSet, error) {
	var latest, previous *api.ReplicaSet
	latestRev, previousRev := int64(-1), int64(-1)
	for _, rs := range rss {
		v := rsRevision(rs)
		if v < 0 {
			continue
		}
		switch {
		case toRevision > 0:
			if v == toRevision {
				return rs, nil
			}
		case v > latestRev:
			previous, previousRev = latest, latestRev
			latest, latestRev = rs, v
		case v > previousRev:
			previous, previousRev = rs, v
		}
	}
	if toRevision > 0 {
		return nil, fmt.Errorf("unable to find specified revision %d in history", toRevision)
	}
	if previous == nil {
		return nil, fmt.Errorf("no rollout history found for deployment %q", d.Name)
	}
	return previous, nil
}

// sameTemplate compares two pod templates ignoring the pod-template-hash label.
func sameTemplate(a, b api.PodTemplateSpec) bool {
	norm := func(t api.PodTemplateSpec) []byte {
		t.Labels = maps.Clone(t.Labels)
		delete(t.Labels, deployment.PodTemplateHashLabel)
		if len(t.Labels) == 0 {
			t.Labels = nil
		}
		if len(t.Annotations) == 0 {
			t.Annotations = nil
		}
		b, _ := json.Marshal(t)
		return b
	}
	return slices.Equal(norm(a), norm(b))
}

func (r *rollout) setPaused(ctx context.Context, paused bool) error {
	verb, already := "resumed", "is not paused"
	if paused {
		verb, already = "paused", "is already paused"
	}
	_, err := r.st.Deployments.GuaranteedUpdate(ctx, r.ns, r.name, func(d *api.Deployment) (*api.Deployment, error) {
		if d.Spec.Paused == paused {
			return nil, errSkipped
		}
		d.Spec.Paused = paused
		return d, nil
	})
	if errors.Is(err, errSkipped) {
		return fmt.Errorf("deployments.apps %q %s", r.name, already)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(r.c.stdout, "%s %s\n", r.ref(), verb)
	return nil
}

func (r *rollout) restart(ctx context.Context) error {
	_, err := r.st.Deployments.GuaranteedUpdate(ctx, r.ns, r.name, func(d *api.Deployment) (*api.Deployment, error) {
		if d.Spec.Paused {
			return nil, fmt.Errorf("deployments.apps %q can't restart paused deployment (run rollout resume first)", d.Name)
		}
		if d.Spec.Template.Annotations == nil {
			d.Spec.Template.Annotations = map[string]string{}
		}
		d.Spec.Template.Annotations[restartedAtAnnotation] = r.c.now().Format(time.RFC3339)
		return d, nil
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(r.c.stdout, "%s restarted\n", r.ref())
	return nil
}
