package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseGoal(t *testing.T) {
	cases := []struct {
		in      string
		want    goal
		wantErr bool
	}{
		{in: "QPS >= 1.25", want: goal{text: "QPS ≥ 1.25", metric: "qps", atLeast: true, value: 1.25}},
		{in: "watch p99 <= 1.0", want: goal{text: "watch p99 ≤ 1.0", op: "watch", metric: "p99", value: 1}},
		{in: " during/*  p99 ≤ 1 ", want: goal{text: "during/* p99 ≤ 1", op: "during/*", metric: "p99", value: 1}},
		{in: "compaction duration <= 1", want: goal{text: "compaction duration ≤ 1", op: "compaction",
			metric: "duration", value: 1}},
		{in: "p50 < 1", wantErr: true},
		{in: "mean <= 1", wantErr: true},
		{in: "p50 <= fast", wantErr: true},
		{in: "a b p50 <= 1", wantErr: true},
		{in: "", wantErr: true},
	}
	for _, tc := range cases {
		t.Run(tc.in, func(t *testing.T) {
			got, err := parseGoal(tc.in)
			if tc.wantErr {
				if err == nil {
					t.Fatalf("got %+v, want an error", got)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}

// compactionJSON is a comparison with two ops, a phase summary and a timing, over 3 rounds.
const compactionJSON = `{"workload":"compaction","names":["keel","etcd"],
 "ratios":[
  {"op":"during/*","pairs":[{"qps":[100,90],"p50_ms":[1,2],"p99_ms":[10,20]},{"qps":[110,90],"p50_ms":[1,2],"p99_ms":[30,20]},
   {"qps":[120,90],"p50_ms":[1,2],"p99_ms":[12,20]}],"median_qps_ratio":1.22,"median_p50_ratio":0.5,"median_p99_ratio":0.6},
  {"op":"during/put","pairs":[{"qps":[50,45],"p50_ms":[2,2],"p99_ms":[10,20]}],
   "median_qps_ratio":1.11,"median_p50_ratio":1,"median_p99_ratio":0.5}],
 "timings":[{"name":"compaction","pairs":[{"seconds":[2,1]},{"seconds":[3,1]},{"seconds":[4,1]}],"median_ratio":3}]}`

func TestGoals(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cmp := write("compaction.json", compactionJSON)
	put := write("put-1.json", `{"workload":"put","ratios":[{"op":"put","pairs":[{"qps":[400,800],"p50_ms":[2,1],"p99_ms":[4,2]}],
	  "median_qps_ratio":0.5,"median_p50_ratio":2,"median_p99_ratio":2}]}`)
	spec := write("goals.txt", strings.Join([]string{
		"# name|json|command|goals",
		"compaction|" + cmp + "|compaction --clients 8|during/* p99 <= 1.0; compaction duration <= 1.0; during/* QPS >= 1.25",
		"",
		"put-1|" + put + "|put --clients 1|p50 <= 1.0; QPS >= 0.5",
		"gone|" + filepath.Join(dir, "gone.json") + "|lease|QPS >= 1",
		"compaction|" + cmp + "|compaction|nope p99 <= 1; duration <= 1",
	}, "\n"))
	var out bytes.Buffer
	if err := goals([]string{spec}, &out); err != nil {
		t.Fatal(err)
	}
	rows := strings.Split(strings.TrimSpace(out.String()), "\n")[2:]
	want := []string{
		"| compaction | `keelbench compaction --clients 8` | during/* p99 ≤ 1.0 | 0.60 | 12.00 vs 20.00 ms | met |",
		"| compaction | `keelbench compaction --clients 8` | compaction duration ≤ 1.0 | 3.00 | 3.000 vs 1.000 s | not met |",
		"| compaction | `keelbench compaction --clients 8` | during/* QPS ≥ 1.25 | 1.22 | 110 vs 90 /s | not met |",
		"| put-1 | `keelbench put --clients 1` | p50 ≤ 1.0 | 2.00 | 2.00 vs 1.00 ms | not met |",
		"| put-1 | `keelbench put --clients 1` | QPS ≥ 0.5 | 0.50 | 400 vs 800 /s | met |",
		"| gone | `keelbench lease` | QPS ≥ 1 | — | no result | not met |",
		"| compaction | `keelbench compaction` | nope p99 ≤ 1 | — | no op \"nope\" (have during/*, during/put) | not met |",
		"| compaction | `keelbench compaction` | duration ≤ 1 | 3.00 | 3.000 vs 1.000 s | not met |",
	}
	if len(rows) != len(want) {
		t.Fatalf("got %d rows, want %d:\n%s", len(rows), len(want), out.String())
	}
	for i := range want {
		if rows[i] != want[i] {
			t.Errorf("row %d\n got %s\nwant %s", i, rows[i], want[i])
		}
	}

	for name, content := range map[string]string{
		"fields.txt": "a|b|c\n",
		"goal.txt":   "put|" + put + "|put|p50 is low\n",
	} {
		if err := goals([]string{write(name, content)}, &out); err == nil {
			t.Errorf("goals file %q: want an error", content)
		}
	}
	if err := goals(nil, &out); err == nil {
		t.Error("goals without a file: want a usage error")
	}
}

func TestSummarizeTimings(t *testing.T) {
	path := filepath.Join(t.TempDir(), "compaction.json")
	if err := os.WriteFile(path, []byte(compactionJSON), 0o644); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := summarize([]string{path}, &out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"| compaction | during/* | 110 | 90 | **1.22** | 1.00 | 2.00 | **0.50** | 12.00 | 20.00 | **0.60** |",
		"| workload | timing | A s | B s | A/B |",
		"| compaction | compaction | 3.000 | 1.000 | **3.00** |",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, out.String())
		}
	}
}
