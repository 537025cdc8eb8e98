package scheduler

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/keeldb/keel/orchestrator/api"
	"github.com/keeldb/keel/orchestrator/events"
	"github.com/keeldb/keel/orchestrator/informer"
	"github.com/keeldb/keel/orchestrator/registry"
	"github.com/keeldb/keel/orchestrator/workqueue"
)

// DefaultSchedulerName is the spec.schedulerName this scheduler serves by default.
const DefaultSchedulerName = "default-scheduler"

// Pod condition and event vocabulary.
const (
	ConditionPodScheduled   = "PodScheduled"
	ReasonUnschedulable     = "Unschedulable"
	ReasonFailedScheduling  = "FailedScheduling"
	defaultInitialBackoff   = time.Second
	defaultMaxBackoff       = 10 * time.Second
	defaultBindRetryTimeout = 10 * time.Second
	defaultBindWorkers      = 16
	defaultBindBatch        = 64
	// maxBindBatchBytes bounds a binding transaction's size (etcd's and Keel's default
	// --max-request-bytes is 1.5 MiB).
	maxBindBatchBytes = 512 << 10
	// bindPending is the boundRV of a pod assumed while its binding is being written.
	bindPending = math.MaxInt64
)

// Config configures a Scheduler. The zero value means defaults.
type Config struct {
	// SchedulerName: only pods whose spec.schedulerName is this (or empty) are scheduled;
	// default DefaultSchedulerName.
	SchedulerName string
	// InitialBackoff and MaxBackoff bound the per-pod retry delay after a failed attempt;
	// defaults 1 s and 10 s (kube-scheduler's podInitialBackoffSeconds/podMaxBackoffSeconds).
	// A pod that fits nowhere is also retried at once when a node is added or changes, or a
	// bound pod goes away.
	InitialBackoff, MaxBackoff time.Duration
	// BindWorkers is the number of binding transactions written to the store in parallel
	// while the next pods are being scheduled; default 16.
	BindWorkers int
	// BindBatch caps the bindings one worker writes in a single transaction: a worker takes
	// the bindings already waiting, up to BindBatch, and writes them together; default 64
	// (the store's --max-txn-ops is 128 by default). 1 writes every binding on its own.
	BindBatch int
	// Registry configures the stores (key prefix, clock).
	Registry registry.Config
	// Now is the clock of conditions and events; default time.Now.
	Now func() time.Time
	// Logger defaults to discarding.
	Logger *slog.Logger
	// Recorder records FailedScheduling events; nil means one of the scheduler's own, run by
	// Run.
	Recorder *events.Recorder
}

// Scheduler binds unscheduled pods to nodes. Create it with New and call Run once.
type Scheduler struct {
	cfg      Config
	cli      *clientv3.Client
	log      *slog.Logger
	podStore *registry.Store[api.Pod, *api.Pod]
	rec      *events.Recorder
	ownRec   bool // rec is the scheduler's own: Run runs it
	pods     *informer.Informer[api.Pod, *api.Pod]
	nodes    *informer.Informer[api.Node, *api.Node]
	queue    *workqueue.Queue[string]
	start    int // rotating start index over nodes; Run's goroutine only

	// mu guards the fields below. Handlers update them as the caches change, so a
	// scheduling cycle costs O(nodes), not O(pods).
	mu sync.Mutex
	// infos holds every node and the pods bound to it, by node name; order lists the
	// infos of the nodes in the cache, by name.
	infos map[string]*nodeInfo
	order []*nodeInfo
	// records holds what each bound pod takes from its node, by pod key. A pod this
	// scheduler has bound is recorded at once ("assumed", boundRV set), before the pod
	// cache shows the binding, so the next cycles see the node's resources as taken.
	records map[string]*podRecord
	// unschedulable holds the keys of pods that fit nowhere at their last attempt.
	unschedulable map[string]bool
	// pvcStore and pvStore are read for pods with claims (volumes.go).
	pvcStore *registry.Store[api.PersistentVolumeClaim, *api.PersistentVolumeClaim]
	pvStore  *registry.Store[api.PersistentVolume, *api.PersistentVolume]
}

// New returns a scheduler talking to the store through cli.
func New(cli *clientv3.Client, cfg Config) *Scheduler {
	if cfg.SchedulerName == "" {
		cfg.SchedulerName = DefaultSchedulerName
	}
	if cfg.InitialBackoff <= 0 {
		cfg.InitialBackoff = defaultInitialBackoff
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = defaultMaxBackoff
	}
	if cfg.BindWorkers <= 0 {
		cfg.BindWorkers = defaultBindWorkers
	}
	if cfg.BindBatch <= 0 {
		cfg.BindBatch = defaultBindBatch
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	s := &Scheduler{
		cfg:           cfg,
		cli:           cli,
		log:           log.With("component", "scheduler"),
		podStore:      registry.New[api.Pod](cli, cfg.Registry),
		rec:           cfg.Recorder,
		queue:         workqueue.New[string](workqueue.Config{BaseDelay: cfg.InitialBackoff, MaxDelay: cfg.MaxBackoff}),
		infos:         map[string]*nodeInfo{},
		records:       map[string]*podRecord{},
		unschedulable: map[string]bool{},
		pvcStore:      registry.New[api.PersistentVolumeClaim](cli, cfg.Registry),
		pvStore:       registry.New[api.PersistentVolume](cli, cfg.Registry),
	}
	if s.rec == nil {
		s.rec = events.NewRecorder(cli, events.Config{Component: cfg.SchedulerName, Now: cfg.Now, Logger: log})
		s.ownRec = true
	}
	icfg := informer.Config{Logger: cfg.Logger}
	s.pods = informer.New(cli, s.podStore, icfg)
	s.nodes = informer.New(cli, registry.New[api.Node](cli, cfg.Registry), icfg)
	s.pods.AddHandler(informer.Handler[*api.Pod]{OnAdd: s.podAdded, OnUpdate: s.podUpdated, OnDelete: s.podDeleted})
	s.nodes.AddHandler(informer.Handler[*api.Node]{
		OnAdd:    s.nodeChanged,
		OnUpdate: func(_, n *api.Node) { s.nodeChanged(n) },
		OnDelete: s.nodeDeleted,
	})
	return s
}

// Run schedules pods until ctx ends, then returns nil. It must be called at most once.
func (s *Scheduler) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	wg.Go(func() { _ = s.pods.Run(ctx) })
	wg.Go(func() { _ = s.nodes.Run(ctx) })
	if s.ownRec {
		wg.Go(func() { _ = s.rec.Run(ctx) })
	}
	if err := s.pods.WaitForSync(ctx); err != nil {
		return nil
	}
	if err := s.nodes.WaitForSync(ctx); err != nil {
		return nil
	}
	s.log.Info("caches synced, scheduling")
	binds := make(chan bindJob, s.cfg.BindWorkers*s.cfg.BindBatch)
	for range s.cfg.BindWorkers {
		wg.Go(func() { s.binder(ctx, binds) })
	}
	defer close(binds) // runs before cancel and wg.Wait
	for {
		key, shutdown := s.queue.Get(ctx)
		if shutdown {
			s.queue.ShutDown()
			return nil
		}
		job, ok := s.scheduleOne(ctx, key)
		s.queue.Done(key)
		if ok {
			select {
			case binds <- job:
			case <-ctx.Done():
			}
		}
	}
}

// bindJob is a binding decided by a scheduling cycle, to be written by a bind worker.
type bindJob struct {
	key  string
	pod  *api.Pod
	node string
	rec  *podRecord // the assumed record
}

func (s *Scheduler) needsScheduling(p *api.Pod) bool {
	return p.Spec.NodeName == "" && p.DeletionTimestamp == nil &&
		(p.Spec.SchedulerName == "" || p.Spec.SchedulerName == s.cfg.SchedulerName) &&
		p.Status.Phase != api.PodSucceeded && p.Status.Phase != api.PodFailed
}

func (s *Scheduler) podAdded(p *api.Pod) {
	s.account(p)
	if s.needsScheduling(p) {
		s.queue.Add(api.KeyFunc(p))
	}
}

func (s *Scheduler) podUpdated(old, p *api.Pod) {
	s.account(p)
	if s.needsScheduling(p) {
		// Status writes (our own Unschedulable condition) must not bypass the back-off.
		if !s.needsScheduling(old) || old.Generation != p.Generation || old.UID != p.UID {
			s.queue.Add(api.KeyFunc(p))
		}
		return
	}
	if podCounts(old) && !podCounts(p) {
		s.requeueUnschedulable()
	}
}

func (s *Scheduler) podDeleted(p *api.Pod) {
	key := api.KeyFunc(p)
	s.mu.Lock()
	if rec := s.records[key]; rec != nil {
		s.unrecordLocked(key, rec)
	}
	delete(s.unschedulable, key)
	s.mu.Unlock()
	s.queue.Forget(key)
	if podCounts(p) {
		s.requeueUnschedulable()
	}
}

// account brings the pod's record in line with the cached pod.
func (s *Scheduler) account(p *api.Pod) {
	key := api.KeyFunc(p)
	s.mu.Lock()
	defer s.mu.Unlock()
	rec := s.records[key]
	if podCounts(p) {
		delete(s.unschedulable, key)
		if rec != nil && rec.node == p.Spec.NodeName && rec.uid == p.UID {
			rec.boundRV = 0 // the cache shows the binding now
			return
		}
		if rec != nil {
			s.unrecordLocked(key, rec)
		}
		s.recordLocked(key, recordOf(p))
		return
	}
	if rec == nil {
		return
	}
	if rec.boundRV != 0 && rec.uid == p.UID && p.Spec.NodeName == "" && resourceVersion(p) < rec.boundRV {
		return // an event from before our binding; the binding's own event follows
	}
	s.unrecordLocked(key, rec)
}

func resourceVersion(p *api.Pod) int64 {
	n, _ := strconv.ParseInt(p.ResourceVersion, 10, 64)
	return n
}

// infoLocked returns the node's info, creating it. Requires s.mu held.
func (s *Scheduler) infoLocked(node string) *nodeInfo {
	ni := s.infos[node]
	if ni == nil {
		ni = newNodeInfo(nil)
		s.infos[node] = ni
	}
	return ni
}

// recordLocked requires s.mu held.
func (s *Scheduler) recordLocked(key string, rec *podRecord) {
	s.records[key] = rec
	s.infoLocked(rec.node).add(rec)
}

// unrecordLocked requires s.mu held.
func (s *Scheduler) unrecordLocked(key string, rec *podRecord) {
	delete(s.records, key)
	ni := s.infos[rec.node]
	ni.remove(rec)
	if ni.node == nil && ni.pods == 0 {
		delete(s.infos, rec.node)
	}
}

func (s *Scheduler) nodeChanged(n *api.Node) {
	s.mu.Lock()
	ni := s.infoLocked(n.Name)
	added := ni.node == nil
	ni.setNode(n)
	if added {
		s.insertLocked(ni)
	}
	s.mu.Unlock()
	s.requeueUnschedulable()
}

func (s *Scheduler) nodeDeleted(n *api.Node) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ni := s.infos[n.Name]; ni != nil {
		ni.setNode(nil)
		if ni.pods == 0 {
			delete(s.infos, n.Name)
		}
	}
	s.reorderLocked()
}

// reorderLocked rebuilds order. Requires s.mu held.
func (s *Scheduler) reorderLocked() {
	s.order = s.order[:0]
	for _, ni := range s.infos {
		if ni.node != nil {
			s.order = append(s.order, ni)
		}
	}
	sort.Slice(s.order, func(i, j int) bool { return s.order[i].node.Name < s.order[j].node.Name })
}

// insertLocked adds a node's info to order at its place by name: a binary search and one
// copy, where re-sorting order for each of 5,000 registering nodes cost O(n² log n).
// Requires s.mu held.
func (s *Scheduler) insertLocked(ni *nodeInfo) {
	name := ni.node.Name
	i, _ := slices.BinarySearchFunc(s.order, name, func(o *nodeInfo, name string) int { return strings.Compare(o.node.Name, name) })
	s.order = slices.Insert(s.order, i, ni)
}

// requeueUnschedulable retries every pod that fit nowhere, since the cluster changed.
func (s *Scheduler) requeueUnschedulable() {
	s.mu.Lock()
	keys := make([]string, 0, len(s.unschedulable))
	for k := range s.unschedulable {
		keys = append(keys, k)
	}
	clear(s.unschedulable)
	s.mu.Unlock()
	for _, k := range keys {
		s.queue.Add(k)
	}
}

var (
	errPodGone      = errors.New("scheduler: pod gone or replaced")
	errAlreadyBound = errors.New("scheduler: pod already bound")
	errBoundHere    = errors.New("scheduler: pod already bound to the chosen node")
)

// namedNodesLocked returns the known nodes p's required node affinity names through
// matchFields, or nil when it names none (api.RequiredNodeNames). Requires s.mu held.
func (s *Scheduler) namedNodesLocked(p *api.Pod) []*nodeInfo {
	names, ok := api.RequiredNodeNames(&p.Spec)
	if !ok {
		return nil
	}
	var out []*nodeInfo
	for _, n := range names {
		if ni := s.infos[n]; ni != nil && ni.node != nil {
			out = append(out, ni)
		}
	}
	return out
}

// scheduleOne runs one scheduling cycle for the pod with key. When a node fits, the pod
// is assumed on it and the binding to write is returned.
func (s *Scheduler) scheduleOne(ctx context.Context, key string) (bindJob, bool) {
	p, ok := s.pods.Cache().Get(key)
	if !ok || !s.needsScheduling(p) {
		s.queue.Forget(key)
		return bindJob{}, false
	}
	// fit is p as the filters see it: with its volumes' node affinity (volumes.go).
	fit := withVolumeAffinity(p, s.volumeAffinities(ctx, p))
	s.mu.Lock()
	if _, bound := s.records[key]; bound {
		s.mu.Unlock()
		return bindJob{}, false // bound by this scheduler; the cache does not show it yet
	}
	d := decision{message: unschedulableMessage(0, nil)}
	if named := s.namedNodesLocked(fit); len(named) > 0 {
		// The pod's affinity names its nodes (a DaemonSet pod): check only those, and
		// filter every node only to explain a failure.
		d = schedule(fit, named, 0)
	}
	if d.node == "" && len(s.order) > 0 {
		// The next cycle starts where this one stopped filtering (kube-scheduler's
		// nextStartNodeIndex), or one further when it saw every node, so ties rotate.
		d = schedule(fit, s.order, s.start%len(s.order))
		s.start += d.visited
		if d.visited >= len(s.order) {
			s.start++
		}
	}
	var rec *podRecord
	if d.node != "" {
		// Assume the pod on its node at once, so the next cycles see the resources taken.
		rec = recordOf(p)
		rec.node, rec.boundRV = d.node, bindPending
		s.recordLocked(key, rec)
		delete(s.unschedulable, key)
	}
	s.mu.Unlock()
	if d.node == "" {
		s.markUnschedulable(ctx, p, d.message)
		s.mu.Lock()
		s.unschedulable[key] = true
		s.mu.Unlock()
		s.queue.AddRateLimited(key)
		return bindJob{}, false
	}
	return bindJob{key: key, pod: p, node: d.node, rec: rec}, true
}

// binder writes the bindings sent on jobs until it is closed: each time the ones already
// waiting, up to BindBatch, in one transaction.
func (s *Scheduler) binder(ctx context.Context, jobs <-chan bindJob) {
	batch := make([]bindJob, 0, s.cfg.BindBatch)
	for job := range jobs {
		batch = append(batch[:0], job)
	fill:
		for len(batch) < s.cfg.BindBatch {
			select {
			case j, ok := <-jobs:
				if !ok {
					break fill
				}
				batch = append(batch, j)
			default:
				break fill
			}
		}
		s.bindBatch(ctx, batch)
	}
}

// bindBatch writes the jobs' bindings in one transaction, each put guarded by the
// mod_revision of the pod as the scheduler's cache holds it, so that no pod is read
// first. When a pod changed since (or the transaction fails), every binding of the batch
// is written on its own with bind, which reads the pod and checks it again.
func (s *Scheduler) bindBatch(ctx context.Context, jobs []bindJob) {
	now := api.NewTime(s.cfg.Now())
	cmps := make([]clientv3.Cmp, 0, len(jobs))
	ops := make([]clientv3.Op, 0, len(jobs))
	bound := make([]*api.Pod, 0, len(jobs))
	size := 0
	for _, job := range jobs {
		rv := resourceVersion(job.pod)
		next := boundPod(job.pod, job.node, now)
		b, err := encodePod(next)
		if err != nil || rv <= 0 {
			break
		}
		key := s.podStore.Key(job.pod.Namespace, job.pod.Name)
		cmps = append(cmps, clientv3.Compare(clientv3.ModRevision(key), "=", rv))
		ops = append(ops, clientv3.OpPut(key, string(b)))
		bound = append(bound, next)
		size += len(key) + len(b)
	}
	if size > maxBindBatchBytes && len(jobs) > 1 {
		// Large pods: halve the batch to stay well within the store's request size limit.
		h := len(jobs) / 2
		s.bindBatch(ctx, jobs[:h])
		s.bindBatch(ctx, jobs[h:])
		return
	}
	if len(bound) == len(jobs) {
		tctx, cancel := context.WithTimeout(ctx, defaultBindRetryTimeout)
		resp, err := s.cli.Txn(tctx).If(cmps...).Then(ops...).Commit()
		cancel()
		if err == nil && resp.Succeeded {
			rv := strconv.FormatInt(resp.Header.Revision, 10)
			for i, job := range jobs {
				bound[i].ResourceVersion = rv
				s.settle(ctx, job, bound[i], nil)
			}
			return
		}
		if ctx.Err() != nil {
			for _, job := range jobs {
				s.settle(ctx, job, nil, ctx.Err())
			}
			return
		}
	}
	var wg sync.WaitGroup
	for _, job := range jobs {
		wg.Go(func() {
			p, err := s.bind(ctx, job.pod, job.node)
			s.settle(ctx, job, p, err)
		})
	}
	wg.Wait()
}

// boundPod returns a copy of the unbound pod p bound to node: spec.nodeName set,
// PodScheduled=True, and generation bumped as the store bumps it on a spec change.
func boundPod(p *api.Pod, node string, now api.Time) *api.Pod {
	next := api.DeepCopy(p)
	next.Spec.NodeName = node
	setCondition(&next.Status, api.PodCondition{Type: ConditionPodScheduled, Status: api.ConditionTrue}, now)
	next.Generation++
	api.Default(next)
	return next
}

// encodePod marshals p as the store holds it: without its resourceVersion (the key's
// mod_revision).
func encodePod(p *api.Pod) ([]byte, error) {
	rv := p.ResourceVersion
	p.ResourceVersion = ""
	b, err := json.Marshal(p)
	p.ResourceVersion = rv
	return b, err
}

// settle settles the assumed record of a binding written (err nil, bound the pod as
// stored) or not: it keeps the record on success and drops it (retrying the pod later)
// on failure.
func (s *Scheduler) settle(ctx context.Context, job bindJob, bound *api.Pod, err error) {
	s.mu.Lock()
	if s.records[job.key] == job.rec {
		switch {
		case err != nil:
			s.unrecordLocked(job.key, job.rec)
		case job.rec.boundRV != 0: // the cache has not shown the binding yet
			job.rec.boundRV = resourceVersion(bound)
		}
	}
	s.mu.Unlock()
	switch {
	case err == nil:
		s.queue.Forget(job.key)
		s.log.Debug("bound", "pod", job.key, "node", job.node)
	case errors.Is(err, errPodGone), errors.Is(err, errAlreadyBound), errors.Is(err, registry.ErrNotFound):
		s.queue.Forget(job.key)
	default:
		if ctx.Err() == nil {
			s.log.Warn("bind failed", "pod", job.key, "node", job.node, "err", err)
			s.queue.AddRateLimited(job.key)
		}
	}
}

// bind sets spec.nodeName and PodScheduled=True in one compare-and-swap on the pod, only
// while the pod is still the same, unbound and not being deleted. A pod found already bound
// to node is bound: an earlier attempt whose answer was lost (a leader change, a timeout)
// may have committed before the retry read it.
func (s *Scheduler) bind(ctx context.Context, p *api.Pod, node string) (*api.Pod, error) {
	ctx, cancel := context.WithTimeout(ctx, defaultBindRetryTimeout)
	defer cancel()
	now := api.NewTime(s.cfg.Now())
	var here *api.Pod
	for wait := 10 * time.Millisecond; ; wait = min(2*wait, time.Second) {
		bound, err := s.podStore.GuaranteedUpdate(ctx, p.Namespace, p.Name, func(cur *api.Pod) (*api.Pod, error) {
			if cur.UID != p.UID || cur.DeletionTimestamp != nil {
				return nil, errPodGone
			}
			if cur.Spec.NodeName == node {
				here = cur
				return nil, errBoundHere
			}
			if cur.Spec.NodeName != "" {
				return nil, errAlreadyBound
			}
			cur.Spec.NodeName = node
			setCondition(&cur.Status, api.PodCondition{Type: ConditionPodScheduled, Status: api.ConditionTrue}, now)
			return cur, nil
		})
		switch {
		case errors.Is(err, errBoundHere):
			return here, nil
		case !transient(err):
			return bound, err
		}
		// The write may or may not have committed; the next read tells (bound here or not).
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, err
		case <-t.C:
		}
	}
}

// transient reports whether a store error leaves a write's outcome unknown and is worth
// retrying at once: a leader change or an election in progress.
func transient(err error) bool {
	return errors.Is(err, rpctypes.ErrLeaderChanged) || errors.Is(err, rpctypes.ErrNoLeader) ||
		errors.Is(err, rpctypes.ErrTimeoutDueToLeaderFail) || errors.Is(err, rpctypes.ErrTimeout)
}

// markUnschedulable records PodScheduled=False/Unschedulable with the message, and a
// FailedScheduling event, when the pod does not already carry that message.
func (s *Scheduler) markUnschedulable(ctx context.Context, p *api.Pod, msg string) {
	for _, c := range p.Status.Conditions {
		if c.Type == ConditionPodScheduled && c.Status == api.ConditionFalse && c.Message == msg {
			return
		}
	}
	now := api.NewTime(s.cfg.Now())
	_, err := s.podStore.GuaranteedUpdate(ctx, p.Namespace, p.Name, func(cur *api.Pod) (*api.Pod, error) {
		if cur.UID != p.UID || cur.Spec.NodeName != "" {
			return nil, errPodGone
		}
		setCondition(&cur.Status, api.PodCondition{Type: ConditionPodScheduled, Status: api.ConditionFalse,
			Reason: ReasonUnschedulable, Message: msg}, now)
		return cur, nil
	})
	if err != nil {
		if ctx.Err() == nil && !errors.Is(err, errPodGone) && !errors.Is(err, registry.ErrNotFound) {
			s.log.Warn("cannot record unschedulable pod", "pod", api.KeyFunc(p), "err", err)
		}
		return
	}
	s.log.Info("pod unschedulable", "pod", api.KeyFunc(p), "message", msg)
	s.rec.Event(p, events.TypeWarning, ReasonFailedScheduling, msg)
}

// setCondition replaces or appends the condition of c's type, keeping the transition time
// when the status did not change.
func setCondition(st *api.PodStatus, c api.PodCondition, now api.Time) {
	c.LastTransitionTime = now
	for i := range st.Conditions {
		if st.Conditions[i].Type == c.Type {
			if st.Conditions[i].Status == c.Status {
				c.LastTransitionTime = st.Conditions[i].LastTransitionTime
			}
			st.Conditions[i] = c
			return
		}
	}
	st.Conditions = append(st.Conditions, c)
	if st.Phase == "" {
		st.Phase = api.PodPending
	}
}
