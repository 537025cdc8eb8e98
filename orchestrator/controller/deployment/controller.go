package deployment

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"maps"
	"slices"
	"sort"
	"strconv"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/keeldb/keel/orchestrator/api"
	"github.com/keeldb/keel/orchestrator/events"
	"github.com/keeldb/keel/orchestrator/informer"
	"github.com/keeldb/keel/orchestrator/registry"
	"github.com/keeldb/keel/orchestrator/workqueue"
)

// Label and annotation keys, as in Kubernetes.
const (
	PodTemplateHashLabel = "pod-template-hash"
	RevisionAnnotation   = "deployment.kubernetes.io/revision"
	// ChangeCauseAnnotation, set by users on the Deployment, is copied to the ReplicaSet of
	// each revision, where `rollout history` shows it.
	ChangeCauseAnnotation = "kubernetes.io/change-cause"
)

// DefaultWorkers is the number of Deployments synced in parallel by default.
const DefaultWorkers = 5

// Config configures a Controller. The zero value means defaults.
type Config struct {
	// Workers is the number of Deployments synced in parallel; default 5.
	Workers int
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Logger defaults to discarding.
	Logger *slog.Logger
	// Recorder records ScalingReplicaSet events on Deployments; nil records none.
	Recorder *events.Recorder
}

// Controller is the Deployment controller.
type Controller struct {
	cfg    Config
	log    *slog.Logger
	stores *registry.Stores
	dInf   *informer.Informer[api.Deployment, *api.Deployment]
	rsInf  *informer.Informer[api.ReplicaSet, *api.ReplicaSet]
	queue  *workqueue.Queue[string]
}

const controllerIndex = "controller"

// New returns a Controller; call Run to start it.
func New(cli *clientv3.Client, cfg Config) *Controller {
	if cfg.Workers <= 0 {
		cfg.Workers = DefaultWorkers
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	c := &Controller{cfg: cfg, log: cfg.Logger.With("component", "deployment-controller"),
		stores: registry.NewStores(cli, registry.Config{Now: cfg.Now}), queue: workqueue.New[string](workqueue.Config{})}
	c.dInf = informer.New(cli, c.stores.Deployments, informer.Config{Logger: cfg.Logger})
	c.rsInf = informer.New(cli, c.stores.ReplicaSets, informer.Config{Logger: cfg.Logger})
	c.rsInf.AddIndex(controllerIndex, func(rs *api.ReplicaSet) []string {
		if ref := rs.ControllerRef(); ref != nil {
			return []string{ref.UID}
		}
		return nil
	})
	enqueueD := func(d *api.Deployment) { c.queue.Add(api.KeyFunc(d)) }
	c.dInf.AddHandler(informer.Handler[*api.Deployment]{
		OnAdd: enqueueD, OnUpdate: func(_, d *api.Deployment) { enqueueD(d) }, OnDelete: enqueueD,
	})
	enqueueOwner := func(rs *api.ReplicaSet) {
		if ref := rs.ControllerRef(); ref != nil && ref.Kind == "Deployment" {
			c.queue.Add(rs.Namespace + "/" + ref.Name)
		}
	}
	c.rsInf.AddHandler(informer.Handler[*api.ReplicaSet]{
		OnAdd: enqueueOwner, OnUpdate: func(_, rs *api.ReplicaSet) { enqueueOwner(rs) }, OnDelete: enqueueOwner,
	})
	return c
}

// Run runs the controller until ctx ends, then returns nil.
func Run(ctx context.Context, cli *clientv3.Client, cfg Config) error {
	return New(cli, cfg).Run(ctx)
}

// Run runs the informers and workers until ctx ends, then returns nil. It may be called
// once.
func (c *Controller) Run(ctx context.Context) error {
	workqueue.RunWorkers(ctx, c.queue, c.cfg.Workers, c.sync, c.syncFailed, c.dInf, c.rsInf)
	return nil
}

// syncFailed logs a failed sync before the key is retried.
func (c *Controller) syncFailed(key string, err error) {
	c.log.Debug("sync failed", "deployment", key, "err", err)
}

// TemplateHash returns the pod-template-hash of a template: a hash of its JSON form
// without the pod-template-hash label.
func TemplateHash(t api.PodTemplateSpec) string {
	t.Labels = maps.Clone(t.Labels)
	delete(t.Labels, PodTemplateHashLabel)
	b, _ := json.Marshal(t)
	h := fnv.New32a()
	_, _ = h.Write(b)
	return strconv.FormatUint(uint64(h.Sum32()), 36)
}

func revision(rs *api.ReplicaSet) int64 {
	n, _ := strconv.ParseInt(rs.Annotations[RevisionAnnotation], 10, 64)
	return n
}

func replicas(rs *api.ReplicaSet) int32 {
	if rs.Spec.Replicas == nil {
		return 1
	}
	return *rs.Spec.Replicas
}

// podCount is the number of pods rs may have: its spec, or more while pods it was scaled
// down from are still there.
func podCount(rss ...*api.ReplicaSet) int32 {
	var n int32
	for _, rs := range rss {
		if rs != nil {
			n += max(replicas(rs), rs.Status.Replicas)
		}
	}
	return n
}

func specCount(rss ...*api.ReplicaSet) int32 {
	var n int32
	for _, rs := range rss {
		if rs != nil {
			n += replicas(rs)
		}
	}
	return n
}

func availableCount(rss ...*api.ReplicaSet) int32 {
	var n int32
	for _, rs := range rss {
		if rs != nil {
			n += rs.Status.AvailableReplicas
		}
	}
	return n
}

func (c *Controller) sync(ctx context.Context, key string) error {
	d, ok := c.dInf.Cache().Get(key)
	if !ok {
		return nil // its dependents are the garbage collector's
	}
	if d.DeletionTimestamp != nil || d.Spec.Selector == nil {
		return nil
	}
	hash := TemplateHash(d.Spec.Template)
	var newRS *api.ReplicaSet
	var old []*api.ReplicaSet
	for _, rs := range c.rsInf.Cache().ByIndex(controllerIndex, d.UID) {
		if rs.Labels[PodTemplateHashLabel] == hash && newRS == nil {
			newRS = rs
		} else {
			old = append(old, rs)
		}
	}
	sort.SliceStable(old, func(i, j int) bool {
		if ri, rj := revision(old[i]), revision(old[j]); ri != rj {
			return ri < rj
		}
		return old[i].CreationTimestamp.Before(old[j].CreationTimestamp.Time)
	})
	var err error
	var created string // the ReplicaSet created by this sync
	if !d.Spec.Paused {
		if d.Spec.Strategy.Type == api.RecreateStrategy {
			err = c.recreate(ctx, d, newRS, old, hash, &created)
		} else {
			err = c.rolling(ctx, d, newRS, old, hash, &created)
		}
	}
	err = errors.Join(err, c.cleanup(ctx, d, old))
	return errors.Join(err, c.updateStatus(ctx, d, newRS, old, created))
}

// nextRevision returns max(revision of old) + 1.
func nextRevision(old []*api.ReplicaSet) int64 {
	var m int64
	for _, rs := range old {
		m = max(m, revision(rs))
	}
	return m + 1
}

func controllerRef(d *api.Deployment) api.OwnerReference {
	t := true
	return api.OwnerReference{APIVersion: "apps/v1", Kind: "Deployment", Name: d.Name, UID: d.UID, Controller: &t, BlockOwnerDeletion: &t}
}

// createReplicaSet creates the ReplicaSet of d's current template with n replicas and sets
// *created to its name.
func (c *Controller) createReplicaSet(ctx context.Context, d *api.Deployment, hash string, n int32, rev int64, created *string) error {
	lbls := maps.Clone(d.Spec.Template.Labels)
	if lbls == nil {
		lbls = map[string]string{}
	}
	lbls[PodTemplateHashLabel] = hash
	sel := &api.LabelSelector{MatchLabels: maps.Clone(d.Spec.Selector.MatchLabels),
		MatchExpressions: slices.Clone(d.Spec.Selector.MatchExpressions)}
	if sel.MatchLabels == nil {
		sel.MatchLabels = map[string]string{}
	}
	sel.MatchLabels[PodTemplateHashLabel] = hash
	ann := map[string]string{RevisionAnnotation: strconv.FormatInt(rev, 10)}
	if cause, ok := d.Annotations[ChangeCauseAnnotation]; ok {
		ann[ChangeCauseAnnotation] = cause
	}
	rs := &api.ReplicaSet{
		ObjectMeta: api.ObjectMeta{Namespace: d.Namespace, Name: d.Name + "-" + hash, Labels: lbls,
			Annotations:     ann,
			OwnerReferences: []api.OwnerReference{controllerRef(d)}},
		Spec: api.ReplicaSetSpec{Replicas: &n, MinReadySeconds: d.Spec.MinReadySeconds, Selector: sel,
			Template: api.PodTemplateSpec{
				ObjectMeta: api.ObjectMeta{Labels: lbls, Annotations: maps.Clone(d.Spec.Template.Annotations)},
				Spec:       d.Spec.Template.Spec,
			}},
	}
	_, err := c.stores.ReplicaSets.Create(ctx, rs)
	if errors.Is(err, registry.ErrAlreadyExists) {
		// Ours but not yet in the cache, or a name collision: either way, retry later.
		return fmt.Errorf("deployment %s: replica set %s exists but is not cached as its own: %w", api.KeyFunc(d), rs.Name, err)
	}
	if err == nil {
		*created = rs.Name
		c.log.Info("created replica set", "deployment", api.KeyFunc(d), "replicaset", rs.Name, "replicas", n, "revision", rev)
		if n > 0 {
			c.cfg.Recorder.Eventf(d, events.TypeNormal, "ScalingReplicaSet", "Scaled up replica set %s to %d", rs.Name, n)
		}
	}
	return err
}

// scale sets the replicas of d's rs to n (and its revision when rev > 0), failing with a
// conflict when the cached rs is stale.
func (c *Controller) scale(ctx context.Context, d *api.Deployment, rs *api.ReplicaSet, n int32, rev int64) error {
	next := api.DeepCopy(rs)
	next.Spec.Replicas = &n
	if rev > 0 {
		if next.Annotations == nil {
			next.Annotations = map[string]string{}
		}
		next.Annotations[RevisionAnnotation] = strconv.FormatInt(rev, 10)
		// A new revision (a rollback reusing this ReplicaSet) takes the Deployment's cause.
		if cause, ok := d.Annotations[ChangeCauseAnnotation]; ok {
			next.Annotations[ChangeCauseAnnotation] = cause
		}
	}
	_, err := c.stores.ReplicaSets.Update(ctx, next)
	if err == nil {
		c.log.Debug("scaled replica set", "replicaset", api.KeyFunc(rs), "from", replicas(rs), "to", n)
		switch from := replicas(rs); {
		case n > from:
			c.cfg.Recorder.Eventf(d, events.TypeNormal, "ScalingReplicaSet", "Scaled up replica set %s to %d", rs.Name, n)
		case n < from:
			c.cfg.Recorder.Eventf(d, events.TypeNormal, "ScalingReplicaSet", "Scaled down replica set %s to %d", rs.Name, n)
		}
	}
	return err
}

// ensureRevision gives a reused ReplicaSet (rollback) a revision above every old one.
func (c *Controller) ensureRevision(ctx context.Context, d *api.Deployment, newRS *api.ReplicaSet, old []*api.ReplicaSet) (bool, error) {
	next := nextRevision(old)
	if revision(newRS) >= next {
		return false, nil
	}
	return true, c.scale(ctx, d, newRS, replicas(newRS), next)
}

func maxSurgeUnavailable(d *api.Deployment) (surge, unavailable int32) {
	n := int(*d.Spec.Replicas)
	ru := d.Spec.Strategy.RollingUpdate
	s, u := api.FromString("25%"), api.FromString("25%")
	if ru != nil && ru.MaxSurge != nil {
		s = *ru.MaxSurge
	}
	if ru != nil && ru.MaxUnavailable != nil {
		u = *ru.MaxUnavailable
	}
	sv, _ := s.ScaledValue(n, true)
	uv, _ := u.ScaledValue(n, false)
	if sv == 0 && uv == 0 {
		uv = 1 // as Kubernetes: a rollout must be able to progress
	}
	return int32(sv), int32(min(uv, n))
}

// rolling performs one step of a RollingUpdate; the informer events of its write trigger
// the next.
func (c *Controller) rolling(ctx context.Context, d *api.Deployment, newRS *api.ReplicaSet, old []*api.ReplicaSet, hash string, created *string) error {
	want := *d.Spec.Replicas
	surge, unavailable := maxSurgeUnavailable(d)
	if newRS == nil {
		n := max(0, min(want+surge-podCount(old...), want))
		return c.createReplicaSet(ctx, d, hash, n, nextRevision(old), created)
	}
	if changed, err := c.ensureRevision(ctx, d, newRS, old); changed || err != nil {
		return err
	}
	// Scale the new ReplicaSet up within the surge (or down to the replica count).
	cur := replicas(newRS)
	if cur > want {
		return c.scale(ctx, d, newRS, want, 0)
	}
	if cur < want {
		if up := min(want+surge-podCount(append(old, newRS)...), want-cur); up > 0 {
			return c.scale(ctx, d, newRS, cur+up, 0)
		}
	}
	if specCount(old...) == 0 {
		return nil
	}
	// Scale old ReplicaSets down while enough pods stay available.
	minAvailable := want - unavailable
	newUnavailable := max(0, replicas(newRS)-newRS.Status.AvailableReplicas)
	room := specCount(append(old, newRS)...) - minAvailable - newUnavailable
	if room <= 0 {
		return nil
	}
	// Unavailable old pods go first: removing them costs no availability.
	scaled := false
	for _, rs := range old {
		if room <= 0 {
			break
		}
		if unhealthy := replicas(rs) - rs.Status.AvailableReplicas; unhealthy > 0 && replicas(rs) > 0 {
			n := min(room, unhealthy)
			if err := c.scale(ctx, d, rs, replicas(rs)-n, 0); err != nil {
				return err
			}
			room -= n
			scaled = true
		}
	}
	if scaled {
		return nil
	}
	down := min(room, availableCount(append(old, newRS)...)-minAvailable)
	for _, rs := range old {
		if down <= 0 {
			break
		}
		if r := replicas(rs); r > 0 {
			n := min(down, r)
			if err := c.scale(ctx, d, rs, r-n, 0); err != nil {
				return err
			}
			down -= n
		}
	}
	return nil
}

// recreate scales every old ReplicaSet to 0, waits for their pods to go, then scales the
// new one up.
func (c *Controller) recreate(ctx context.Context, d *api.Deployment, newRS *api.ReplicaSet, old []*api.ReplicaSet, hash string, created *string) error {
	want := *d.Spec.Replicas
	var errs []error
	for _, rs := range old {
		if replicas(rs) > 0 {
			errs = append(errs, c.scale(ctx, d, rs, 0, 0))
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	for _, rs := range old {
		if rs.Status.Replicas > 0 || rs.Status.TerminatingReplicas > 0 {
			// Pods still there, or still terminating (Recreate never overlaps old and new
			// pods, as Kubernetes' oldPodsRunning); their ReplicaSet's status update
			// requeues us.
			return nil
		}
	}
	if newRS == nil {
		return c.createReplicaSet(ctx, d, hash, want, nextRevision(old), created)
	}
	if changed, err := c.ensureRevision(ctx, d, newRS, old); changed || err != nil {
		return err
	}
	if replicas(newRS) != want {
		return c.scale(ctx, d, newRS, want, 0)
	}
	return nil
}

// cleanup deletes the oldest scaled-down ReplicaSets beyond revisionHistoryLimit.
func (c *Controller) cleanup(ctx context.Context, d *api.Deployment, old []*api.ReplicaSet) error {
	limit := 10
	if d.Spec.RevisionHistoryLimit != nil {
		limit = int(*d.Spec.RevisionHistoryLimit)
	}
	var idle []*api.ReplicaSet
	for _, rs := range old { // sorted by revision
		if replicas(rs) == 0 && rs.Status.Replicas == 0 {
			idle = append(idle, rs)
		}
	}
	excess := len(old) - limit
	if excess <= 0 {
		return nil
	}
	var errs []error
	for _, rs := range idle[:min(len(idle), excess)] {
		_, err := c.stores.ReplicaSets.Delete(ctx, rs.Namespace, rs.Name, registry.DeleteOptions{UID: rs.UID})
		if err != nil && !errors.Is(err, registry.ErrNotFound) && !errors.Is(err, registry.ErrConflict) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (c *Controller) updateStatus(ctx context.Context, d *api.Deployment, newRS *api.ReplicaSet, old []*api.ReplicaSet, created string) error {
	all := old
	if newRS != nil {
		all = append(slices.Clone(old), newRS)
	}
	st := api.DeploymentStatus{ObservedGeneration: d.Generation, Conditions: slices.Clone(d.Status.Conditions), CollisionCount: d.Status.CollisionCount}
	for _, rs := range all {
		st.Replicas += rs.Status.Replicas
		st.ReadyReplicas += rs.Status.ReadyReplicas
		st.AvailableReplicas += rs.Status.AvailableReplicas
	}
	if newRS != nil {
		st.UpdatedReplicas = newRS.Status.Replicas
	}
	st.UnavailableReplicas = max(0, *d.Spec.Replicas-st.AvailableReplicas)
	now := c.cfg.Now()
	setAvailable(d, &st, now)
	syncProgress(d, &st, newRS, created, now)
	if after, ok := progressCheckAfter(d, &st, now); ok {
		c.queue.AddAfter(api.KeyFunc(d), after)
	}
	cur := d.Status
	if cur.ObservedGeneration == st.ObservedGeneration && cur.Replicas == st.Replicas && cur.UpdatedReplicas == st.UpdatedReplicas &&
		cur.ReadyReplicas == st.ReadyReplicas && cur.AvailableReplicas == st.AvailableReplicas && cur.UnavailableReplicas == st.UnavailableReplicas &&
		conditionsEqual(cur.Conditions, st.Conditions) {
		return nil
	}
	next := api.DeepCopy(d)
	next.Status = st
	_, err := c.stores.Deployments.UpdateStatus(ctx, next)
	if errors.Is(err, registry.ErrConflict) || errors.Is(err, registry.ErrNotFound) {
		return nil // the Deployment's own event queues another sync
	}
	return err
}
