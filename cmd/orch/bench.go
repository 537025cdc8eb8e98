package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/keeldb/keel/orchestrator/agent"
	"github.com/keeldb/keel/orchestrator/api"
	"github.com/keeldb/keel/orchestrator/controller/deployment"
	"github.com/keeldb/keel/orchestrator/controller/garbagecollector"
	"github.com/keeldb/keel/orchestrator/controller/replicaset"
	"github.com/keeldb/keel/orchestrator/events"
	"github.com/keeldb/keel/orchestrator/registry"
	"github.com/keeldb/keel/orchestrator/scheduler"
)

// The scale goal (docs/ORCHESTRATOR.md "Tests and measurements"): 10,000 pods on 1,000
// simulated nodes Running within 60 s, i.e. at least ~167 pods/s end to end.
const benchGoal = 60 * time.Second

// benchOptions are the flags of `orch bench`.
type benchOptions struct {
	nodes, replicas int
	startDelay      time.Duration
	timeout         time.Duration
	namespace       string
	nodePrefix      string
	external        bool
	jsonOut         bool
	keep            bool
	cpuRequest      string
	memRequest      string
	agentWorkers    int
	bindWorkers     int
	cpuProfile      string
	cpuProfileEvery time.Duration // --cpuprofile-window: one profile per window
	memProfile      string
	memberPIDs      []int      // --member-pids (bench_procs.go)
	componentPIDs   []namedPID // --component-pids (bench_procs.go)
	job             benchJobOptions
	daemonset       bool // bench_daemonset.go
}

// benchResult is what `orch bench` measures; --json prints it.
type benchResult struct {
	Nodes     int    `json:"nodes"`
	Replicas  int    `json:"replicas"`
	Namespace string `json:"namespace"`
	External  bool   `json:"external"`
	// NodesReadySeconds is the time from starting the agent to every node Ready; with
	// --external, from the bench's start (scripts/bench-orch.sh starts the agent 1 s before).
	NodesReadySeconds float64 `json:"nodes_ready_seconds"`
	// Seconds from the Deployment's creation until the last pod was created, bound, Running.
	CreatedSeconds   float64 `json:"created_seconds"`
	ScheduledSeconds float64 `json:"scheduled_seconds"`
	RunningSeconds   float64 `json:"running_seconds"`
	// Pods seen created, bound and Running (all equal to Replicas on success).
	Created   int `json:"created"`
	Scheduled int `json:"scheduled"`
	Running   int `json:"running"`
	// Rates in pods/s: averages over apply → last, and the peak over 1 s windows.
	CreatedPerSecond       float64 `json:"created_per_second"`
	ScheduledPerSecond     float64 `json:"scheduled_per_second"`
	ScheduledPeakPerSecond float64 `json:"scheduled_peak_per_second"`
	RunningPerSecond       float64 `json:"running_per_second"`
	RunningPeakPerSecond   float64 `json:"running_peak_per_second"`
	// RunningPerSecondThirds is the Running rate in each third of apply → last Running:
	// early, middle, late (a run that holds its rate has late ≈ early).
	RunningPerSecondThirds [3]float64 `json:"running_per_second_thirds"`
	// StoreRevisions is the store's revision delta over apply → all Running (one per write
	// transaction, whatever its number of keys); PodWrites counts pod puts and deletes seen.
	StoreRevisions          int64   `json:"store_revisions"`
	StoreRevisionsPerSecond float64 `json:"store_revisions_per_second"`
	PodWrites               int     `json:"pod_writes"`
	PodWritesPerSecond      float64 `json:"pod_writes_per_second"`
	// ProposalsCommitted sums etcd_server_proposals_committed_total over the members'
	// /metrics (http://ENDPOINT/metrics) across apply → all Running; 0 when not served.
	ProposalsCommitted          int64   `json:"proposals_committed,omitempty"`
	ProposalsCommittedPerSecond float64 `json:"proposals_committed_per_second,omitempty"`
	// Per-pod latency from its creation to Running, both as observed by the bench's watch.
	StartupP50Ms float64 `json:"startup_p50_ms"`
	StartupP99Ms float64 `json:"startup_p99_ms"`
	StartupMaxMs float64 `json:"startup_max_ms"`
	// Processes are the peak RSS and CPU seconds of this process, of each Keel member given
	// by --member-pids and of each component given by --component-pids (bench_procs.go).
	Processes []benchProcess `json:"processes,omitempty"`
	// DBSizeBytes is the largest backend size the members report at the end.
	DBSizeBytes int64 `json:"db_size_bytes,omitempty"`
	// GoalMet: every pod Running within 60 s of the apply.
	GoalMet bool   `json:"goal_met"`
	Error   string `json:"error,omitempty"`
	// Jobs is the Job phase's result (--jobs N).
	Jobs *benchJobsResult `json:"jobs,omitempty"`
	// DaemonSet is the --daemonset phase's result (bench_daemonset.go).
	DaemonSet *benchDaemonSetResult `json:"daemonset,omitempty"`
}

const benchUsage = "usage: orch bench [--endpoints LIST] [--nodes N] [--replicas M] [--start-delay D] [--timeout D] " +
	"[--namespace NS] [--external [--component-pids name=pid,...]] [--member-pids PID,...] [--json] [--keep] [--jobs N --job-completions M] [--daemonset]"

func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var g globals
	var o benchOptions
	fs := newFlagSet("orch bench", stderr, &g)
	_ = fs.Set("log-level", "warn")
	fs.IntVar(&o.nodes, "nodes", 1000, "simulated nodes (with --external: Ready nodes to wait for)")
	fs.IntVar(&o.replicas, "replicas", 10000, "replicas of the benchmark Deployment")
	fs.DurationVar(&o.startDelay, "start-delay", 0, "sim runtime: delay before a pod is reported Running")
	fs.DurationVar(&o.timeout, "timeout", 5*time.Minute, "give up when the pods are not all Running after this long")
	fs.StringVar(&o.namespace, "namespace", "", "namespace of the benchmark objects (default bench-<unix time>)")
	fs.StringVar(&o.nodePrefix, "node-prefix", "bench-node", "name prefix of the simulated nodes")
	fs.BoolVar(&o.external, "external", false, "start no components: scheduler, controller-manager and agent already run against the endpoints")
	fs.BoolVar(&o.jsonOut, "json", false, "print the figures as JSON")
	fs.BoolVar(&o.keep, "keep", false, "leave the benchmark objects (and simulated nodes) in the store")
	fs.StringVar(&o.cpuRequest, "cpu", "10m", "cpu request of each pod")
	fs.StringVar(&o.memRequest, "memory", "10Mi", "memory request of each pod")
	fs.IntVar(&o.agentWorkers, "agent-workers", 128, "in-process agent: pod workers (the agent's own default, 4, cannot keep up with 1,000 nodes)")
	fs.IntVar(&o.bindWorkers, "bind-workers", 0, "in-process scheduler: bind workers (0 = the scheduler's default)")
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of this process over the measured period to FILE")
	fs.StringVar(&o.memProfile, "memprofile", "", "write a heap profile of this process to FILE once every pod is Running (what the caches hold at the peak)")
	fs.DurationVar(&o.cpuProfileEvery, "cpuprofile-window", 0, "with --cpuprofile: one profile per window of this length, FILE-<seconds into the period>s.pprof (early and late costs apart; `go tool pprof -proto` merges them)")
	memberPIDs := fs.String("member-pids", "", "comma-separated process ids of the Keel members on this machine: report their peak RSS and CPU seconds")
	componentPIDs := fs.String("component-pids", "", "with --external, the components' processes on this machine as name=pid,...: report their peak RSS and CPU seconds")
	o.job.register(fs)
	fs.BoolVar(&o.daemonset, "daemonset", false, "then create a DaemonSet over all the nodes and time its pods to Running")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if o.memberPIDs, err = parsePIDs(*memberPIDs); err != nil {
		return err
	}
	if o.componentPIDs, err = parseNamedPIDs(*componentPIDs); err != nil {
		return err
	}
	if len(pos) > 0 || o.nodes <= 0 || o.replicas <= 0 {
		fmt.Fprintln(stderr, benchUsage)
		return errUsage
	}
	for _, q := range []string{o.cpuRequest, o.memRequest} {
		if _, err := api.ParseQuantity(q); err != nil {
			return fmt.Errorf("request %q: %w", q, err)
		}
	}
	if o.namespace == "" {
		o.namespace = fmt.Sprintf("bench-%d", time.Now().Unix())
	}
	log, err := g.logger(stderr)
	if err != nil {
		return err
	}
	cli, err := g.client()
	if err != nil {
		return err
	}
	defer func() { _ = cli.Close() }()
	metricsTLS, _ := g.conn.tlsConfig(cli.Endpoints()) // client() has loaded it once already
	b := &bench{cli: cli, o: o, log: log, stores: registry.NewStores(cli, registry.Config{}), endpoints: cli.Endpoints(), metricsTLS: metricsTLS,
		res: benchResult{Nodes: o.nodes, Replicas: o.replicas, Namespace: o.namespace, External: o.external}}
	runErr := b.run(ctx)
	if runErr != nil {
		b.res.Error = runErr.Error()
	}
	if err := b.print(stdout); err != nil {
		return err
	}
	return runErr
}

// bench is one run of `orch bench`.
type bench struct {
	cli       *clientv3.Client
	endpoints []string
	o         benchOptions
	log       *slog.Logger
	stores    *registry.Stores
	res       benchResult

	// metricsTLS is the client TLS configuration for the members' /metrics; nil for http.
	metricsTLS *tls.Config
}

func (b *bench) run(ctx context.Context) (err error) {
	ctx, cancel := context.WithTimeout(ctx, b.o.timeout)
	defer cancel()
	// Components run under their own context, stopped before the cleanup so that nothing
	// recreates what it deletes.
	cctx, stopComponents := context.WithCancel(ctx)
	var wg sync.WaitGroup
	stop := func() { stopComponents(); wg.Wait() }
	defer func() {
		stop()
		if b.o.keep {
			return
		}
		// The run's context may have timed out: clean up under a fresh one.
		dctx, dcancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer dcancel()
		if cerr := b.cleanup(dctx); cerr != nil {
			err = errors.Join(err, fmt.Errorf("cleanup: %w", cerr))
		}
	}()
	start := time.Now()
	if !b.o.external {
		b.startComponents(cctx, &wg)
	}
	if err := b.waitNodes(ctx); err != nil {
		return err
	}
	b.res.NodesReadySeconds = time.Since(start).Seconds()
	if b.o.cpuProfile != "" {
		stopProfile, err := startCPUProfiles(b.o.cpuProfile, b.o.cpuProfileEvery, b.log)
		if err != nil {
			return err
		}
		defer stopProfile()
	}
	if err := b.measure(ctx); err != nil {
		return err
	}
	if b.o.memProfile != "" {
		if err := writeHeapProfile(b.o.memProfile); err != nil {
			return err
		}
	}
	if err := b.measureJobs(ctx); err != nil || !b.o.daemonset {
		return err
	}
	return b.measureDaemonSet(ctx)
}

// startComponents runs a sim agent with the nodes, the scheduler, and the controllers the
// controller-manager runs for Deployments (ReplicaSet, Deployment, garbage collector, with
// its event recorder) in this process, without leader election.
func (b *bench) startComponents(ctx context.Context, wg *sync.WaitGroup) {
	log := b.log
	rec := events.NewRecorder(b.cli, events.Config{Component: "controller-manager", Host: "orch-bench", Logger: log})
	ag := agent.New(b.cli, agent.Config{NodeName: b.o.nodePrefix, Nodes: b.o.nodes,
		Capacity:   api.ResourceList{"cpu": "32", "memory": "256Gi", "pods": "110"},
		StartDelay: b.o.startDelay, Workers: b.o.agentWorkers, Logger: log,
		MetricsInterval: -1}) // the bench times placement; metrics would only add load
	sched := scheduler.New(b.cli, scheduler.Config{BindWorkers: b.o.bindWorkers, Logger: log})
	components := map[string]func(context.Context) error{
		"agent":     ag.Run,
		"scheduler": sched.Run,
		"replicaset controller": func(ctx context.Context) error {
			return replicaset.Run(ctx, b.cli, replicaset.Config{Logger: log, Recorder: rec})
		},
		"deployment controller": func(ctx context.Context) error {
			return deployment.Run(ctx, b.cli, deployment.Config{Logger: log, Recorder: rec})
		},
		"garbage collector": func(ctx context.Context) error {
			return garbagecollector.Run(ctx, b.cli, garbagecollector.Config{Logger: log})
		},
		"event recorder": rec.Run,
	}
	b.addJobController(components, log, rec)
	if b.o.daemonset {
		components["daemonset controller"] = b.runDaemonSetController
	}
	for name, run := range components {
		wg.Go(func() {
			if err := run(ctx); err != nil && ctx.Err() == nil {
				log.Error("component failed", "component", name, "err", err)
			}
		})
	}
}

// waitNodes waits until the benchmark's nodes are Ready: the in-process agent's nodes, or
// with --external at least --nodes Ready nodes of any name.
func (b *bench) waitNodes(ctx context.Context) error {
	last := 0
	for {
		nodes, err := b.stores.Nodes.List(ctx, registry.ListOptions{})
		if err == nil {
			last = 0
			for _, n := range nodes.Items {
				if !b.o.external && !b.ownNode(n.Name) {
					continue
				}
				for _, c := range n.Status.Conditions {
					if c.Type == "Ready" && c.Status == api.ConditionTrue {
						last++
					}
				}
			}
			if last >= b.o.nodes {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%d of %d nodes Ready: %w", last, b.o.nodes, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// ownNode reports whether name is one of the in-process agent's nodes.
func (b *bench) ownNode(name string) bool {
	if b.o.nodes == 1 {
		return name == b.o.nodePrefix
	}
	return strings.HasPrefix(name, b.o.nodePrefix+"-")
}

// podTimes is when the bench's watch first saw a pod created, bound and Running.
type podTimes struct {
	created, scheduled, running time.Time
}

// podView is the part of a stored pod the bench reads.
type podView struct {
	Spec struct {
		NodeName string `json:"nodeName"`
	} `json:"spec"`
	Status struct {
		Phase string `json:"phase"`
	} `json:"status"`
}

// measure creates the Deployment and follows its pods through a watch until all are
// Running.
func (b *bench) measure(ctx context.Context) error {
	resp, err := b.cli.Get(ctx, "health")
	if err != nil {
		return err
	}
	rev0 := resp.Header.Revision
	wctx, wcancel := context.WithCancel(ctx)
	defer wcancel()
	prefix := b.stores.Pods.NamespacePrefix(b.o.namespace)
	wch := b.cli.Watch(clientv3.WithRequireLeader(wctx), prefix, clientv3.WithPrefix(), clientv3.WithRev(rev0+1))

	replicas := int32(b.o.replicas)
	lbls := map[string]string{"app": "orch-bench"}
	req := api.ResourceList{"cpu": api.Quantity(b.o.cpuRequest), "memory": api.Quantity(b.o.memRequest)}
	d := &api.Deployment{
		ObjectMeta: api.ObjectMeta{Namespace: b.o.namespace, Name: "bench"},
		Spec: api.DeploymentSpec{Replicas: &replicas, Selector: &api.LabelSelector{MatchLabels: lbls},
			Template: api.PodTemplateSpec{ObjectMeta: api.ObjectMeta{Labels: lbls},
				Spec: api.PodSpec{Containers: []api.Container{{Name: "sim", Image: "sim",
					Resources: api.ResourceRequirements{Requests: req}}}}}},
	}
	proposals0, metricsOK := b.proposals(ctx)
	procs := startProcs(b.o.memberPIDs, b.o.componentPIDs)
	t0 := time.Now()
	if _, err := b.stores.Deployments.Create(ctx, d); err != nil {
		return fmt.Errorf("create deployment: %w", err)
	}

	pods := make(map[string]*podTimes, b.o.replicas)
	var lastCreated, lastScheduled, lastRunning time.Time
	var lastRev int64
	finish := func() {
		b.summarize(pods, t0, lastCreated, lastScheduled, lastRunning)
		b.res.RunningPerSecondThirds = thirds(pods, t0, lastRunning)
		b.res.Processes = procs.finish()
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		b.res.DBSizeBytes = b.dbSize(dctx)
		cancel()
		if lastRev > rev0 {
			b.res.StoreRevisions = lastRev - rev0
			if s := lastRunning.Sub(t0).Seconds(); s > 0 && !lastRunning.IsZero() {
				b.res.StoreRevisionsPerSecond = float64(b.res.StoreRevisions) / s
			}
		}
	}
	for wr := range wch {
		if err := wr.Err(); err != nil {
			finish()
			return fmt.Errorf("watch pods: %w", err)
		}
		now := time.Now()
		lastRev = max(lastRev, wr.Header.Revision)
		for _, ev := range wr.Events {
			b.res.PodWrites++
			if ev.Type != mvccpb.PUT {
				continue
			}
			key := string(ev.Kv.Key)
			pt := pods[key]
			if pt == nil {
				pt = &podTimes{created: now}
				pods[key] = pt
				b.res.Created++
				lastCreated = now
			}
			var v podView
			if err := json.Unmarshal(ev.Kv.Value, &v); err != nil {
				continue
			}
			if v.Spec.NodeName != "" && pt.scheduled.IsZero() {
				pt.scheduled = now
				b.res.Scheduled++
				lastScheduled = now
			}
			if v.Status.Phase == api.PodRunning && pt.running.IsZero() {
				pt.running = now
				b.res.Running++
				lastRunning = now
			}
		}
		if b.res.Running >= b.o.replicas {
			// Read the revision once more: writes other than pods' (status of the
			// ReplicaSet and Deployment, leases) count as well.
			if r, err := b.cli.Get(ctx, "health"); err == nil {
				lastRev = max(lastRev, r.Header.Revision)
			}
			if n, ok := b.proposals(ctx); ok && metricsOK {
				b.res.ProposalsCommitted = n - proposals0
				if s := lastRunning.Sub(t0).Seconds(); s > 0 {
					b.res.ProposalsCommittedPerSecond = float64(b.res.ProposalsCommitted) / s
				}
			}
			finish()
			return nil
		}
	}
	finish()
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%d of %d pods Running: %w", b.res.Running, b.o.replicas, err)
	}
	return errors.New("watch pods: closed")
}

// proposals sums etcd_server_proposals_committed_total over the endpoints' /metrics; ok
// is false when some endpoint does not serve it.
func (b *bench) proposals(ctx context.Context) (total int64, ok bool) {
	const metric = "etcd_server_proposals_committed_total "
	hc := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{TLSClientConfig: b.metricsTLS}}
	defer hc.CloseIdleConnections()
	for _, ep := range b.endpoints {
		switch {
		case strings.Contains(ep, "://"):
		case b.metricsTLS != nil:
			ep = "https://" + ep
		default:
			ep = "http://" + ep
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(ep, "/")+"/metrics", nil)
		if err != nil {
			return 0, false
		}
		resp, err := hc.Do(req)
		if err != nil {
			return 0, false
		}
		body, err := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			return 0, false
		}
		found := false
		for _, line := range strings.Split(string(body), "\n") {
			if v, cut := strings.CutPrefix(line, metric); cut {
				f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
				if err != nil {
					return 0, false
				}
				total += int64(f)
				found = true
			}
		}
		if !found {
			return 0, false
		}
	}
	return total, true
}

// summarize fills the durations, rates and latency percentiles from the pods' times.
func (b *bench) summarize(pods map[string]*podTimes, t0, lastCreated, lastScheduled, lastRunning time.Time) {
	r := &b.res
	since := func(t time.Time) float64 {
		if t.IsZero() {
			return 0
		}
		return t.Sub(t0).Seconds()
	}
	rate := func(n int, secs float64) float64 {
		if secs <= 0 {
			return 0
		}
		return float64(n) / secs
	}
	r.CreatedSeconds, r.ScheduledSeconds, r.RunningSeconds = since(lastCreated), since(lastScheduled), since(lastRunning)
	r.CreatedPerSecond = rate(r.Created, r.CreatedSeconds)
	r.ScheduledPerSecond = rate(r.Scheduled, r.ScheduledSeconds)
	r.RunningPerSecond = rate(r.Running, r.RunningSeconds)
	r.PodWritesPerSecond = rate(r.PodWrites, max(r.RunningSeconds, r.ScheduledSeconds))
	sched, run := map[int]int{}, map[int]int{}
	var lat []time.Duration
	for _, pt := range pods {
		if !pt.scheduled.IsZero() {
			sched[int(pt.scheduled.Sub(t0)/time.Second)]++
		}
		if !pt.running.IsZero() {
			run[int(pt.running.Sub(t0)/time.Second)]++
			lat = append(lat, pt.running.Sub(pt.created))
		}
	}
	for _, n := range sched {
		r.ScheduledPeakPerSecond = max(r.ScheduledPeakPerSecond, float64(n))
	}
	for _, n := range run {
		r.RunningPeakPerSecond = max(r.RunningPeakPerSecond, float64(n))
	}
	if len(lat) > 0 {
		slices.Sort(lat)
		ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
		r.StartupP50Ms = ms(lat[len(lat)*50/100])
		r.StartupP99Ms = ms(lat[min(len(lat)-1, len(lat)*99/100)])
		r.StartupMaxMs = ms(lat[len(lat)-1])
	}
	r.GoalMet = r.Running >= r.Replicas && r.RunningSeconds > 0 && r.RunningSeconds <= benchGoal.Seconds()
}

// cleanup deletes the benchmark namespace's objects, and the in-process agent's nodes and
// Leases, in one transaction.
func (b *bench) cleanup(ctx context.Context) error {
	s := b.stores
	ns := b.o.namespace
	ops := []clientv3.Op{
		clientv3.OpDelete(s.Deployments.NamespacePrefix(ns), clientv3.WithPrefix()),
		clientv3.OpDelete(s.ReplicaSets.NamespacePrefix(ns), clientv3.WithPrefix()),
		clientv3.OpDelete(s.Pods.NamespacePrefix(ns), clientv3.WithPrefix()),
		clientv3.OpDelete(s.Events.NamespacePrefix(ns), clientv3.WithPrefix()),
		clientv3.OpDelete(s.DaemonSets.NamespacePrefix(ns), clientv3.WithPrefix()),
	}
	ops = append(ops, b.jobCleanupOps()...)
	if !b.o.external {
		ops = append(ops,
			clientv3.OpDelete(s.Nodes.Key("", b.o.nodePrefix), clientv3.WithPrefix()),
			clientv3.OpDelete(s.Leases.Key(agent.NodeLeaseNamespace, b.o.nodePrefix), clientv3.WithPrefix()))
	}
	_, err := b.cli.Txn(ctx).Then(ops...).Commit()
	return err
}

// print writes the result as a table, or as JSON with --json.
func (b *bench) print(w io.Writer) error {
	r := b.res
	if b.o.jsonOut {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	goal := "no"
	if r.GoalMet {
		goal = "yes"
	}
	mode := "in-process agent, scheduler, replicaset and deployment controllers"
	if r.External {
		mode = "external components"
	}
	rows := [][2]string{
		{"nodes / replicas", fmt.Sprintf("%d / %d (%s, namespace %s)", r.Nodes, r.Replicas, mode, r.Namespace)},
		{"nodes Ready after", fmt.Sprintf("%.1f s", r.NodesReadySeconds)},
		{"apply → all created", fmt.Sprintf("%.2f s (%d pods, %.0f pods/s)", r.CreatedSeconds, r.Created, r.CreatedPerSecond)},
		{"apply → all scheduled", fmt.Sprintf("%.2f s (%d pods, %.0f pods/s avg, %.0f peak over 1 s)", r.ScheduledSeconds, r.Scheduled, r.ScheduledPerSecond, r.ScheduledPeakPerSecond)},
		{"apply → all Running", fmt.Sprintf("%.2f s (%d pods, %.0f pods/s avg, %.0f peak over 1 s)", r.RunningSeconds, r.Running, r.RunningPerSecond, r.RunningPeakPerSecond)},
		{"create → Running per pod", fmt.Sprintf("p50 %.0f ms, p99 %.0f ms, max %.0f ms", r.StartupP50Ms, r.StartupP99Ms, r.StartupMaxMs)},
		{"store writes", fmt.Sprintf("%d revisions (%.0f/s); %d pod writes (%.0f/s)", r.StoreRevisions, r.StoreRevisionsPerSecond, r.PodWrites, r.PodWritesPerSecond)},
		{"Running pods/s by third", fmt.Sprintf("early %.0f, middle %.0f, late %.0f", r.RunningPerSecondThirds[0], r.RunningPerSecondThirds[1], r.RunningPerSecondThirds[2])},
		{"db size", fmt.Sprintf("%.1f MiB", float64(r.DBSizeBytes)/(1<<20))},
		{"raft proposals committed", fmt.Sprintf("%d (%.0f/s; from the members' /metrics, 0 if not served)", r.ProposalsCommitted, r.ProposalsCommittedPerSecond)},
		{"goal (all Running ≤ 60 s)", goal},
	}
	for _, p := range r.Processes {
		rows = append(rows, [2]string{p.Name + " (pid " + strconv.Itoa(p.PID) + ")",
			fmt.Sprintf("peak RSS %.0f MiB, CPU %.1f s over the run (%.1f s in all)", float64(p.PeakRSSBytes)/(1<<20), p.CPUSeconds, p.TotalCPUSeconds)})
	}
	rows = append(rows, r.Jobs.rows()...)
	for _, row := range rows {
		fmt.Fprintf(tw, "%s\t%s\n", row[0], row[1])
	}
	r.DaemonSet.print(tw)
	if r.Error != "" {
		fmt.Fprintf(tw, "error\t%s\n", r.Error)
	}
	return tw.Flush()
}

// startCPUProfiles profiles this process into path until the returned stop is called, or,
// with a window, into one file per window: path without ".pprof", then "-<seconds since
// the start>s.pprof". Stop ends the current profile and joins the rotation.
func startCPUProfiles(path string, window time.Duration, log *slog.Logger) (stop func(), err error) {
	open := func(offset time.Duration) (*os.File, error) {
		name := path
		if window > 0 {
			name = fmt.Sprintf("%s-%03ds.pprof", strings.TrimSuffix(path, ".pprof"), int(offset.Seconds()))
		}
		f, err := os.Create(name)
		if err != nil {
			return nil, err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			_ = f.Close()
			return nil, err
		}
		return f, nil
	}
	f, err := open(0)
	if err != nil {
		return nil, err
	}
	end := func(f *os.File) {
		pprof.StopCPUProfile()
		if err := f.Close(); err != nil {
			log.Warn("cpu profile", "err", err)
		}
	}
	if window <= 0 {
		return func() { end(f) }, nil
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		start := time.Now()
		t := time.NewTicker(window)
		defer t.Stop()
		for {
			select {
			case <-done:
				end(f)
				return
			case <-t.C:
				end(f)
				next, err := open(time.Since(start))
				if err != nil {
					log.Warn("cpu profile", "err", err)
					return
				}
				f = next
			}
		}
	})
	return func() { close(done); wg.Wait() }, nil
}

// writeHeapProfile writes the live heap after a collection, as pprof's heap profile.
func writeHeapProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	runtime.GC()
	if err := pprof.WriteHeapProfile(f); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}
