package bench

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
)

// phasedReport builds the report of a run in phases over 10 s: "before" from 1 s for 2 s
// with 40 puts of scale ms and 60 gets of scale/2 ms, "during" from 4 s for 4 s with 40 puts
// of 4×scale ms (one failed) and 40 gets of scale ms, a "warm" put outside any phase, and a
// compaction of 3×scale seconds.
func phasedReport(name string, scale float64) *Report {
	r := newRecorder()
	d := func(ms float64) time.Duration { return time.Duration(ms * scale * float64(time.Millisecond)) }
	for range 40 {
		observe(r, "before/put", d(1), nil)
		observe(r, "during/put", d(4), nil)
		observe(r, "during/get", d(1), nil)
	}
	for range 60 {
		observe(r, "before/get", d(0.5), nil)
	}
	observe(r, "during/put", 0, rpctypes.ErrLeaderChanged)
	observe(r, "put", d(100), nil)
	phases := []Phase{{Name: "before", Start: time.Second, Elapsed: 2 * time.Second},
		{Name: "during", Start: 4 * time.Second, Elapsed: 4 * time.Second}}
	rep := newReport("compaction", Config{Name: name, Clients: 8, Conns: 8}, 10*time.Second, 181, r, phases)
	rep.Timings = []Timing{{Name: "compaction", Duration: time.Duration(3 * scale * float64(time.Second))}}
	return rep
}

func TestPhasedReport(t *testing.T) {
	r := phasedReport("keel", 1)
	var ops []string
	for _, o := range r.Ops {
		ops = append(ops, o.Op)
	}
	if got, want := strings.Join(ops, ","), "before/get,before/put,during/get,during/put,put"; got != want {
		t.Fatalf("ops %s, want %s (phase by phase, then the rest)", got, want)
	}
	cases := []struct {
		name          string
		got           OpStats
		count, errors uint64
		qps           float64
		p99           time.Duration
	}{
		{"before/put over its 2 s", op(r, "before/put"), 40, 0, 20, time.Millisecond},
		{"before/* over its 2 s", r.Phases[0].All, 100, 0, 50, time.Millisecond},
		{"during/put over its 4 s", op(r, "during/put"), 40, 1, 10, 4 * time.Millisecond},
		{"during/* over its 4 s", r.Phases[1].All, 80, 1, 20, 4 * time.Millisecond},
		{"put outside phases over the run's 10 s", op(r, "put"), 1, 0, 0.1, 100 * time.Millisecond},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := tc.got
			if g.Count != tc.count || g.Errors != tc.errors || math.Abs(g.QPS-tc.qps) > 1e-9 ||
				g.P99 < tc.p99 || g.P99-tc.p99 > tc.p99/100 {
				t.Fatalf("got %+v, want count %d errors %d qps %v p99 %v", g, tc.count, tc.errors, tc.qps, tc.p99)
			}
		})
	}
	if r.Phases[0].All.Op != "before/*" || r.Phases[1].All.Op != "during/*" {
		t.Fatalf("phase summaries named %q, %q", r.Phases[0].All.Op, r.Phases[1].All.Op)
	}
	if d, ok := r.TimingOf("compaction"); !ok || d != 3*time.Second {
		t.Fatalf("timing compaction %v %v", d, ok)
	}
	if _, ok := r.TimingOf("nope"); ok {
		t.Fatal("timing nope found")
	}
}

func op(r *Report, name string) OpStats {
	for _, o := range r.Ops {
		if o.Op == name {
			return o
		}
	}
	return OpStats{}
}

func TestPhasedReportOutputs(t *testing.T) {
	r := phasedReport("keel", 1)
	var b bytes.Buffer
	if err := r.WriteTable(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	var rows []string
	for _, l := range strings.Split(out, "\n")[2:7] {
		rows = append(rows, strings.Fields(l)[0])
	}
	if got, want := strings.Join(rows, ","), "before/*,before/get,before/put,during/*,during/get"; got != want {
		t.Errorf("table rows %s, want %s:\n%s", got, want, out)
	}
	for _, want := range []string{"phases (qps over each window):", "during                    4.000 s  from 4.000 s",
		"timings:", "compaction                3.000 s"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}

	b.Reset()
	if err := WriteCSV(&b, []*Report{r}); err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(&b).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	// header, before/*, 2 ops, during/*, 2 ops, put
	if len(recs) != 8 || recs[4][3] != "during/*" || recs[4][6] != "20.0" || recs[4][14] != "4.000" || recs[7][14] != "10.000" {
		t.Fatalf("csv %v", recs)
	}

	b.Reset()
	if err := WriteJSON(&b, []*Report{r}); err != nil {
		t.Fatal(err)
	}
	var got []struct {
		Phases []struct {
			Name    string `json:"name"`
			Elapsed int64  `json:"elapsed_ns"`
			All     struct {
				Op    string `json:"op"`
				Count int    `json:"count"`
			} `json:"all"`
		} `json:"phases"`
		Timings []struct {
			Name     string `json:"name"`
			Duration int64  `json:"duration_ns"`
		} `json:"timings"`
	}
	if err := json.Unmarshal(b.Bytes(), &got); err != nil || len(got) != 1 || len(got[0].Phases) != 2 ||
		got[0].Phases[1].All.Count != 80 || got[0].Timings[0].Duration != int64(3*time.Second) {
		t.Fatalf("json %+v (%v):\n%s", got, err, b.String())
	}
}

func TestComparePhasesAndTimings(t *testing.T) {
	// A is twice as fast as B in rounds 1 and 3, four times slower in round 2.
	c := &Comparison{Workload: "compaction", Names: [2]string{"keel", "etcd"}}
	for _, s := range [][2]float64{{1, 2}, {8, 2}, {1, 2}} {
		c.Rounds = append(c.Rounds, [2]*Report{phasedReport("keel", s[0]), phasedReport("etcd", s[1])})
	}
	want := "before/*,before/get,before/put,during/*,during/get,during/put,put"
	if got := strings.Join(c.Ops(), ","); got != want {
		t.Fatalf("ops %s, want %s", got, want)
	}
	cases := []struct {
		op                    string
		qps, p50, p99, p99Ro2 float64
	}{
		// QPS over the phase's window is the same on both sides, so its ratio is 1.
		{op: "during/*", qps: 1, p50: 0.5, p99: 0.5, p99Ro2: 4},
		{op: "before/get", qps: 1, p50: 0.5, p99: 0.5, p99Ro2: 4},
	}
	for _, tc := range cases {
		t.Run(tc.op, func(t *testing.T) {
			pairs := c.Pairs(tc.op)
			q, p50, p99 := MedianRatios(pairs)
			near := func(a, b float64) bool { return math.Abs(a-b) <= b/50 }
			if !near(q, tc.qps) || !near(p50, tc.p50) || !near(p99, tc.p99) || !near(pairs[1].P99Ratio, tc.p99Ro2) {
				t.Fatalf("medians qps %v p50 %v p99 %v, round 2 p99 %v; pairs %+v", q, p50, p99, pairs[1].P99Ratio, pairs)
			}
		})
	}
	if got := c.Timings(); len(got) != 1 || got[0] != "compaction" {
		t.Fatalf("timings %v", got)
	}
	tp := c.TimingPairs("compaction")
	if len(tp) != 3 || tp[0].Seconds != [2]float64{3, 6} || tp[1].Ratio != 4 || MedianTimingRatio(tp) != 0.5 {
		t.Fatalf("timing pairs %+v, median %v", tp, MedianTimingRatio(tp))
	}

	var b bytes.Buffer
	if err := c.WriteTable(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{"op during/* (every request of phase during; qps over its window)",
		"timing compaction (seconds)", "keel s", "24.000", "median                  0.500"} {
		if !strings.Contains(out, want) {
			t.Errorf("compare table lacks %q:\n%s", want, out)
		}
	}
	b.Reset()
	if err := c.WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	var got struct {
		Ratios  []OpRatios     `json:"ratios"`
		Timings []TimingRatios `json:"timings"`
	}
	if err := json.Unmarshal(b.Bytes(), &got); err != nil || len(got.Ratios) != 7 || got.Ratios[3].Op != "during/*" ||
		len(got.Timings) != 1 || got.Timings[0].MedianRatio != 0.5 || got.Timings[0].Pairs[1].Seconds != [2]float64{24, 6} {
		t.Fatalf("json %+v (%v)", got, err)
	}

	merged := c.MergedReports()
	if p := merged[0].Phases; len(p) != 2 || p[1].Elapsed != 12*time.Second || p[1].All.Count != 240 ||
		op(merged[0], "during/put").QPS != 10 {
		t.Fatalf("merged phases %+v, during/put %+v", p, op(merged[0], "during/put"))
	}
}

func TestCompareTimingsOnlyWhereBothSidesHaveThem(t *testing.T) {
	a, b := phasedReport("keel", 1), phasedReport("etcd", 1)
	b.Timings = nil
	c := &Comparison{Rounds: [][2]*Report{{a, b}}}
	if got := c.Timings(); len(got) != 0 {
		t.Fatalf("timings %v, want none: B recorded none", got)
	}
	if got := (&Comparison{}).Timings(); got != nil {
		t.Fatalf("timings of an empty comparison %v", got)
	}
}
