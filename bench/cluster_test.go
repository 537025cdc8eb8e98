package bench_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/keeldb/keel/bench"
	"github.com/keeldb/keel/internal/testcluster"
)

func runCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func counter(r *bench.Report, name string) int64 {
	for _, c := range r.Counters {
		if c.Name == name {
			return c.Value
		}
	}
	return 0
}

func op(r *bench.Report, name string) bench.OpStats {
	for _, o := range r.Ops {
		if o.Op == name {
			return o
		}
	}
	return bench.OpStats{}
}

// checkErrors fails on any error but Unavailable ones: on a loaded machine the test
// cluster may elect a new leader mid-run, and requests then fail with "leader changed".
func checkErrors(t *testing.T, r *bench.Report) {
	t.Helper()
	for _, e := range r.Errors {
		if !strings.HasPrefix(e.Error, "Unavailable:") {
			t.Errorf("%s: %d × %s", e.Op, e.Count, e.Error)
			continue
		}
		t.Logf("tolerated: %s: %d × %s", e.Op, e.Count, e.Error)
	}
}

// checkProfilesAsked checks that the run asked each of its n endpoints for a CPU profile.
func checkProfilesAsked(t *testing.T, r *bench.Report, n int) {
	t.Helper()
	if len(r.Profiles) != n {
		t.Errorf("profiles %+v, want %d", r.Profiles, n)
	}
	for _, p := range r.Profiles {
		if p.Path == "" && (p.Error == "" || strings.HasPrefix(p.Error, "not taken")) {
			t.Errorf("profile %+v was not asked for", p)
		}
	}
}

// TestWorkloadsAgainstCluster runs every workload briefly against a real 3-member cluster
// and checks that each did its work without errors.
func TestWorkloadsAgainstCluster(t *testing.T) {
	c := testcluster.Start(t, 3)
	cfg := bench.Config{Endpoints: c.Endpoints(), Clients: 4, Conns: 2, Total: 60, Seed: 1}
	small := bench.Params{KeySpace: 50, ValSize: 16, Watchers: 3, Streams: 2, WatchRevs: 40, Namespaces: 3, Limit: 10}
	cases := []struct {
		name   string
		params func(bench.Params) bench.Params
		ops    []string
		check  func(t *testing.T, r *bench.Report)
	}{
		{name: "put", ops: []string{"put"}, params: func(p bench.Params) bench.Params { p.Sequential = true; return p }},
		{name: "range", ops: []string{"range"}, params: func(p bench.Params) bench.Params {
			p.RangePrefix, p.KeysOnly, p.Consistency = true, true, "s"
			return p
		}},
		{name: "range", ops: []string{"range"}, params: func(p bench.Params) bench.Params { p.CountOnly = true; return p }},
		{name: "txn-cas", ops: []string{"get", "txn"}, check: func(t *testing.T, r *bench.Report) {
			if got, want := counter(r, "cas_ok")+counter(r, "conflicts"), op(r, "txn").Count; got != int64(want) {
				t.Errorf("cas_ok+conflicts = %d, want one per txn (%d)", got, want)
			}
		}},
		{name: "txn-mixed", ops: []string{"txn"}},
		{name: "watch", ops: []string{"put", "watch"}, check: func(t *testing.T, r *bench.Report) {
			// Every put reaches every watcher, and each event is matched to its put.
			want := 3 * op(r, "put").Count
			if got := op(r, "watch").Count; got != want || counter(r, "events") < int64(want) {
				t.Errorf("matched watch latencies %d of %d events, want %d", got, counter(r, "events"), want)
			}
		}},
		{name: "watch-get", ops: []string{"catchup"}, check: func(t *testing.T, r *bench.Report) {
			if got := counter(r, "events"); got < 60*40 {
				t.Errorf("events = %d, want at least %d", got, 60*40)
			}
		}},
		{name: "lease", ops: []string{"grant", "put", "keepalive", "revoke"}},
		{name: "k8s", ops: []string{"list", "get"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := small
			if tc.params != nil {
				p = tc.params(p)
			}
			wl, err := bench.New(tc.name, p)
			if err != nil {
				t.Fatal(err)
			}
			r, err := bench.Run(runCtx(t), cfg, tc.name, wl)
			if err != nil {
				t.Fatal(err)
			}
			if r.Units != 60 {
				t.Fatalf("units=%d, want 60", r.Units)
			}
			checkErrors(t, r)
			for _, name := range tc.ops {
				if o := op(r, name); o.Count == 0 || o.P50 <= 0 || o.Max < o.P50 {
					t.Errorf("op %s: %+v, want some latencies", name, o)
				}
			}
			if tc.check != nil {
				tc.check(t, r)
			}
		})
	}
}

// TestCompareDurationRateAndLeader drives the runner's other modes: a comparison of two
// endpoint sets (both the same cluster here), a duration-bound run with a rate limit, the
// leader as the only target, and the plot.
func TestCompareDurationRateAndLeader(t *testing.T) {
	c := testcluster.Start(t, 3)
	ctx := runCtx(t)
	// The leader may move under load, so poll until LeaderEndpoint and the cluster agree.
	deadline := time.Now().Add(20 * time.Second)
	for {
		leader := c.Members[c.Leader()].Endpoint
		got, err := bench.LeaderEndpoint(ctx, c.Endpoints(), 10*time.Second)
		if err == nil && got == leader {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("LeaderEndpoint = %q, %v; want %q", got, err, leader)
		}
	}

	a := bench.Config{Name: "keel", Endpoints: c.Endpoints(), Clients: 2, Total: 20, TargetLeader: true}
	b := bench.Config{Name: "other", Endpoints: c.Endpoints()[:1], Clients: 2, Total: 20}
	build := func() (bench.Workload, error) { return bench.New("put", bench.Params{KeySpace: 10}) }
	cmp, err := bench.Compare(ctx, a, b, "put", build, 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(cmp.Rounds) != 2 || cmp.Rounds[1][0].Name != "keel" || cmp.Rounds[1][1].Name != "other" {
		t.Fatalf("rounds %+v", cmp.Rounds)
	}
	if eps := cmp.Rounds[0][0].Endpoints; len(eps) != 1 || !slices.Contains(c.Endpoints(), eps[0]) {
		t.Fatalf("target-leader run used %v, want one of %v", eps, c.Endpoints())
	}
	for _, p := range cmp.Pairs("put") {
		if p.QPSRatio <= 0 || p.P99Ratio <= 0 {
			t.Fatalf("pair %+v has no ratios", p)
		}
	}
	dir := t.TempDir()
	for _, name := range []string{"cmp.svg", "cmp.png"} {
		path := filepath.Join(dir, name)
		if err := bench.Plot(path, cmp.MergedReports()); err != nil {
			t.Fatal(err)
		}
		data, err := os.ReadFile(path)
		if err != nil || len(data) == 0 {
			t.Fatalf("plot %s: %d bytes, %v", name, len(data), err)
		}
		if strings.HasSuffix(name, ".svg") && !strings.Contains(string(data), "<svg") {
			t.Fatalf("%s is not an SVG", name)
		}
	}

	wl, err := bench.New("range", bench.Params{KeySpace: 10})
	if err != nil {
		t.Fatal(err)
	}
	var progress strings.Builder
	r, err := bench.Run(ctx, bench.Config{Endpoints: c.Endpoints(), Duration: 300 * time.Millisecond, Rate: 50,
		Progress: &progress, PprofDir: t.TempDir(), PprofSeconds: 1}, "range", wl)
	if err != nil {
		t.Fatal(err)
	}
	// The limiter allows at most one burst plus rate*duration units; no timing is asserted
	// beyond that upper bound, which holds however slow the machine is.
	if r.Units == 0 || r.Units > 1+50*int64(r.Elapsed.Seconds()*1.0+1) {
		t.Fatalf("units %d in %v at rate 50", r.Units, r.Elapsed)
	}
	checkProfilesAsked(t, r, 3)
	if !strings.Contains(progress.String(), "100%") {
		t.Fatalf("progress output %q lacks 100%%", progress.String())
	}
}

// phase returns the named phase of r.
func phase(r *bench.Report, name string) bench.Phase {
	for _, p := range r.Phases {
		if p.Name == name {
			return p
		}
	}
	return bench.Phase{}
}

// TestHousekeepingAgainstCluster runs the housekeeping workloads at tiny scale against a
// real 3-member cluster: each must measure the foreground before and during its
// housekeeping, time it, and leave the store as it says (history compacted, leased keys gone).
func TestHousekeepingAgainstCluster(t *testing.T) {
	c := testcluster.Start(t, 3)
	// The in-process members serve no /debug/pprof: the profiles are asked for and refused.
	cfg := bench.Config{Endpoints: c.Endpoints(), Clients: 4, Conns: 2, Seed: 1, Total: 5,
		PprofDir: t.TempDir(), PprofSeconds: 1}
	small := bench.Params{KeySpace: 50, ValSize: 16, Keys: 150, Versions: 3, Leases: 30, LeaseTTL: 2,
		DefragMB: 2, Window: 100 * time.Millisecond}
	cases := []struct {
		name    string
		timings []string
		check   func(t *testing.T, cli *clientv3.Client, r *bench.Report)
	}{
		{name: "compaction", timings: []string{"compaction"}, check: func(t *testing.T, cli *clientv3.Client, r *bench.Report) {
			// Revision 2 is the first of the setup's writes: compacted away.
			_, err := cli.Get(runCtx(t), "kb-compact/hist/", clientv3.WithPrefix(), clientv3.WithRev(2))
			if !errors.Is(err, rpctypes.ErrCompacted) {
				t.Errorf("get at revision 2 after the run: %v, want %v", err, rpctypes.ErrCompacted)
			}
			resp, err := cli.Get(runCtx(t), "kb-compact/hist/", clientv3.WithPrefix(), clientv3.WithCountOnly())
			if err != nil || resp.Count != 150 {
				t.Errorf("history keys: %v (%v), want 150", resp, err)
			}
		}},
		{name: "lease-expiry", timings: []string{"grant", "expiry"}, check: func(t *testing.T, cli *clientv3.Client, r *bench.Report) {
			resp, err := cli.Get(runCtx(t), "kb-lexp/leased/", clientv3.WithPrefix(), clientv3.WithCountOnly())
			if err != nil || resp.Count != 0 {
				t.Errorf("leased keys after the run: %v (%v), want none", resp, err)
			}
		}},
		{name: "defrag", timings: []string{"defrag"}, check: func(t *testing.T, cli *clientv3.Client, r *bench.Report) {
			// 2 MiB of bulk keys, every other one deleted: 128 left.
			resp, err := cli.Get(runCtx(t), "kb-defrag/bulk/", clientv3.WithPrefix(), clientv3.WithCountOnly())
			if err != nil || resp.Count != 128 {
				t.Errorf("bulk keys after the run: %v (%v), want 128", resp, err)
			}
			var before, after int64
			for _, c := range r.Counters {
				switch c.Name {
				case "db-mib-before":
					before = c.Value
				case "db-mib-after":
					after = c.Value
				}
			}
			if before < 3 || after >= before {
				t.Errorf("backend MiB over the members before/after the defrag: %d, %d; want >= 3 and a drop", before, after)
			}
		}},
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: c.Endpoints(), DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			wl, err := bench.New(tc.name, small)
			if err != nil {
				t.Fatal(err)
			}
			r, err := bench.Run(runCtx(t), cfg, tc.name, wl)
			if err != nil {
				t.Fatal(err)
			}
			checkErrors(t, r)
			// Total does not bound a housekeeping run: its phases do.
			if r.Units <= 5 {
				t.Errorf("units=%d: the foreground stopped at --total", r.Units)
			}
			for _, name := range []string{"before", "during"} {
				p := phase(r, name)
				if p.Elapsed < small.Window || p.All.Count+p.All.Errors < 100 || p.All.P99 <= 0 || p.All.QPS <= 0 {
					t.Errorf("phase %s: %+v, want at least the window and 100 requests", name, p)
				}
				for _, o := range []string{"put", "get"} {
					if s := op(r, name+"/"+o); s.Count == 0 {
						t.Errorf("op %s/%s: %+v, want some latencies", name, o, s)
					}
				}
			}
			if phase(r, "before").Start+phase(r, "before").Elapsed > phase(r, "during").Start {
				t.Errorf("phases overlap: %+v", r.Phases)
			}
			checkProfilesAsked(t, r, 3)
			for _, name := range tc.timings {
				if d, ok := r.TimingOf(name); !ok || d <= 0 {
					t.Errorf("timing %s: %v, %v; want a duration", name, d, ok)
				}
			}
			tc.check(t, cli, r)
		})
	}
}
