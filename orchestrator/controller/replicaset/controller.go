package replicaset

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/keeldb/keel/orchestrator/api"
	"github.com/keeldb/keel/orchestrator/controller/internal/expectations"
	"github.com/keeldb/keel/orchestrator/events"
	"github.com/keeldb/keel/orchestrator/informer"
	"github.com/keeldb/keel/orchestrator/labels"
	"github.com/keeldb/keel/orchestrator/registry"
	"github.com/keeldb/keel/orchestrator/workqueue"
)

// Kubernetes' defaults.
const (
	DefaultBurstReplicas       = 500
	DefaultWorkers             = 5
	DefaultExpectationsTimeout = 5 * time.Minute
)

// Config configures a Controller. The zero value means defaults.
type Config struct {
	// Workers is the number of ReplicaSets synced in parallel; default 5.
	Workers int
	// BurstReplicas caps the pods created or deleted per sync; default 500.
	BurstReplicas int
	// ExpectationsTimeout is how long unmet expectations block a ReplicaSet; default 5 min.
	ExpectationsTimeout time.Duration
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Logger defaults to discarding.
	Logger *slog.Logger
	// Recorder records SuccessfulCreate, FailedCreate and SuccessfulDelete events on the
	// ReplicaSet; nil records none.
	Recorder *events.Recorder
}

// Controller is the ReplicaSet controller.
type Controller = controller[api.ReplicaSet, *api.ReplicaSet]

// controller keeps the pods of one replicated kind, ReplicaSet or ReplicationController
// (replication.go): Kubernetes runs its ReplicationManager as the ReplicaSet controller
// over converted objects; here the kind is a type parameter and kind[P] its accessors.
type controller[T any, P registry.ObjectPtr[T]] struct {
	cfg    Config
	kind   kind[P]
	log    *slog.Logger
	stores *registry.Stores
	owners *registry.Store[T, P]
	rsInf  *informer.Informer[T, P]
	podInf *informer.Informer[api.Pod, *api.Pod]
	queue  *workqueue.Queue[string]
	exp    *expectations.Expectations
	warm   warmStarts // creation bursts' starting batch sizes
}

// controllerIndex indexes pods by the uid of their controller (orphans under "") and
// their labels: groupValue. A sync visits its pods group by group and matches the selector
// and the template's labels once per distinct label set, not once per pod (label matching
// was half of the sync at 150,000 pods, and the sync the bench process's largest cost).
const (
	controllerIndex = "controller"
	orphan          = ""
)

// groupValue is controllerIndex's value of a pod: its controller's uid, a NUL, its labels
// sorted by key (keys and values hold no control characters), a NUL and its podState.
func groupValue(owner string, ls map[string]string, state byte) string {
	var b strings.Builder
	b.WriteString(owner)
	b.WriteByte(0)
	for _, k := range slices.Sorted(maps.Keys(ls)) {
		b.WriteString(k)
		b.WriteByte(1)
		b.WriteString(ls[k])
		b.WriteByte(2)
	}
	b.WriteByte(0)
	b.WriteByte(state)
	return b.String()
}

// A pod's state as a sync counts it, the last byte of its groupValue: a sync whose groups
// all match counts replicas, ready and terminating pods from the groups' sizes, without
// reading 150,000 pods (their conditions' scan was the sync's cost, synced back to back).
const (
	stateReady       = 'R' // active (not deleted, not finished), Ready
	stateNotReady    = 'N' // active, not Ready
	stateTerminating = 'T' // deletionTimestamp set, not finished
	stateDeleted     = 'D' // deletionTimestamp set, finished
	stateFinished    = 'F' // Succeeded or Failed, not deleted
)

func podState(p *api.Pod) byte {
	finished := p.Status.Phase == api.PodSucceeded || p.Status.Phase == api.PodFailed
	switch {
	case p.DeletionTimestamp != nil && finished:
		return stateDeleted
	case p.DeletionTimestamp != nil:
		return stateTerminating
	case finished:
		return stateFinished
	case podReady(p):
		return stateReady
	}
	return stateNotReady
}

// podGroup is the pods of one controllerIndex value: one owner, identical labels, one
// state.
type podGroup struct {
	labels map[string]string
	pods   []*api.Pod
}

// groupCount is a controllerIndex value's size, labels and state, without its pods.
type groupCount struct {
	value  string
	labels map[string]string
	state  byte
	n      int
}

// groupCounts returns owner's groups with their sizes.
func (c *controller[T, P]) groupCounts(owner string) []groupCount {
	// One read of the index: a pod changing state between two groups is counted once.
	var out []groupCount
	for _, g := range c.podInf.Cache().IndexGroups(controllerIndex, owner+"\x00", false) {
		out = append(out, groupCount{value: g.Value, labels: g.Any.Labels, state: g.Value[len(g.Value)-1], n: g.Size})
	}
	return out
}

// podCounts are a ReplicaSet's pods as its status counts them.
type podCounts struct {
	active, fullyLabeled, ready, terminating int32
}

// fastCounts counts rs's pods from its groups' sizes when nothing calls for reading the
// pods: every group matches the selector (nothing to release), no orphan matches it (nothing
// to adopt), no deletion is pending, minReadySeconds is 0 (available = ready) and there is
// no surplus to choose victims from. ok is false otherwise: the sync then reads every pod.
func (c *controller[T, P]) fastCounts(rs P, sel labels.Selector, pending map[string]bool) (podCounts, bool) {
	var pc podCounts
	if pending != nil || c.kind.minReadySeconds(rs) != 0 {
		return pc, false
	}
	if rs.Meta().DeletionTimestamp == nil {
		for _, g := range c.groupCounts(orphan) {
			if (g.state == stateReady || g.state == stateNotReady) && sel.Matches(g.labels) {
				return pc, false
			}
		}
	}
	tmplSel := labels.SelectorFromSet(c.kind.template(rs).Labels)
	for _, g := range c.groupCounts(rs.Meta().UID) {
		switch g.state {
		case stateTerminating:
			pc.terminating += int32(g.n)
			continue
		case stateDeleted:
			continue
		}
		if !sel.Matches(g.labels) {
			return pc, false
		}
		if g.state == stateFinished {
			continue
		}
		pc.active += int32(g.n)
		if tmplSel.Matches(g.labels) {
			pc.fullyLabeled += int32(g.n)
		}
		if g.state == stateReady {
			pc.ready += int32(g.n)
		}
	}
	if int(pc.active) > int(c.kind.replicas(rs)) {
		return pc, false
	}
	return pc, true
}

// groups returns owner's pod groups.
func (c *controller[T, P]) groups(owner string) []podGroup {
	var out []podGroup
	for _, g := range c.podInf.Cache().IndexGroups(controllerIndex, owner+"\x00", true) {
		out = append(out, podGroup{labels: g.Any.Labels, pods: g.Objects})
	}
	return out
}

// ownedPod is a pod a sync counts, with whether its labels include the template's.
type ownedPod struct {
	pod          *api.Pod
	fullyLabeled bool
}

// New returns a Controller; call Run to start it.
func New(cli *clientv3.Client, cfg Config) *Controller {
	return newController(cli, cfg, replicaSetKind)
}

// kind is the accessors of a replicated kind's fields.
type kind[P any] struct {
	name, apiVersion, component string
	selector                    func(P) *api.LabelSelector
	replicas                    func(P) int32
	minReadySeconds             func(P) int32
	template                    func(P) *api.PodTemplateSpec
	status                      func(P) *api.ReplicaSetStatus
}

var replicaSetKind = kind[*api.ReplicaSet]{
	name: "ReplicaSet", apiVersion: "apps/v1", component: "replicaset-controller",
	selector:        func(rs *api.ReplicaSet) *api.LabelSelector { return rs.Spec.Selector },
	replicas:        func(rs *api.ReplicaSet) int32 { return *rs.Spec.Replicas },
	minReadySeconds: func(rs *api.ReplicaSet) int32 { return rs.Spec.MinReadySeconds },
	template:        func(rs *api.ReplicaSet) *api.PodTemplateSpec { return &rs.Spec.Template },
	status:          func(rs *api.ReplicaSet) *api.ReplicaSetStatus { return &rs.Status },
}

func newController[T any, P registry.ObjectPtr[T]](cli *clientv3.Client, cfg Config, k kind[P]) *controller[T, P] {
	if cfg.Workers <= 0 {
		cfg.Workers = DefaultWorkers
	}
	if cfg.BurstReplicas <= 0 {
		cfg.BurstReplicas = DefaultBurstReplicas
	}
	if cfg.ExpectationsTimeout <= 0 {
		cfg.ExpectationsTimeout = DefaultExpectationsTimeout
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	c := &controller[T, P]{cfg: cfg, kind: k, log: cfg.Logger.With("component", k.component),
		stores: registry.NewStores(cli, registry.Config{Now: cfg.Now}),
		owners: registry.New[T, P](cli, registry.Config{Now: cfg.Now})}
	c.exp = expectations.New(cfg.Now, cfg.ExpectationsTimeout)
	c.queue = workqueue.New[string](workqueue.Config{})
	c.rsInf = informer.New(cli, c.owners, informer.Config{Logger: cfg.Logger})
	c.podInf = informer.New(cli, c.stores.Pods, informer.Config{Logger: cfg.Logger})
	c.podInf.AddIndex(controllerIndex, func(p *api.Pod) []string {
		owner := orphan
		if ref := p.ControllerRef(); ref != nil {
			owner = ref.UID
		}
		return []string{groupValue(owner, p.Labels, podState(p))}
	})
	c.rsInf.AddHandler(informer.Handler[P]{
		OnAdd:    func(rs P) { c.queue.Add(api.KeyFunc(rs)) },
		OnUpdate: func(_, rs P) { c.queue.Add(api.KeyFunc(rs)) },
		OnDelete: func(rs P) { c.queue.Add(api.KeyFunc(rs)) },
	})
	c.podInf.AddHandler(informer.Handler[*api.Pod]{
		OnAdd:    c.podAdded,
		OnUpdate: c.podUpdated,
		OnDelete: c.podDeleted,
	})
	return c
}

// Run runs the controller until ctx ends, then returns nil.
func Run(ctx context.Context, cli *clientv3.Client, cfg Config) error {
	return New(cli, cfg).Run(ctx)
}

// Run runs the informers and workers until ctx ends, then returns nil. It may be called
// once.
func (c *controller[T, P]) Run(ctx context.Context) error {
	workqueue.RunWorkers(ctx, c.queue, c.cfg.Workers, c.sync, c.syncFailed, c.rsInf, c.podInf)
	return nil
}

// syncFailed logs a failed sync before the key is retried.
func (c *controller[T, P]) syncFailed(key string, err error) {
	c.log.Debug("sync failed", "replicaset", key, "err", err)
}

func (c *controller[T, P]) ownerKey(p *api.Pod) (string, bool) {
	ref := p.ControllerRef()
	if ref == nil || ref.Kind != c.kind.name {
		return "", false
	}
	return p.Namespace + "/" + ref.Name, true
}

// enqueueMatching queues every ReplicaSet of p's namespace whose selector matches p (for
// adoption of an orphan).
func (c *controller[T, P]) enqueueMatching(p *api.Pod) {
	for _, rs := range c.rsInf.Cache().ByIndex(informer.NamespaceIndex, p.Namespace) {
		if sel, err := c.kind.selector(rs).Selector(); err == nil && sel.Matches(p.Labels) {
			c.queue.Add(api.KeyFunc(rs))
		}
	}
}

func (c *controller[T, P]) podAdded(p *api.Pod) {
	if key, ok := c.ownerKey(p); ok {
		c.exp.ObserveAdd(key)
		c.queue.Add(key)
		return
	}
	if p.DeletionTimestamp == nil {
		c.enqueueMatching(p)
	}
}

func (c *controller[T, P]) podUpdated(old, p *api.Pod) {
	oldKey, oldOK := c.ownerKey(old)
	key, ok := c.ownerKey(p)
	if oldOK && (!ok || oldKey != key) {
		c.queue.Add(oldKey)
	}
	if ok {
		if p.DeletionTimestamp != nil && old.DeletionTimestamp == nil {
			// A graceful delete: the pod stops counting now, so the deletion the
			// expectations wait for is observed here, as Kubernetes' updatePod does.
			c.exp.ObserveDelete(key, api.KeyFunc(p))
		}
		c.queue.Add(key)
		return
	}
	if p.DeletionTimestamp == nil {
		c.enqueueMatching(p)
	}
}

func (c *controller[T, P]) podDeleted(p *api.Pod) {
	if key, ok := c.ownerKey(p); ok {
		c.exp.ObserveDelete(key, api.KeyFunc(p))
		c.queue.Add(key)
	}
}

// sync reconciles one ReplicaSet.
func (c *controller[T, P]) sync(ctx context.Context, key string) error {
	rs, ok := c.rsInf.Cache().Get(key)
	if !ok {
		c.exp.Forget(key)
		c.warm.forget(key)
		return nil // its dependents are the garbage collector's
	}
	sel, err := c.kind.selector(rs).Selector()
	if err != nil {
		return nil // invalid selectors are refused by validation; nothing to do
	}
	// Expectations are checked before the pods are listed, as Kubernetes does: checked
	// after, the pods whose add events satisfied them could be missing from the list, and
	// be created twice.
	satisfied := c.exp.Satisfied(key)
	pending := c.exp.PendingDeletes(key)
	if pc, ok := c.fastCounts(rs, sel, pending); ok {
		var manageErr error
		if rs.Meta().DeletionTimestamp == nil && satisfied {
			manageErr = c.manage(ctx, rs, int(pc.active), nil)
		}
		if err := c.writeStatus(ctx, rs, pc, pc.ready); err != nil {
			return errors.Join(manageErr, err)
		}
		return manageErr
	}
	pods, err := c.claim(ctx, rs, sel)
	if err != nil {
		return err
	}
	var active []*api.Pod
	var terminating, fullyLabeled int32
	for _, o := range pods {
		p := o.pod
		if isActive(p) && (pending == nil || !pending[api.KeyFunc(p)]) {
			active = append(active, p)
			if o.fullyLabeled {
				fullyLabeled++
			}
		}
		if p.DeletionTimestamp != nil && p.Status.Phase != api.PodSucceeded && p.Status.Phase != api.PodFailed {
			terminating++
		}
	}
	var manageErr error
	if rs.Meta().DeletionTimestamp == nil && satisfied {
		manageErr = c.manage(ctx, rs, len(active), active)
	}
	if err := c.updateStatus(ctx, rs, active, terminating, fullyLabeled); err != nil {
		return errors.Join(manageErr, err)
	}
	return manageErr
}

func isActive(p *api.Pod) bool {
	return p.DeletionTimestamp == nil && p.Status.Phase != api.PodSucceeded && p.Status.Phase != api.PodFailed
}

// claim adopts matching orphans and releases non-matching owned pods, and returns the pods
// rs controls afterwards, each with whether its labels include the template's.
func (c *controller[T, P]) claim(ctx context.Context, rs P, sel labels.Selector) ([]ownedPod, error) {
	var owned []ownedPod
	var errs []error
	adoptable, rechecked := rs.Meta().DeletionTimestamp == nil, false
	tmplSel := labels.SelectorFromSet(c.kind.template(rs).Labels)
	// Unsorted: every owned pod is visited, and manage ranks victims by a total order.
	for _, g := range c.groups(rs.Meta().UID) {
		matches, full := sel.Matches(g.labels), tmplSel.Matches(g.labels)
		for _, p := range g.pods {
			if matches || p.DeletionTimestamp != nil {
				owned = append(owned, ownedPod{pod: p, fullyLabeled: full})
				continue
			}
			if err := c.release(ctx, rs, p); err != nil {
				errs = append(errs, err)
			}
		}
	}
	var orphans []*api.Pod
	if adoptable {
		for _, g := range c.groups(orphan) {
			if sel.Matches(g.labels) {
				orphans = append(orphans, g.pods...)
			}
		}
		slices.SortFunc(orphans, func(a, b *api.Pod) int { return strings.Compare(api.KeyFunc(a), api.KeyFunc(b)) })
	}
	for _, p := range orphans {
		if p.Namespace != rs.Meta().Namespace || p.DeletionTimestamp != nil ||
			p.Status.Phase == api.PodSucceeded || p.Status.Phase == api.PodFailed {
			continue
		}
		if !rechecked {
			if !c.stillOwner(ctx, rs) {
				break
			}
			rechecked = true
		}
		adopted, err := c.adopt(ctx, rs, sel, p)
		if err != nil {
			errs = append(errs, err)
		} else if adopted != nil {
			owned = append(owned, ownedPod{pod: adopted, fullyLabeled: tmplSel.Matches(adopted.Labels)})
		}
	}
	return owned, errors.Join(errs...)
}

// stillOwner re-reads rs to check it still exists with the same uid and is not being
// deleted, before adopting (Kubernetes' RecheckDeletionTimestamp).
func (c *controller[T, P]) stillOwner(ctx context.Context, rs P) bool {
	m := rs.Meta()
	cur, err := c.owners.Get(ctx, m.Namespace, m.Name)
	return err == nil && cur.Meta().UID == m.UID && cur.Meta().DeletionTimestamp == nil
}

var errSkip = errors.New("replicaset: pod changed, skip")

func (c *controller[T, P]) controllerRef(rs P) api.OwnerReference {
	t := true
	return api.OwnerReference{APIVersion: c.kind.apiVersion, Kind: c.kind.name, Name: rs.Meta().Name, UID: rs.Meta().UID,
		Controller: &t, BlockOwnerDeletion: &t}
}

func (c *controller[T, P]) adopt(ctx context.Context, rs P, sel labels.Selector, p *api.Pod) (*api.Pod, error) {
	out, err := c.stores.Pods.GuaranteedUpdate(ctx, p.Namespace, p.Name, func(cur *api.Pod) (*api.Pod, error) {
		if cur.UID != p.UID || cur.ControllerRef() != nil || cur.DeletionTimestamp != nil || !sel.Matches(cur.Labels) {
			return nil, errSkip
		}
		cur.OwnerReferences = append(cur.OwnerReferences, c.controllerRef(rs))
		return cur, nil
	})
	if errors.Is(err, errSkip) || errors.Is(err, registry.ErrNotFound) {
		return nil, nil
	}
	if err == nil {
		c.log.Info("adopted pod", "replicaset", api.KeyFunc(rs), "pod", p.Name)
	}
	return out, err
}

func (c *controller[T, P]) release(ctx context.Context, rs P, p *api.Pod) error {
	_, err := c.stores.Pods.GuaranteedUpdate(ctx, p.Namespace, p.Name, func(cur *api.Pod) (*api.Pod, error) {
		if cur.UID != p.UID {
			return nil, errSkip
		}
		refs := cur.OwnerReferences[:0]
		for _, r := range cur.OwnerReferences {
			if r.UID != rs.Meta().UID {
				refs = append(refs, r)
			}
		}
		cur.OwnerReferences = refs
		return cur, nil
	})
	if errors.Is(err, errSkip) || errors.Is(err, registry.ErrNotFound) {
		return nil
	}
	if err == nil {
		c.log.Info("released pod", "replicaset", api.KeyFunc(rs), "pod", p.Name)
	}
	return err
}

// manage creates or deletes pods so that the n active pods become spec.replicas; active
// lists them when n exceeds spec.replicas (nil otherwise is fine).
func (c *controller[T, P]) manage(ctx context.Context, rs P, n int, active []*api.Pod) error {
	key := api.KeyFunc(rs)
	want := int(c.kind.replicas(rs))
	diff := n - want
	switch {
	case diff < 0:
		n := min(-diff, c.cfg.BurstReplicas)
		c.exp.ExpectAdds(key, n)
		created, reached, err := slowStartFrom(c.warm.initial(key), n, func() error { return c.createPod(ctx, rs) })
		c.warm.record(key, reached, err == nil)
		if skipped := n - created; skipped > 0 {
			c.exp.LowerAdds(key, skipped)
		}
		if err != nil {
			return fmt.Errorf("replicaset %s: created %d of %d pods: %w", key, created, n, err)
		}
		c.log.Debug("created pods", "replicaset", key, "count", n)
	case diff > 0:
		n := min(diff, c.cfg.BurstReplicas)
		victims := slices.Clone(active)
		rankForDeletion(victims)
		victims = victims[:n]
		keys := make([]string, len(victims))
		for i, p := range victims {
			keys[i] = api.KeyFunc(p)
		}
		c.exp.ExpectDeletes(key, keys)
		var wg sync.WaitGroup
		errs := make([]error, len(victims))
		for i, p := range victims {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := c.stores.Pods.Delete(ctx, p.Namespace, p.Name, registry.DeleteOptions{UID: p.UID})
				if err == nil {
					c.cfg.Recorder.Eventf(rs, events.TypeNormal, "SuccessfulDelete", "Deleted pod: %s", p.Name)
				}
				if err != nil {
					// Gone already or replaced: no delete event of ours will come.
					c.exp.ObserveDelete(key, keys[i])
					if !errors.Is(err, registry.ErrNotFound) && !errors.Is(err, registry.ErrConflict) {
						errs[i] = err
					}
				}
			}()
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			return fmt.Errorf("replicaset %s: delete pods: %w", key, err)
		}
		c.log.Debug("deleted pods", "replicaset", key, "count", n)
	}
	return nil
}

// slowStart calls fn n times in batches of 1, 2, 4, … run in parallel, stopping after the
// first batch with a failure. It returns how many calls succeeded and the first error.
func slowStart(n int, fn func() error) (int, error) {
	created, _, err := slowStartFrom(slowStartInitialBatch, n, fn)
	return created, err
}

func (c *controller[T, P]) createPod(ctx context.Context, rs P) error {
	t := c.kind.template(rs)
	p := &api.Pod{
		ObjectMeta: api.ObjectMeta{
			Namespace:       rs.Meta().Namespace,
			GenerateName:    rs.Meta().Name + "-",
			Labels:          maps.Clone(t.Labels),
			Annotations:     maps.Clone(t.Annotations),
			OwnerReferences: []api.OwnerReference{c.controllerRef(rs)},
		},
		Spec: t.Spec,
	}
	out, err := c.stores.Pods.Create(ctx, p) // Create deep-copies p
	if err != nil {
		if ctx.Err() == nil {
			c.cfg.Recorder.Eventf(rs, events.TypeWarning, "FailedCreate", "Error creating: %v", err)
		}
		return err
	}
	c.cfg.Recorder.Eventf(rs, events.TypeNormal, "SuccessfulCreate", "Created pod: %s", out.Name)
	return nil
}

// PodDeletionCostAnnotation ranks a controller's pods for scale-down: lower costs go first.
const PodDeletionCostAnnotation = "controller.kubernetes.io/pod-deletion-cost"

// rankForDeletion sorts pods so that the best deletion candidates come first, as
// Kubernetes' ActivePodsWithRanks does: unscheduled, then by phase (Pending, Unknown,
// Running), not ready, lower pod-deletion-cost, ready for less time (never-timed first),
// more restarts, newer. (Kubernetes also prefers pods doubled up on one node; not here.)
func rankForDeletion(pods []*api.Pod) {
	phaseRank := map[string]int{api.PodPending: 0, "": 0, api.PodUnknown: 1, api.PodRunning: 2}
	sort.SliceStable(pods, func(i, j int) bool {
		a, b := pods[i], pods[j]
		if (a.Spec.NodeName == "") != (b.Spec.NodeName == "") {
			return a.Spec.NodeName == ""
		}
		if pa, pb := phaseRank[a.Status.Phase], phaseRank[b.Status.Phase]; pa != pb {
			return pa < pb
		}
		if ra, rb := podReady(a), podReady(b); ra != rb {
			return !ra
		}
		if ca, cb := deletionCost(a), deletionCost(b); ca != cb {
			return ca < cb
		}
		if podReady(a) {
			ta, tb := readyCondition(a).LastTransitionTime.Time, readyCondition(b).LastTransitionTime.Time
			if !ta.Equal(tb) {
				return ta.IsZero() || !tb.IsZero() && ta.After(tb)
			}
		}
		if ra, rb := restarts(a), restarts(b); ra != rb {
			return ra > rb
		}
		if !a.CreationTimestamp.Equal(b.CreationTimestamp.Time) {
			return a.CreationTimestamp.After(b.CreationTimestamp.Time)
		}
		return a.Name > b.Name
	})
}

// deletionCost is p's pod-deletion-cost annotation, 0 when absent or not an int32.
func deletionCost(p *api.Pod) int64 {
	v, err := strconv.ParseInt(p.Annotations[PodDeletionCostAnnotation], 10, 32)
	if err != nil {
		return 0
	}
	return v
}

func restarts(p *api.Pod) int32 {
	var n int32
	for _, cs := range p.Status.ContainerStatuses {
		n += cs.RestartCount
	}
	return n
}

// readyCondition returns p's Ready condition, or nil.
func readyCondition(p *api.Pod) *api.PodCondition {
	for i := range p.Status.Conditions {
		if p.Status.Conditions[i].Type == "Ready" {
			return &p.Status.Conditions[i]
		}
	}
	return nil
}

func podReady(p *api.Pod) bool {
	c := readyCondition(p)
	return c != nil && c.Status == api.ConditionTrue
}

// updateStatus writes rs's status computed from its active pods, how many of them carry
// the template's labels, and the number of its terminating pods, when it changed, and
// schedules a resync for pods about to become available.
func (c *controller[T, P]) updateStatus(ctx context.Context, rs P, active []*api.Pod, terminating, fullyLabeled int32) error {
	now := c.cfg.Now()
	minReady := time.Duration(c.kind.minReadySeconds(rs)) * time.Second
	pc := podCounts{active: int32(len(active)), terminating: terminating, fullyLabeled: fullyLabeled}
	var available int32
	var nextAvailable time.Duration
	for _, p := range active {
		rc := readyCondition(p) // once: at 150,000 pods the scan of conditions is a cost
		if rc == nil || rc.Status != api.ConditionTrue {
			continue
		}
		pc.ready++
		since := rc.LastTransitionTime.Time
		if wait := since.Add(minReady).Sub(now); minReady == 0 || wait <= 0 {
			available++
		} else if nextAvailable == 0 || wait < nextAvailable {
			nextAvailable = wait
		}
	}
	if nextAvailable > 0 {
		c.queue.AddAfter(api.KeyFunc(rs), nextAvailable+time.Second)
	}
	return c.writeStatus(ctx, rs, pc, available)
}

// writeStatus writes rs's status from the counts, when it changed.
func (c *controller[T, P]) writeStatus(ctx context.Context, rs P, pc podCounts, available int32) error {
	st := api.ReplicaSetStatus{Replicas: pc.active, ObservedGeneration: rs.Meta().Generation,
		Conditions: c.kind.status(rs).Conditions, TerminatingReplicas: pc.terminating, FullyLabeledReplicas: pc.fullyLabeled,
		ReadyReplicas: pc.ready, AvailableReplicas: available}
	if statusEqual(st, *c.kind.status(rs)) {
		return nil
	}
	next := api.DeepCopy(rs)
	*c.kind.status(next) = st
	_, err := c.owners.UpdateStatus(ctx, next)
	if errors.Is(err, registry.ErrConflict) || errors.Is(err, registry.ErrNotFound) {
		// The ReplicaSet changed or went away: its informer event queues another sync.
		return nil
	}
	return err
}

func statusEqual(a, b api.ReplicaSetStatus) bool {
	return a.Replicas == b.Replicas && a.FullyLabeledReplicas == b.FullyLabeledReplicas &&
		a.ReadyReplicas == b.ReadyReplicas && a.AvailableReplicas == b.AvailableReplicas &&
		a.ObservedGeneration == b.ObservedGeneration && a.TerminatingReplicas == b.TerminatingReplicas
}
