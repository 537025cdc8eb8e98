// Command orch runs Keel's orchestrator components and its kubectl-like client. Every
// component is a clientv3 client of a Keel (or etcd) cluster.
//
//	orch scheduler [--leader-elect=true] [--timing fast|kubernetes] [--id ID] [--bind-workers N]
//	orch controller-manager [--leader-elect=true] [--timing fast|kubernetes] [--id ID] [--concurrent-job-syncs N] [--controllers LIST]
//	orch agent --node NAME [--nodes N] [--runtime sim] [--start-delay D] [--stop-delay D] [--capacity cpu=4,...] [--labels k=v,...]
//	orch agent --node NAME --runtime process [--address IP] [--pod-cidr CIDR] [--root-dir DIR] [--port N] [--stop-pods-on-exit]
//	orch ctl apply -f FILE
//	orch ctl get RESOURCE [NAME] [-n NS | -A] [-l SELECTOR] [-o wide|yaml|json|name]
//	orch ctl delete RESOURCE NAME... [-n NS] [--grace-period N] [--force] [--now] [--wait=false] [--timeout D]
//	orch ctl scale deployment|replicaset|statefulset|rc NAME --replicas N [-n NS]
//	orch ctl describe RESOURCE [NAME...] [-n NS | -A] [-l SELECTOR]
//	orch ctl rollout status|history|undo|pause|resume|restart deployment/NAME [-n NS]
//	orch ctl cordon|uncordon NODE
//	orch ctl drain NODE [--ignore-daemonsets] [--force] [--grace-period N] [--timeout D]
//	orch ctl logs POD|deployment/NAME|job/NAME [-c CONTAINER] [-f] [--tail N] [-p]
//	orch ctl create job NAME --from=cronjob/NAME [-n NS]
//	orch ctl create configmap NAME | secret generic NAME [--from-literal=k=v] [--from-file=[k=]path] [--from-env-file=path]
//	orch ctl create role|clusterrole NAME --verb V --resource R [--resource-name N] [--non-resource-url U]
//	orch ctl create rolebinding|clusterrolebinding NAME --clusterrole C|--role R [--user U] [--group G] [--serviceaccount NS:NAME]
//
// Every command takes --endpoints (comma-separated, default $ETCDCTL_ENDPOINTS or
// 127.0.0.1:2379), --dial-timeout, --user/--password and --cacert/--cert/--key, like etcdctl; flags may appear anywhere on the line,
// and the global ones (plus -n, -o, -l and -A for ctl) also before the command or ctl verb:
// "orch ctl --endpoints X -n NS get pods", "orch --endpoints X ctl get pods".
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/keeldb/keel/version"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	switch {
	case errors.Is(err, flag.ErrHelp):
	case errors.Is(err, errUsage):
		os.Exit(2)
	case err != nil:
		fmt.Fprintln(os.Stderr, "Error:", err)
		os.Exit(1)
	}
}

// errUsage means the command line was wrong; the usage has been printed.
var errUsage = errors.New("usage")

const usage = `usage: orch <command> [args] [flags]

commands:
  version                   print orch's version, git SHA and Go version
  scheduler                 run the scheduler (leader-elected; --bind-workers N)
  controller-manager        run the controllers (leader-elected; --concurrent-job-syncs N,
                            --controllers '*'|name,-name,... as kube-controller-manager's)
  apiserver                 serve the Kubernetes API for kubectl and client-go (--bind-address,
                            --secure-port 6443, --cert-dir DIR: writes DIR/admin.kubeconfig,
                            --tls-cert-file, --tls-private-key-file, --client-ca-file,
                            --token-auth-file FILE, --anonymous-auth)
  ingress-controller --listen HOST:PORT [--listen-tls HOST:PORT] [--ingress-class keel]
                            serve the Ingresses of a class as an HTTP reverse proxy
  agent --node NAME         run a node agent (--nodes N simulated nodes NAME-0…, --runtime sim,
                            --start-delay D, --stop-delay D (a deleted pod's simulated stop, at most
                            its grace period), --capacity cpu=32,memory=256Gi,pods=110, --labels k=v,...,
                            --metrics-interval D (default 15s; 0 = no PodMetrics/NodeMetrics))
  agent --node NAME --runtime process
                            run one node whose pods are local processes (--address IP (default
                            127.0.0.1), --pod-cidr CIDR, --root-dir DIR (default ./data/agent-NAME),
                            --port N (logs API, default 10250), --stop-pods-on-exit,
                            --timing fast|kubernetes restart back-off)
  ctl apply -f FILE         create or update the objects of a multi-document YAML file ("-" = stdin)
  ctl get RESOURCE [NAME]   list or show objects (-n NS, -A, -l SELECTOR, -o wide|yaml|json|name,
                            -w/--watch: then stream changes; --watch-only)
  ctl delete RESOURCE NAME  delete objects (-n NS); pods gracefully, waiting until they are gone
                            (--grace-period N, --now, --force with --grace-period=0: at once,
                            --wait=false, --timeout D)
  ctl scale deployment NAME --replicas N
                            set the replica count of a deployment, replica set, stateful set or rc
  ctl autoscale deployment NAME --max N [--min N] [--cpu-percent P]
                            create a HorizontalPodAutoscaler for a deployment, rs or rc
  ctl top pods|nodes        show the usage agents report (-n NS, -A, -l SELECTOR, --sort-by cpu|memory)
  ctl describe RESOURCE [NAME]
                            show objects in detail, with their events (-n NS, -A, -l SELECTOR)
  ctl rollout status|history|undo|pause|resume|restart deployment/NAME
                            manage a deployment's rollout (status: --timeout D, --watch=false;
                            history: --revision N; undo: --to-revision N); status and
                            restart also take ds/NAME and sts/NAME
  ctl cordon|uncordon NODE  mark a node unschedulable or schedulable
  ctl drain NODE            cordon a node and evict its pods (--ignore-daemonsets, --force,
                            --grace-period N, --timeout D)
  ctl logs POD              print a container's log from its node agent (-c CONTAINER, -f,
                            --tail N, -p; also deployment/NAME, job/NAME)
  ctl create job NAME --from=cronjob/CJ
                            start a Job now from a CronJob's template
  ctl create configmap NAME | create secret generic NAME [--type T]
                            from --from-literal=k=v, --from-file=[key=]path, --from-env-file=path
  ctl create role|clusterrole NAME --verb V --resource R[.GROUP][/SUB]
                            a Role or ClusterRole (--resource-name N; clusterrole: --non-resource-url U)
  ctl create rolebinding|clusterrolebinding NAME --clusterrole C|--role R
                            bind it to --user U, --group G, --serviceaccount NS:NAME (here --user
                            is kubectl's subject, not etcd's: give that with ETCDCTL_USER)
  bench                     time a Deployment of --replicas M pods on --nodes N sim nodes until Running

global flags (anywhere on the line, also before the command or ctl verb, with -n, -o, -l, -A):
  --endpoints LIST          comma-separated endpoints (default $ETCDCTL_ENDPOINTS or 127.0.0.1:2379)
  --dial-timeout D          dial timeout (default 2s)
  --command-timeout D       ctl: give up on a command after D (default 30s)
  --log-level L             debug, info, warn or error (components; default info)
  --user NAME[:PASSWORD]    authenticate to the store as etcdctl does (default $ETCDCTL_USER)
  --password PASSWORD       the password, when --user is only the name (default $ETCDCTL_PASSWORD)
  --cacert FILE             TLS: verify the members with this CA bundle (default $ETCDCTL_CACERT)
  --cert FILE, --key FILE   TLS: present this client certificate (default $ETCDCTL_CERT, $ETCDCTL_KEY)
  --insecure-skip-tls-verify
                            TLS without verifying the members' certificates (testing only)
  --encryption-provider-config FILE
                            EncryptionConfiguration: Secrets encrypted in the store (ctl, agent)

component flags (scheduler, controller-manager):
  --leader-elect=false      run without leader election
  --timing fast|kubernetes  leader election (and node lifecycle) timings (default fast: lease 5s)
  --id ID                   identity in leader election (default hostname_pid)
  --job-backoff-base D      controller-manager, tests only: Job failure back-off base (default 10s)
  --cronjob-clock-rate R    controller-manager, tests only: run the CronJob clock R× faster
`

// run executes one command line.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errUsage
	}
	if a := args[0]; strings.HasPrefix(a, "-") && a != "--version" && a != "-h" && a != "--help" {
		cmd, rest, err := hoistCommand(args) // "orch --endpoints X ctl get pods"
		if err != nil {
			fmt.Fprintf(stderr, "%v\n%s", err, usage)
			return errUsage
		}
		if cmd == "" {
			fmt.Fprint(stderr, usage)
			return errUsage
		}
		args = append([]string{cmd}, rest...)
	}
	switch args[0] {
	case "scheduler":
		return runScheduler(ctx, args[1:], stderr)
	case "controller-manager":
		return runControllerManager(ctx, args[1:], stderr)
	case "agent":
		return runAgent(ctx, args[1:], stderr)
	case "shim": // hidden: the process runtime's per-container shim
		if code := runShim(args[1:]); code != 0 {
			return fmt.Errorf("shim exited with status %d", code)
		}
		return nil
	case "ingress-controller":
		return runIngressController(ctx, args[1:], stderr)
	case "hello-server": // hidden: a demo workload for examples and tests
		return runHello(ctx, args[1:], stdout, stderr)
	case "apiserver":
		return runAPIServer(ctx, args[1:], stderr)
	case "ctl":
		return runCtl(ctx, args[1:], stdout, stderr)
	case "bench":
		return runBench(ctx, args[1:], stdout, stderr)
	case "version", "--version":
		version.Print(stdout, "orch")
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprintf(stderr, "unknown command %q\n%s", args[0], usage)
	return errUsage
}

// globals are the flags every command takes.
type globals struct {
	endpoints      string
	dialTimeout    time.Duration
	commandTimeout time.Duration
	logLevel       string
	conn           connFlags
	// encryptionConfig is --encryption-provider-config (ctl_config.go).
	encryptionConfig string
}

func newFlagSet(name string, stderr io.Writer, g *globals) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	def := os.Getenv("ETCDCTL_ENDPOINTS")
	if def == "" {
		def = "127.0.0.1:2379"
	}
	fs.StringVar(&g.endpoints, "endpoints", def, "comma-separated endpoints")
	fs.DurationVar(&g.dialTimeout, "dial-timeout", 2*time.Second, "dial timeout")
	fs.DurationVar(&g.commandTimeout, "command-timeout", 30*time.Second, "ctl: how long one command may take before it gives up")
	fs.StringVar(&g.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	g.conn.register(fs)
	fs.StringVar(&g.encryptionConfig, "encryption-provider-config", "", "EncryptionConfiguration file: how Secrets are encrypted in the store (default: plaintext)")
	return fs
}

// parseArgs parses flags anywhere on the line and returns the positional arguments.
func parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, errUsage
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if rest[0] == "--" {
			return append(pos, rest[1:]...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

func (g *globals) client() (*clientv3.Client, error) {
	var eps []string
	for _, e := range strings.Split(g.endpoints, ",") {
		if e = strings.TrimSpace(e); e != "" {
			eps = append(eps, e)
		}
	}
	if len(eps) == 0 {
		return nil, errors.New("no endpoints given")
	}
	user, password, err := g.conn.credentials()
	if err != nil {
		return nil, err
	}
	tlsCfg, err := g.conn.tlsConfig(eps)
	if err != nil {
		return nil, err
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: eps, DialTimeout: g.dialTimeout, Logger: zap.NewNop(),
		Username: user, Password: password, TLS: tlsCfg})
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", g.endpoints, err)
	}
	return cli, nil
}

func (g *globals) logger(stderr io.Writer) (*slog.Logger, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(g.logLevel)); err != nil {
		return nil, fmt.Errorf("invalid --log-level %q", g.logLevel)
	}
	return slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: lvl})), nil
}
