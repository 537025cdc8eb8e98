package bench

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// fixedReport builds a report with 100 puts of 1..100 ms, 10 gets of 5 ms, two put
// errors and a counter, over 2 s.
func fixedReport(name string, scale float64) *Report {
	r := newRecorder()
	for i := 1; i <= 100; i++ {
		observe(r, "put", time.Duration(float64(i)*scale*float64(time.Millisecond)), nil)
	}
	for range 10 {
		observe(r, "get", 5*time.Millisecond, nil)
	}
	observe(r, "put", 0, rpctypes.ErrLeaderChanged)
	observe(r, "put", 0, context.DeadlineExceeded)
	observe(r, "del", 0, context.DeadlineExceeded)
	r.counters["conflicts"] = 7
	cfg := Config{Name: name, Endpoints: []string{"a:1", "b:2"}, Clients: 4, Conns: 2}
	return newReport("put", cfg, 2*time.Second, 110, r, nil)
}

func TestReportStats(t *testing.T) {
	r := fixedReport("keel", 1)
	if len(r.Ops) != 3 || r.Ops[0].Op != "del" || r.Ops[1].Op != "get" || r.Ops[2].Op != "put" {
		t.Fatalf("ops %+v, want del, get, put", r.Ops)
	}
	put := r.Ops[2]
	// 1..100 ms are not exact in the histogram, but nearest-rank picks the value's own bucket.
	within := func(got, want time.Duration) bool { return got >= want && got-want <= want/(1<<subBits) }
	if put.Count != 100 || put.Errors != 2 || put.QPS != 50 || !within(put.P50, 50*time.Millisecond) ||
		!within(put.P90, 90*time.Millisecond) || !within(put.P99, 99*time.Millisecond) ||
		put.P999 != 100*time.Millisecond || put.Max != 100*time.Millisecond || put.Min != time.Millisecond {
		t.Fatalf("put stats %+v", put)
	}
	if d := r.Ops[0]; d.Count != 0 || d.Errors != 1 {
		t.Fatalf("del stats %+v, want 0 ok and 1 error", d)
	}
	if r.Throughput() != 55 {
		t.Fatalf("throughput %v, want 55", r.Throughput())
	}
	if len(r.Counters) != 1 || r.Counters[0].PerSec != 3.5 {
		t.Fatalf("counters %+v, want conflicts at 3.5/s", r.Counters)
	}
	if len(r.Errors) != 3 || r.Errors[0].Op != "del" || r.Errors[2].Error != "Unavailable: etcdserver: leader changed" {
		t.Fatalf("errors %+v", r.Errors)
	}
}

func TestWriteTable(t *testing.T) {
	var b bytes.Buffer
	if err := fixedReport("keel", 1).WriteTable(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"keel  workload=put  endpoints=a:1,b:2  clients=4 conns=2  elapsed=2s  units=110 (55.0/s)",
		"p99.9 ms", "100.000", "conflicts", "3.5/s", "etcdserver: leader changed",
		"DeadlineExceeded: context deadline exceeded",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	lines := strings.Split(out, "\n")
	if !strings.HasSuffix(strings.TrimSpace(lines[1]), "max ms") || !strings.HasPrefix(strings.TrimSpace(lines[4]), "put") {
		t.Errorf("unexpected layout:\n%s", out)
	}
}

func TestWriteHistogram(t *testing.T) {
	var b bytes.Buffer
	if err := fixedReport("keel", 1).WriteHistogram(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	if !strings.Contains(out, "latency histogram (keel, put):") || !strings.Contains(out, "latency histogram (keel, get):") ||
		strings.Contains(out, "(keel, del)") {
		t.Fatalf("histogram headers wrong:\n%s", out)
	}
	if n := strings.Count(out, "\n"); n != 2+2*histogramBars {
		t.Fatalf("histogram has %d lines, want %d:\n%s", n, 2+2*histogramBars, out)
	}
	if !strings.Contains(out, "<=    100.000 ms") {
		t.Fatalf("last put bar should end at the max:\n%s", out)
	}
}

func TestWriteJSON(t *testing.T) {
	var b bytes.Buffer
	if err := WriteJSON(&b, []*Report{fixedReport("keel", 1), fixedReport("etcd", 2)}); err != nil {
		t.Fatal(err)
	}
	var got []struct {
		Name    string `json:"name"`
		Elapsed int64  `json:"elapsed_ns"`
		Ops     []struct {
			Op    string  `json:"op"`
			Count uint64  `json:"count"`
			QPS   float64 `json:"qps"`
			P999  int64   `json:"p99_9_ns"`
			Max   int64   `json:"max_ns"`
		} `json:"ops"`
		Errors []ErrorCount `json:"errors"`
	}
	if err := json.Unmarshal(b.Bytes(), &got); err != nil {
		t.Fatalf("%v in:\n%s", err, b.String())
	}
	if len(got) != 2 || got[1].Name != "etcd" || got[0].Elapsed != int64(2*time.Second) || len(got[0].Errors) != 3 {
		t.Fatalf("json %+v", got)
	}
	if put := got[1].Ops[2]; put.Op != "put" || put.Count != 100 || put.Max != int64(200*time.Millisecond) {
		t.Fatalf("etcd put %+v, want 100 puts up to 200ms", put)
	}
}

func TestWriteCSV(t *testing.T) {
	var b bytes.Buffer
	if err := WriteCSV(&b, []*Report{fixedReport("keel", 1), fixedReport("etcd", 2)}); err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(&b).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1+2*3 || strings.Join(recs[0], ",") != strings.Join(csvHeader, ",") {
		t.Fatalf("csv has %d records, header %v", len(recs), recs[0])
	}
	col := func(rec []string, name string) string {
		for i, h := range csvHeader {
			if h == name {
				return rec[i]
			}
		}
		t.Fatalf("no column %s", name)
		return ""
	}
	put := recs[6]
	if col(put, "name") != "etcd" || col(put, "op") != "put" || col(put, "count") != "100" || col(put, "errors") != "2" ||
		col(put, "qps") != "50.0" || col(put, "max_ms") != "200.000" || col(put, "elapsed_s") != "2.000" {
		t.Fatalf("etcd put row %v", put)
	}
}

func TestClassifyError(t *testing.T) {
	cases := []struct {
		err  error
		want string
	}{
		{rpctypes.ErrNoSpace, "ResourceExhausted: etcdserver: mvcc: database space exceeded"},
		{rpctypes.ErrGRPCCompacted, "OutOfRange: etcdserver: mvcc: required revision has been compacted"},
		{status.Error(codes.Unavailable, "connection refused"), "Unavailable: connection refused"},
		{fmt.Errorf("wrapped: %w", context.DeadlineExceeded), "DeadlineExceeded: context deadline exceeded"},
		{context.Canceled, "Canceled: context canceled"},
		{errors.New(strings.Repeat("x", 100) + "\nmore"), "Other: " + strings.Repeat("x", 77) + "..."},
	}
	for _, tc := range cases {
		if got := ClassifyError(tc.err); got != tc.want {
			t.Errorf("ClassifyError(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
}

func TestMedian(t *testing.T) {
	cases := []struct {
		in   []float64
		want float64
	}{{nil, 0}, {[]float64{3}, 3}, {[]float64{3, 1, 2}, 2}, {[]float64{4, 1, 3, 2}, 2.5}, {[]float64{1, 100, 1.1, 0.9, 1.05}, 1.05}}
	for _, tc := range cases {
		in := append([]float64(nil), tc.in...)
		if got := Median(in); got != tc.want {
			t.Errorf("Median(%v) = %v, want %v", tc.in, got, tc.want)
		}
		for i := range in {
			if in[i] != tc.in[i] {
				t.Fatalf("Median reordered its input: %v", in)
			}
		}
	}
}

func TestComparePairsAndMedians(t *testing.T) {
	// A is twice as fast as B in rounds 1 and 3; round 2 is a noisy outlier where A is 4x
	// slower. The medians must ignore the outlier.
	c := &Comparison{Workload: "put", Names: [2]string{"keel", "etcd"}}
	for _, s := range [][2]float64{{1, 2}, {8, 2}, {1, 2}} {
		a, b := fixedReport("keel", s[0]), fixedReport("etcd", s[1])
		c.Rounds = append(c.Rounds, [2]*Report{a, b})
	}
	c.Rounds[1][0].Units = 11 // A served a tenth in the outlier round
	if got := c.Ops(); strings.Join(got, ",") != "*,get,put" {
		t.Fatalf("ops %v, want *,get,put", got)
	}
	pairs := c.Pairs("put")
	if len(pairs) != 3 || math.Abs(pairs[0].P50Ratio-0.5) > 0.01 || math.Abs(pairs[1].P50Ratio-4) > 0.05 {
		t.Fatalf("put pairs %+v", pairs)
	}
	qps, p50, p99 := MedianRatios(pairs)
	if qps != 1 || math.Abs(p50-0.5) > 0.01 || math.Abs(p99-0.5) > 0.01 {
		t.Fatalf("put medians qps=%v p50=%v p99=%v, want 1 0.5 0.5", qps, p50, p99)
	}
	all := c.Pairs(allOps)
	if q, _, _ := MedianRatios(all); q != 1 || all[1].QPSRatio != 0.1 {
		t.Fatalf("all pairs %+v, want median qps ratio 1 and 0.1 in round 2", all)
	}
	var b bytes.Buffer
	if err := c.WriteTable(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{"compare put: A=keel B=etcd, 3 rounds", "op put", "keel p99 ms", "median", "0.500",
		"keel over all rounds:", "conflicts                      21", "error        3  put  DeadlineExceeded"} {
		if !strings.Contains(out, want) {
			t.Errorf("compare table lacks %q:\n%s", want, out)
		}
	}
	single := &Comparison{Rounds: [][2]*Report{{
		{hists: map[string]*Histogram{"put": {}}, Ops: []OpStats{{Op: "put"}}},
		{hists: map[string]*Histogram{"put": {}}},
	}}}
	if got := single.Ops(); len(got) != 1 || got[0] != "put" {
		t.Fatalf("single-op ops %v, want just put", got)
	}
	merged := c.MergedReports()
	if len(merged) != 2 || merged[0].Histogram("put").Count() != 300 || merged[1].Elapsed != 6*time.Second {
		t.Fatalf("merged reports wrong: %+v", merged)
	}
}
