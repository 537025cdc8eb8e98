// Command keelctl is Keel's operator CLI: etcdctl's maintenance, membership and key-value
// commands over clientv3, etcdctl's check perf, plus
// the offline snapshot restore that turns a snapshot into the data dirs of a new cluster.
//
//	keelctl [global flags] snapshot save FILE
//	keelctl [global flags] snapshot status FILE
//	keelctl snapshot restore FILE --name N --data-dir D --initial-cluster C
//	        --initial-cluster-token T --initial-advertise-peer-urls U [--skip-hash-check]
//	keelctl [global flags] alarm list | alarm disarm
//	keelctl [global flags] defrag
//	keelctl [global flags] endpoint status|health [--cluster]
//	keelctl [global flags] member list | member add NAME --peer-urls U [--learner]
//	        | member remove ID | member promote ID | member update ID --peer-urls U
//	keelctl [global flags] check perf [--load s|m|l|xl] [--duration D] [--prefix P]
//	keelctl [global flags] get KEY [END] | put KEY VALUE | del KEY [END] | watch KEY [END]
//	keelctl version
//
// Global flags (accepted anywhere on the line, as etcdctl's): --endpoints (comma-separated,
// default $ETCDCTL_ENDPOINTS or 127.0.0.1:2379), --dial-timeout, --command-timeout and
// -w/--write-out simple|table|json.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
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

const usage = `usage: keelctl [global flags] <command> [args] [flags]

commands:
  snapshot save FILE       stream a snapshot from one endpoint into FILE
  snapshot status FILE     describe a snapshot file (-w simple|table|json)
  snapshot restore FILE    write a new member data dir from a snapshot
  alarm list               list the cluster's active alarms
  alarm disarm             deactivate every active alarm
  defrag                   defragment every endpoint's backend
  endpoint status          show every endpoint's status (--cluster: every member's)
  endpoint health          check every endpoint with a linearizable read (--cluster: every member)
  member list              list the cluster's members
  member add NAME          add a member (--peer-urls, --learner)
  member remove ID         remove a member (ID in hex)
  member promote ID        promote a learner to a voting member
  member update ID         change a member's peer URLs (--peer-urls)
  check perf               a short put load test with a pass/fail verdict (--load s|m|l|xl, --duration)
  get KEY [END]            read keys (--prefix, --limit, --rev, --keys-only, --consistency l|s)
  put KEY VALUE            write a key (--lease ID in hex)
  del KEY [END]            delete keys (--prefix)
  watch KEY [END]          print events until interrupted (--prefix, --rev, --max-events N)
  version                  print keelctl's version, git SHA and Go version

global flags:
  --endpoints LIST         comma-separated endpoints (default $ETCDCTL_ENDPOINTS or 127.0.0.1:2379)
  --dial-timeout D         dial timeout (default 2s)
  --command-timeout D      timeout of each request (default 5s)
  -w, --write-out FORMAT   simple, table or json (default simple)
`

// globals are the flags every command takes.
type globals struct {
	endpoints      string
	dialTimeout    time.Duration
	commandTimeout time.Duration
	writeOut       string
}

func (g *globals) register(fs *flag.FlagSet) {
	def := os.Getenv("ETCDCTL_ENDPOINTS")
	if def == "" {
		def = "127.0.0.1:2379"
	}
	fs.StringVar(&g.endpoints, "endpoints", def, "comma-separated endpoints")
	fs.DurationVar(&g.dialTimeout, "dial-timeout", 2*time.Second, "dial timeout")
	fs.DurationVar(&g.commandTimeout, "command-timeout", 5*time.Second, "timeout of each request")
	fs.StringVar(&g.writeOut, "write-out", "simple", "output format: simple, table or json")
	fs.StringVar(&g.writeOut, "w", "simple", "output format (shorthand)")
}

func (g *globals) validate() error {
	switch g.writeOut {
	case "simple", "table", "json":
		return nil
	}
	return fmt.Errorf("unsupported output format %q (want simple, table or json)", g.writeOut)
}

func (g *globals) endpointList() []string {
	var eps []string
	for _, e := range strings.Split(g.endpoints, ",") {
		if e = strings.TrimSpace(e); e != "" {
			eps = append(eps, e)
		}
	}
	return eps
}

// client dials eps (all endpoints when nil).
func (g *globals) client(eps []string) (*clientv3.Client, error) {
	if eps == nil {
		eps = g.endpointList()
	}
	if len(eps) == 0 {
		return nil, errors.New("no endpoints")
	}
	return clientv3.New(clientv3.Config{Endpoints: eps, DialTimeout: g.dialTimeout, Logger: zap.NewNop()})
}

// command is one leaf command: its flags, its positional argument count and its body.
type command struct {
	words []string // e.g. "snapshot", "save"
	args  int      // positional arguments required
	opt   int      // further optional positional arguments
	flags func(fs *flag.FlagSet) func(ctx context.Context, e *env) error
}

// env is what a command body works with.
type env struct {
	g      *globals
	args   []string
	stdout io.Writer
	stderr io.Writer
}

var commands = []command{
	{words: []string{"snapshot", "save"}, args: 1, flags: snapshotSaveFlags},
	{words: []string{"snapshot", "status"}, args: 1, flags: snapshotStatusFlags},
	{words: []string{"snapshot", "restore"}, args: 1, flags: snapshotRestoreFlags},
	{words: []string{"alarm", "list"}, flags: alarmListFlags},
	{words: []string{"alarm", "disarm"}, flags: alarmDisarmFlags},
	{words: []string{"defrag"}, flags: defragFlags},
	{words: []string{"endpoint", "status"}, flags: endpointStatusFlags},
	{words: []string{"endpoint", "health"}, flags: endpointHealthFlags},
	{words: []string{"member", "list"}, flags: memberListFlags},
	{words: []string{"member", "add"}, args: 1, flags: memberAddFlags},
	{words: []string{"member", "remove"}, args: 1, flags: memberRemoveFlags},
	{words: []string{"member", "promote"}, args: 1, flags: memberPromoteFlags},
	{words: []string{"member", "update"}, args: 1, flags: memberUpdateFlags},
	{words: []string{"check", "perf"}, flags: checkPerfFlags},
	{words: []string{"get"}, args: 1, opt: 1, flags: getFlags},
	{words: []string{"put"}, args: 2, flags: putFlags},
	{words: []string{"del"}, args: 1, opt: 1, flags: delFlags},
	{words: []string{"watch"}, args: 1, opt: 1, flags: watchFlags},
	{words: []string{"version"}, flags: versionFlags},
}

// versionFlags prints keelctl's build information (etcdctl version); it needs no endpoint.
func versionFlags(*flag.FlagSet) func(ctx context.Context, e *env) error {
	return func(_ context.Context, e *env) error {
		version.Print(e.stdout, "keelctl")
		return nil
	}
}

// run parses args and runs the command they name.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	words, rest := commandWords(args)
	for _, c := range commands {
		if strings.Join(words, " ") != strings.Join(c.words, " ") {
			continue
		}
		fs := flag.NewFlagSet("keelctl "+strings.Join(c.words, " "), flag.ContinueOnError)
		fs.SetOutput(stderr)
		g := &globals{}
		g.register(fs)
		body := c.flags(fs)
		pos, err := parseInterspersed(fs, rest)
		if err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return err
			}
			return errUsage
		}
		if len(pos) < c.args || len(pos) > c.args+c.opt {
			fmt.Fprintf(stderr, "keelctl %s: want %d to %d argument(s), got %d\n", strings.Join(c.words, " "),
				c.args, c.args+c.opt, len(pos))
			return errUsage
		}
		if err := g.validate(); err != nil {
			return err
		}
		return body(ctx, &env{g: g, args: pos, stdout: stdout, stderr: stderr})
	}
	fmt.Fprint(stderr, usage)
	if len(words) == 0 || words[0] == "help" {
		return flag.ErrHelp
	}
	return errUsage
}

// commandWords splits the leading command words (up to two non-flag words that name a
// command) from the rest. Global flags may precede them; they stay in rest.
func commandWords(args []string) (words, rest []string) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if strings.HasPrefix(a, "-") {
			rest = append(rest, a)
			if !strings.Contains(a, "=") && i+1 < len(args) && takesValue(a) {
				i++
				rest = append(rest, args[i])
			}
			continue
		}
		if len(words) < 2 && isCommandWord(words, a) {
			words = append(words, a)
			continue
		}
		rest = append(rest, args[i:]...)
		break
	}
	return words, rest
}

// takesValue reports whether a global flag given before the command words takes a value.
func takesValue(flagArg string) bool {
	switch strings.TrimLeft(flagArg, "-") {
	case "endpoints", "dial-timeout", "command-timeout", "write-out", "w":
		return true
	}
	return false
}

func isCommandWord(prefix []string, w string) bool {
	for _, c := range commands {
		if len(c.words) > len(prefix) && strings.Join(c.words[:len(prefix)], " ") == strings.Join(prefix, " ") &&
			c.words[len(prefix)] == w {
			return true
		}
	}
	return false
}

// parseInterspersed parses flags anywhere among args and returns the positional arguments.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// timeout returns a context bounded by the command timeout.
func (e *env) timeout(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, e.g.commandTimeout)
}
