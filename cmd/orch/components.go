package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/keeldb/keel/orchestrator/agent"
	"github.com/keeldb/keel/orchestrator/api"
	"github.com/keeldb/keel/orchestrator/controller/daemonset"
	"github.com/keeldb/keel/orchestrator/controller/deployment"
	"github.com/keeldb/keel/orchestrator/controller/endpoints"
	"github.com/keeldb/keel/orchestrator/controller/garbagecollector"
	"github.com/keeldb/keel/orchestrator/controller/nodelifecycle"
	"github.com/keeldb/keel/orchestrator/controller/podautoscaler"
	"github.com/keeldb/keel/orchestrator/controller/replicaset"
	"github.com/keeldb/keel/orchestrator/controller/resourcequota"
	"github.com/keeldb/keel/orchestrator/controller/servicelb"
	"github.com/keeldb/keel/orchestrator/controller/servicerepair"
	"github.com/keeldb/keel/orchestrator/controller/statefulset"
	"github.com/keeldb/keel/orchestrator/controller/volume"
	"github.com/keeldb/keel/orchestrator/events"
	"github.com/keeldb/keel/orchestrator/leaderelection"
	"github.com/keeldb/keel/orchestrator/proxy"
	"github.com/keeldb/keel/orchestrator/registry"
	"github.com/keeldb/keel/orchestrator/scheduler"
)

// election holds the leader-election flags of a component.
type election struct {
	enabled bool
	timing  string
	id      string
}

func (e *election) register(fs *flag.FlagSet) {
	fs.BoolVar(&e.enabled, "leader-elect", true, "run only while elected leader among the component's instances")
	fs.StringVar(&e.timing, "timing", "fast", "timing profile: fast (lease 5s) or kubernetes (lease 15s, renew 10s, retry 2s)")
	fs.StringVar(&e.id, "id", "", "identity in leader election (default hostname_pid)")
}

func (e *election) config(name string) (leaderelection.Config, error) {
	var cfg leaderelection.Config
	switch e.timing {
	case "fast":
		cfg = leaderelection.DefaultConfig(name)
	case "kubernetes":
		cfg = leaderelection.KubernetesConfig(name)
	default:
		return cfg, fmt.Errorf("unknown --timing %q (want fast or kubernetes)", e.timing)
	}
	cfg.Namespace = "kube-system"
	cfg.Identity = e.id
	if cfg.Identity == "" {
		host, _ := os.Hostname()
		cfg.Identity = host + "_" + strconv.Itoa(os.Getpid())
	}
	return cfg, nil
}

// runElected runs work directly, or inside leader election: again each time this
// instance becomes leader, with a context cancelled when leadership is lost.
func (e *election) runElected(ctx context.Context, cli *clientv3.Client, name string, log *slog.Logger, work func(ctx context.Context) error) error {
	if !e.enabled {
		return work(ctx)
	}
	cfg, err := e.config(name)
	if err != nil {
		return err
	}
	cfg.Logger = log
	el, err := leaderelection.New(cli, cfg, leaderelection.Callbacks{
		OnStartedLeading: func(ctx context.Context) {
			if err := recordLeader(ctx, cli, name, cfg); err != nil && ctx.Err() == nil {
				log.Warn("cannot record the leader in its Lease", "err", err)
			}
			if err := work(ctx); err != nil && ctx.Err() == nil {
				log.Error("component failed", "err", err)
			}
		},
	})
	if err != nil {
		return err
	}
	log.Info("campaigning for leadership", "election", name, "identity", cfg.Identity)
	return el.Run(ctx)
}

// recordLeader writes the Lease kube-system/<name> naming this instance as holder, so
// `orch ctl get leases -n kube-system` shows who leads. Election itself does not read it.
func recordLeader(ctx context.Context, cli *clientv3.Client, name string, cfg leaderelection.Config) error {
	leases := registry.New[api.Lease](cli, registry.Config{})
	now := api.MicroTime{Time: time.Now().UTC()}
	secs := int32((cfg.LeaseDuration + time.Second - 1) / time.Second)
	set := func(l *api.Lease) {
		if l.Spec.HolderIdentity == nil || *l.Spec.HolderIdentity != cfg.Identity {
			n := int32(0)
			if l.Spec.LeaseTransitions != nil && l.Spec.HolderIdentity != nil {
				n = *l.Spec.LeaseTransitions + 1
			}
			l.Spec.LeaseTransitions = &n
		}
		id := cfg.Identity
		l.Spec.HolderIdentity, l.Spec.LeaseDurationSeconds = &id, &secs
		l.Spec.AcquireTime, l.Spec.RenewTime = &now, &now
	}
	_, err := leases.GuaranteedUpdate(ctx, cfg.Namespace, name, func(l *api.Lease) (*api.Lease, error) {
		set(l)
		return l, nil
	})
	if errors.Is(err, registry.ErrNotFound) {
		l := &api.Lease{ObjectMeta: api.ObjectMeta{Namespace: cfg.Namespace, Name: name}}
		set(l)
		_, err = leases.Create(ctx, l)
	}
	return err
}

func runScheduler(ctx context.Context, args []string, stderr io.Writer) error {
	var g globals
	var le election
	fs := newFlagSet("orch scheduler", stderr, &g)
	le.register(fs)
	name := fs.String("scheduler-name", scheduler.DefaultSchedulerName, "schedule pods whose spec.schedulerName is this")
	bindWorkers := fs.Int("bind-workers", 0, "binding transactions written to the store in parallel (0 = the scheduler's default, 16)")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		fmt.Fprintf(stderr, "unexpected arguments %v\n", pos)
		return errUsage
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
	return le.runElected(ctx, cli, "kube-scheduler", log, func(ctx context.Context) error {
		return scheduler.New(cli, scheduler.Config{SchedulerName: *name, BindWorkers: *bindWorkers, Logger: log}).Run(ctx)
	})
}

func runControllerManager(ctx context.Context, args []string, stderr io.Writer) error {
	var g globals
	var le election
	fs := newFlagSet("orch controller-manager", stderr, &g)
	le.register(fs)
	var bf batchFlags
	bf.register(fs)
	var hpaf hpaFlags
	hpaf.register(fs)
	var sf serviceFlags
	sf.register(fs)
	localPathRoot := fs.String("local-path-root", volume.DefaultLocalPathRoot, "directory of local-path persistent volumes on their node")
	var sel controllerSelection
	sel.register(fs)
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if err := sel.parse(); err != nil {
		return err
	}
	if len(pos) > 0 {
		fmt.Fprintf(stderr, "unexpected arguments %v\n", pos)
		return errUsage
	}
	log, err := g.logger(stderr)
	if err != nil {
		return err
	}
	nlc := nodelifecycle.Config{Logger: log}
	switch le.timing {
	case "fast":
	case "kubernetes":
		nlc.GracePeriod = nodelifecycle.KubernetesGracePeriod
		nlc.EvictionTimeout = nodelifecycle.KubernetesEvictionTimeout
		nlc.MonitorPeriod = nodelifecycle.KubernetesMonitorPeriod
	default:
		return fmt.Errorf("unknown --timing %q (want fast or kubernetes)", le.timing)
	}
	cli, err := g.client()
	if err != nil {
		return err
	}
	defer func() { _ = cli.Close() }()
	if err := sf.ensure(ctx, cli); err != nil {
		return err
	}
	host, _ := os.Hostname()
	return le.runElected(ctx, cli, "kube-controller-manager", log, func(ctx context.Context) error {
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		// One recorder per term of leadership: its writer stops with the controllers.
		rec := events.NewRecorder(cli, events.Config{Component: "controller-manager", Host: host, Logger: log})
		nlc := nlc
		nlc.Recorder = rec
		controllers := map[string]func(ctx context.Context) error{
			"events": rec.Run,
			"replicaset": func(ctx context.Context) error {
				return replicaset.Run(ctx, cli, replicaset.Config{Logger: log, Recorder: rec})
			},
			"replicationcontroller": func(ctx context.Context) error {
				return replicaset.RunReplicationManager(ctx, cli, replicaset.Config{Logger: log, Recorder: rec})
			},
			"nodelifecycle": func(ctx context.Context) error { return nodelifecycle.Run(ctx, cli, nlc) },
			"horizontalpodautoscaling": func(ctx context.Context) error {
				return podautoscaler.Run(ctx, cli, hpaf.config(log, rec))
			},
			"deployment": func(ctx context.Context) error {
				return deployment.Run(ctx, cli, deployment.Config{Logger: log, Recorder: rec})
			},
			"endpoints": func(ctx context.Context) error { return endpoints.Run(ctx, cli, endpoints.Config{Logger: log}) },
			"servicelb": func(ctx context.Context) error { return servicelb.Run(ctx, cli, servicelb.Config{Logger: log}) },
			"servicerepair": func(ctx context.Context) error {
				return servicerepair.Run(ctx, cli, servicerepair.Config{Logger: log})
			},
			"daemonset": func(ctx context.Context) error {
				return daemonset.Run(ctx, cli, daemonset.Config{Logger: log, Recorder: rec})
			},
			"statefulset": func(ctx context.Context) error {
				return statefulset.Run(ctx, cli, statefulset.Config{Logger: log, Recorder: rec})
			},
			"persistentvolume": func(ctx context.Context) error {
				return volume.Run(ctx, cli, volume.Config{LocalPathRoot: *localPathRoot, Logger: log})
			},
			"garbagecollector": func(ctx context.Context) error {
				return garbagecollector.Run(ctx, cli, garbagecollector.Config{Logger: log})
			},
			"resourcequota": func(ctx context.Context) error {
				return resourcequota.Run(ctx, cli, resourcequota.Config{Logger: log})
			},
		}
		bf.add(controllers, cli, log, rec)
		if err := sel.apply(controllers); err != nil {
			return err
		}
		errs := make(chan error, len(controllers))
		for name, run := range controllers {
			go func() {
				err := run(ctx)
				if err != nil {
					err = fmt.Errorf("%s controller: %w", name, err)
				}
				errs <- err
			}()
		}
		var first error
		for range controllers {
			// One controller stopping stops them all: the manager then campaigns again.
			if err := <-errs; err != nil && first == nil {
				first = err
			}
			cancel()
		}
		return first
	})
}

func runAgent(ctx context.Context, args []string, stderr io.Writer) error {
	var g globals
	fs := newFlagSet("orch agent", stderr, &g)
	node := fs.String("node", "", "node name (with --nodes N > 1, the prefix of the names NAME-0 … NAME-N-1)")
	nodes := fs.Int("nodes", 1, "number of simulated nodes")
	runtime := fs.String("runtime", "sim", "runtime: sim (no process; pods are reported Running) or process (pods run as local processes)")
	var pf processFlags
	pf.register(fs)
	var ef evictionFlags
	ef.register(fs)
	startDelay := fs.Duration("start-delay", 0, "sim runtime: delay before a pod is reported Running")
	stopDelay := fs.Duration("stop-delay", 0, "sim runtime: how long a deleted pod's containers take to stop (at most its grace period)")
	capacity := fs.String("capacity", "cpu=32,memory=256Gi,pods=110", "each node's capacity, as name=quantity,...")
	lbls := fs.String("labels", "", "extra node labels, as key=value,...")
	workers := fs.Int("workers", 0, "pod workers (default 4, plus one per 8 simulated nodes up to 128)")
	metricsInterval := fs.Duration("metrics-interval", agent.DefaultMetricsInterval, "how often pod and node usage is written as PodMetrics/NodeMetrics (0 = never)")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 || *node == "" {
		fmt.Fprintln(stderr, "usage: orch agent --node NAME [--nodes N] [--runtime sim|process] [--start-delay D] [--stop-delay D] [--capacity cpu=4,memory=8Gi,pods=110] [--labels k=v,...]\n"+
			"       process runtime: [--address IP] [--pod-cidr CIDR] [--root-dir DIR] [--port N] [--stop-pods-on-exit] [--timing fast|kubernetes]\n"+
			"       eviction: [--eviction-hard memory.available<100Mi] [--eviction-soft S --eviction-soft-grace-period S] [--eviction-minimum-reclaim S]\n"+
			"                 [--eviction-pressure-transition-period D] [--eviction-max-pod-grace-period SECONDS] [--housekeeping-interval D]")
		return errUsage
	}
	cfg := agent.Config{NodeName: *node, Nodes: *nodes, StartDelay: *startDelay, StopDelay: *stopDelay, Runtime: *runtime, Workers: *workers,
		MetricsInterval: *metricsInterval}
	if cfg.MetricsInterval == 0 {
		cfg.MetricsInterval = -1
	}
	if cfg.Eviction, err = ef.config(); err != nil {
		return err
	}
	regCfg, err := registryConfig(g.encryptionConfig)
	if err != nil {
		return err
	}
	cfg.Transformers = regCfg.Transformers
	switch *runtime {
	case agent.RuntimeSim:
	case agent.RuntimeProcess:
		if *nodes != 1 {
			return errors.New("--runtime process runs one node: --nodes must be 1")
		}
		if cfg.Process, err = pf.config(); err != nil {
			return err
		}
	default:
		return fmt.Errorf("unknown --runtime %q (want sim or process)", *runtime)
	}
	capList, err := keyValues(*capacity)
	if err != nil {
		return fmt.Errorf("--capacity: %w", err)
	}
	labelSet, err := keyValues(*lbls)
	if err != nil {
		return fmt.Errorf("--labels: %w", err)
	}
	res := api.ResourceList{}
	for k, v := range capList {
		if _, err := api.ParseQuantity(v); err != nil {
			return fmt.Errorf("--capacity %s: %w", k, err)
		}
		res[k] = api.Quantity(v)
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
	cfg.Capacity, cfg.Labels, cfg.Logger = res, labelSet, log
	if *runtime != agent.RuntimeProcess {
		return agent.Run(ctx, cli, cfg)
	}
	// The process runtime's node also proxies every Service port on its address, as
	// kube-proxy does; the agent and the proxy stop together.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	proxyDone := make(chan error, 1)
	go func() {
		err := proxy.Run(ctx, cli, proxy.Config{Address: cfg.Process.Address, Logger: log})
		cancel()
		proxyDone <- err
	}()
	err = agent.Run(ctx, cli, cfg)
	cancel()
	if perr := <-proxyDone; perr != nil && err == nil {
		err = fmt.Errorf("service proxy: %w", perr)
	}
	return err
}

// keyValues parses "k=v,k2=v2".
func keyValues(s string) (map[string]string, error) {
	out := map[string]string{}
	for _, kv := range strings.Split(s, ",") {
		if kv = strings.TrimSpace(kv); kv == "" {
			continue
		}
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("%q is not key=value", kv)
		}
		out[k] = v
	}
	return out, nil
}
