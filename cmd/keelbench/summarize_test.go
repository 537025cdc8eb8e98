package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSummarizeMediansBothSidesAndRatios(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "put-64.json")
	js := `{"workload":"put","names":["keel","etcd"],"ratios":[{"op":"put","pairs":[
	  {"qps":[100,200],"p50_ms":[2,1],"p99_ms":[8,4]},
	  {"qps":[300,100],"p50_ms":[1,2],"p99_ms":[4,8]},
	  {"qps":[200,100],"p50_ms":[3,3],"p99_ms":[6,6]}],
	  "median_qps_ratio":2,"median_p50_ratio":1,"median_p99_ratio":1}]}`
	if err := os.WriteFile(path, []byte(js), 0o644); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := summarize([]string{path}, &out); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("want a header, a rule and one row, got:\n%s", out.String())
	}
	want := "| put-64 | put | 200 | 100 | **2.00** | 2.00 | 2.00 | **1.00** | 6.00 | 6.00 | **1.00** |"
	if lines[2] != want {
		t.Fatalf("row\n%s\nwant\n%s", lines[2], want)
	}
	if err := summarize(nil, &out); err == nil {
		t.Fatal("summarize with no files: want a usage error")
	}
	bad := filepath.Join(dir, "plain.json")
	if err := os.WriteFile(bad, []byte(`{"workload":"put"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := summarize([]string{bad}, &out); err == nil {
		t.Fatal("summarize of a report without ratios: want an error")
	}
}
