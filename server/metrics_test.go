package server_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/keeldb/keel/internal/testcluster"
)

// scrape fetches http://endpoint/metrics and returns every sample by its full series name
// (name plus label set as printed), e.g. `grpc_server_handled_total{...}`.
func scrape(t *testing.T, endpoint string) (map[string]float64, error) {
	t.Helper()
	resp, err := http.Get("http://" + endpoint + "/metrics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		return nil, fmt.Errorf("status %d: %s", resp.StatusCode, b)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			return nil, fmt.Errorf("bad sample %q: %w", line, err)
		}
		out[line[:i]] = v
	}
	return out, sc.Err()
}

// sum adds the samples of series whose name is name and whose labels contain every one of
// labels (each `k="v"`); found is false when there is none.
func sum(samples map[string]float64, name string, labels ...string) (total float64, found bool) {
	for series, v := range samples {
		n, rest, _ := strings.Cut(series, "{")
		if n != name {
			continue
		}
		ok := true
		for _, l := range labels {
			ok = ok && strings.Contains(rest, l)
		}
		if ok {
			total += v
			found = true
		}
	}
	return total, found
}

// metricCheck is one expectation on a member's metrics.
type metricCheck struct {
	name   string
	labels []string
	ok     func(v float64) bool
	want   string
}

func atLeast(n float64) (func(float64) bool, string) {
	return func(v float64) bool { return v >= n }, fmt.Sprintf(">= %v", n)
}

func exactly(n float64) (func(float64) bool, string) {
	return func(v float64) bool { return v == n }, fmt.Sprintf("== %v", n)
}

func check(name string, f func(float64) bool, want string, labels ...string) metricCheck {
	return metricCheck{name: name, labels: labels, ok: f, want: want}
}

// waitMetrics polls a member's /metrics until every check holds, failing with the first
// unmet one after the deadline.
func waitMetrics(t *testing.T, endpoint string, checks []metricCheck) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	var last string
	for time.Now().Before(deadline) {
		last = ""
		samples, err := scrape(t, endpoint)
		if err != nil {
			last = err.Error()
		}
		for _, c := range checks {
			if last != "" {
				break
			}
			v, found := sum(samples, c.name, c.labels...)
			if !found {
				last = fmt.Sprintf("%s%v: missing", c.name, c.labels)
			} else if !c.ok(v) {
				last = fmt.Sprintf("%s%v = %v, want %s", c.name, c.labels, v, c.want)
			}
		}
		if last == "" {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	if samples, err := scrape(t, endpoint); err == nil {
		for k, v := range samples {
			if strings.HasPrefix(k, "etcd_server") || strings.HasPrefix(k, "etcd_disk_wal_fsync_duration_seconds_count") {
				t.Logf("%s %v", k, v)
			}
		}
	}
	t.Fatalf("%s metrics: %s", endpoint, last)
}

func TestMetricsAfterWrites(t *testing.T) {
	c := testcluster.Start(t, 3)
	l := c.WaitLeader()
	cli := c.Client(l)
	ctx := ctxT(t)
	const writes = 25
	for i := range writes {
		// A slow machine may change leaders (etcdserver: leader changed): retry, a put is idempotent.
		for {
			_, err := cli.Put(ctx, fmt.Sprintf("k%02d", i), "v")
			if err == nil {
				break
			}
			if ctx.Err() != nil {
				t.Fatal(err)
			}
		}
	}
	if _, err := cli.Get(ctx, "k00"); err != nil {
		t.Fatal(err)
	}
	lg, err := cli.Grant(ctx, 60)
	if err != nil {
		t.Fatal(err)
	}
	wctx, cancelWatch := context.WithCancel(clientv3.WithRequireLeader(ctx))
	defer cancelWatch()
	wch := cli.Watch(wctx, "k", clientv3.WithPrefix(), clientv3.WithCreatedNotify())
	if wr := <-wch; !wr.Created {
		t.Fatalf("watch not created: %+v", wr)
	}

	everyMember := func() []metricCheck {
		one, oneWant := exactly(1)
		zero, zeroWant := exactly(0)
		someLeaders, slWant := atLeast(1)
		applied, appliedWant := atLeast(writes)
		positive, posWant := atLeast(1)
		return []metricCheck{
			check("etcd_server_has_leader", one, oneWant),
			check("etcd_server_leader_changes_seen_total", someLeaders, slWant),
			check("etcd_server_proposals_applied_total", applied, appliedWant),
			check("etcd_server_proposals_pending", zero, zeroWant),
			check("etcd_server_proposals_failed_total", func(v float64) bool { return v >= 0 && v < writes }, "in [0, writes)"),
			check("etcd_disk_wal_fsync_duration_seconds_count", positive, posWant),
			check("etcd_disk_wal_fsync_duration_seconds_sum", func(v float64) bool { return v > 0 && v < 60 }, "in (0, 60)"),
			check("etcd_disk_backend_commit_duration_seconds_count", positive, posWant),
			check("etcd_mvcc_db_total_size_in_bytes", func(v float64) bool { return v >= 4096 }, ">= 4096"),
			check("etcd_debugging_mvcc_keys_total", applied, appliedWant),
			check("keel_lease_active", one, oneWant),
		}
	}
	for i, m := range c.Members {
		checks := everyMember()
		if i == l {
			committed, committedWant := atLeast(writes)
			one, oneWant := exactly(1)
			checks = append(checks,
				check("etcd_server_proposals_committed_total", committed, committedWant),
				check("etcd_debugging_mvcc_watcher_total", one, oneWant),
				check("grpc_server_handled_total", committed, committedWant,
					`grpc_method="Put"`, `grpc_code="OK"`, `grpc_service="etcdserverpb.KV"`),
				check("grpc_server_handling_seconds_count", committed, committedWant, `grpc_method="Put"`),
				check("grpc_server_handled_total", one, oneWant, `grpc_method="LeaseGrant"`, `grpc_code="OK"`),
				check("grpc_server_started_total", one, oneWant, `grpc_method="Watch"`),
			)
		}
		waitMetrics(t, m.Endpoint, checks)
	}

	// Closing the watch stream closes its watcher; revoking the lease drops the lease gauge.
	cancelWatch()
	if _, err := cli.Revoke(ctx, lg.ID); err != nil {
		t.Fatal(err)
	}
	zero, zeroWant := exactly(0)
	waitMetrics(t, c.Members[l].Endpoint, []metricCheck{
		check("etcd_debugging_mvcc_watcher_total", zero, zeroWant),
		check("keel_lease_active", zero, zeroWant),
	})
}

// TestMetricsLint runs promlint over a member's registry. etcd's gauges named *_total and
// its compaction histograms in milliseconds are kept for dashboard compatibility and are the
// only problems allowed.
func TestMetricsLint(t *testing.T) {
	c := testcluster.Start(t, 1)
	m := c.Members[c.WaitLeader()]
	cli := c.Client()
	if _, err := cli.Put(ctxT(t), "k", "v"); err != nil {
		t.Fatal(err)
	}
	problems, err := testutil.GatherAndLint(m.Registry)
	if err != nil {
		t.Fatal(err)
	}
	allowed := map[string]bool{"etcd_debugging_mvcc_keys_total": true, "etcd_debugging_mvcc_watcher_total": true,
		"etcd_debugging_mvcc_index_compaction_pause_duration_milliseconds": true,
		"etcd_debugging_mvcc_db_compaction_pause_duration_milliseconds":    true,
		"etcd_debugging_mvcc_db_compaction_total_duration_milliseconds":    true}
	for _, p := range problems {
		if !allowed[p.Metric] {
			t.Errorf("lint: %s: %s", p.Metric, p.Text)
		}
	}
}

// TestDashboardUsesExportedMetrics checks that every metric deploy/grafana/keel-dashboard.json
// queries is one a member exports.
func TestDashboardUsesExportedMetrics(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "deploy", "grafana", "keel-dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Title  string `json:"title"`
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatalf("dashboard is not valid JSON: %v", err)
	}
	c := testcluster.Start(t, 1)
	m := c.Members[c.WaitLeader()]
	if _, err := c.Client().Put(ctxT(t), "k", "v"); err != nil {
		t.Fatal(err)
	}
	families, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	exported := map[string]bool{}
	for _, f := range families {
		exported[f.GetName()] = true
	}
	name := regexp.MustCompile(`\b(?:etcd|grpc|keel)_[a-z_]+`)
	labels := map[string]bool{"grpc_method": true, "grpc_code": true, "grpc_service": true}
	used := 0
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			for _, n := range name.FindAllString(tg.Expr, -1) {
				if labels[n] {
					continue
				}
				used++
				base := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(n, "_bucket"), "_count"), "_sum")
				if !exported[n] && !exported[base] {
					t.Errorf("panel %q queries %s, which no member exports", p.Title, n)
				}
			}
		}
	}
	if used < 10 {
		t.Errorf("dashboard %q queries only %d metrics", dash.Title, used)
	}
}
