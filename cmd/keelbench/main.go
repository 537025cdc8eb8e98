// Command keelbench measures etcd v3 endpoints (Keel or etcd) with the etcd client.
//
//	keelbench <workload> [flags]
//
// Workloads: put, range, txn-cas, txn-mixed, watch, watch-get, lease, k8s, load, and the
// housekeeping workloads compaction and lease-expiry. Run `keelbench <workload> -h` for the
// flags; `keelbench summarize` and `keelbench goals` read --compare --json files.
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

	"github.com/keeldb/keel/bench"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr, isTerminal(os.Stderr))
	switch {
	case errors.Is(err, flag.ErrHelp):
		os.Exit(0)
	case errors.Is(err, errUsage):
		os.Exit(2)
	case err != nil:
		fmt.Fprintln(os.Stderr, "keelbench:", err)
		os.Exit(1)
	}
}

var errUsage = errors.New("usage")

// isTerminal reports whether f is a character device, such as a terminal.
func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// options are the parsed command line.
type options struct {
	workload  string
	cfg       bench.Config
	params    bench.Params
	endpoints string
	user      string // --user name:password

	compare          bool
	compareEndpoints string
	names            string
	rounds           int

	jsonPath, csvPath, plotPath string
	histogram, progress         bool
}

// workloadHelp describes each workload in one line for the usage message.
var workloadHelp = map[string]string{
	"put":          "puts over --key-space keys, at random or --sequential-keys",
	"range":        "gets of loaded keys; --consistency l|s, --prefix with --limit, --keys-only, --count-only",
	"txn-cas":      "get then compare-and-swap txn on --hot-keys keys; counts conflicts",
	"txn-mixed":    "txns of --txn-ops gets and puts (--read-ratio)",
	"watch":        "puts seen by --watchers watchers on --streams streams; put-to-event latency and events/s",
	"watch-get":    "watchers catching up on --watch-revs old revisions",
	"lease":        "grant + put + --keepalives keepalives, then revoke, or --expire to measure expiry lag",
	"k8s":          "apiserver-shaped mix: paged lists, gets, CAS updates, creates, deletes, list-then-watch",
	"load":         "fills the store: txns of --txn-ops (default 100) puts of new keys, in order",
	"auth":         "Authenticate calls as --user (bcrypt check and a raft entry each); needs auth enabled",
	"compaction":   "puts and serializable gets before and during a compaction of --keys × --versions revisions",
	"lease-expiry": "puts and serializable gets before and during the expiry of --leases leases of --ttl s",
}

// housekeepingClients is the foreground's --clients default of the housekeeping workloads.
var housekeepingClients = map[string]int{"compaction": 8, "lease-expiry": 8}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: keelbench <workload> [flags]   (flags: keelbench <workload> -h)")
	fmt.Fprintln(w, "workloads:")
	for _, name := range bench.Names() {
		fmt.Fprintf(w, "  %-12s %s\n", name, workloadHelp[name])
	}
	fmt.Fprintln(w, "compaction, lease-expiry: --clients defaults to 8 (even clients put, odd ones get); --window")
	fmt.Fprintln(w, "  is the foreground window before the housekeeping and the least one during it; --total and")
	fmt.Fprintln(w, "  --duration do not apply")
	fmt.Fprintln(w, "compare two clusters: --endpoints A --compare --compare-endpoints B --names keel,etcd --rounds 5")
	fmt.Fprintln(w, "summarize comparisons as a Markdown table: keelbench summarize A.json B.json ...")
	fmt.Fprintln(w, "check goals on comparisons: keelbench goals GOALS_FILE, lines of name|json file|command|goal; goal …")
}

// parse reads args (workload first, then flags).
func parse(args []string, stderr io.Writer) (*options, error) {
	if len(args) < 1 || strings.HasPrefix(args[0], "-") || args[0] == "help" {
		usage(stderr)
		return nil, errUsage
	}
	o := &options{workload: args[0]}
	fs := newFlagSet(o, stderr)
	c := &o.cfg
	if err := fs.Parse(args[1:]); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if c.Duration > 0 && !set["total"] {
		c.Total = 0
	}
	if n, ok := housekeepingClients[o.workload]; ok && !set["clients"] {
		c.Clients = n
	}
	if o.compare && o.compareEndpoints == "" {
		return nil, errors.New("--compare needs --compare-endpoints")
	}
	c.Endpoints = strings.Split(o.endpoints, ",")
	if o.user != "" {
		name, pw, ok := strings.Cut(o.user, ":")
		if !ok || name == "" {
			return nil, errors.New("--user wants name:password")
		}
		c.Username, c.Password = name, pw
	}
	return o, nil
}

// run parses args, runs the workload (or the comparison) and writes the reports.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, terminal bool) error {
	if len(args) > 0 && args[0] == "summarize" {
		return summarize(args[1:], stdout)
	}
	if len(args) > 0 && args[0] == "goals" {
		return goals(args[1:], stdout)
	}
	o, err := parse(args, stderr)
	if err != nil {
		return err
	}
	names := strings.Split(o.names+",", ",")
	o.cfg.Name = names[0]
	if o.progress && terminal {
		o.cfg.Progress = stderr
	}
	build := func() (bench.Workload, error) { return bench.New(o.workload, o.params) }
	if _, err := build(); err != nil {
		return err
	}
	// With machine output on stdout, the human tables go to stderr.
	human := stdout
	if o.jsonPath == "-" || o.csvPath == "-" {
		human = stderr
	}
	if o.compare {
		b := o.cfg
		b.Name, b.Endpoints = names[1], strings.Split(o.compareEndpoints, ",")
		if b.Name == "" {
			b.Name = "B"
		}
		return runCompare(ctx, o, b, build, human, stdout)
	}
	wl, _ := build()
	rep, err := bench.Run(ctx, o.cfg, o.workload, wl)
	if rep == nil {
		return err
	}
	if werr := rep.WriteTable(human); werr != nil {
		return werr
	}
	if o.histogram {
		if werr := rep.WriteHistogram(human); werr != nil {
			return werr
		}
	}
	if werr := writeOutputs(o, stdout, nil, []*bench.Report{rep}, []*bench.Report{rep}); werr != nil {
		return werr
	}
	return err
}

// writeOutputs writes the JSON, CSV and plot outputs that were asked for. A comparison
// (cmp != nil) is written as one JSON object with its ratios.
func writeOutputs(o *options, stdout io.Writer, cmp *bench.Comparison, reports, plotted []*bench.Report) error {
	write := func(path string, f func(io.Writer, []*bench.Report) error) error {
		if path == "" {
			return nil
		}
		if path == "-" {
			return f(stdout, reports)
		}
		file, err := os.Create(path)
		if err != nil {
			return err
		}
		if err := f(file, reports); err != nil {
			_ = file.Close()
			return err
		}
		return file.Close()
	}
	writeJSON := bench.WriteJSON
	if cmp != nil {
		writeJSON = func(w io.Writer, _ []*bench.Report) error { return cmp.WriteJSON(w) }
	}
	if err := write(o.jsonPath, writeJSON); err != nil {
		return err
	}
	if err := write(o.csvPath, bench.WriteCSV); err != nil {
		return err
	}
	if o.plotPath != "" {
		return bench.Plot(o.plotPath, plotted)
	}
	return nil
}

// runCompare runs the comparison of o.cfg (A) with b and writes its reports.
func runCompare(ctx context.Context, o *options, b bench.Config, build func() (bench.Workload, error),
	human, stdout io.Writer) error {
	cmp, err := bench.Compare(ctx, o.cfg, b, o.workload, build, o.rounds)
	if cmp == nil || len(cmp.Rounds) == 0 {
		return err
	}
	if werr := cmp.WriteTable(human); werr != nil {
		return werr
	}
	if werr := writeOutputs(o, stdout, cmp, cmp.Reports(), cmp.MergedReports()); werr != nil {
		return werr
	}
	return err
}
