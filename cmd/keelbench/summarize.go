package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/keeldb/keel/bench"
)

// comparisonJSON is the part of a --compare --json file that summarize reads.
type comparisonJSON struct {
	Workload string   `json:"workload"`
	Names    []string `json:"names"`
	Ratios   []struct {
		Op    string `json:"op"`
		Pairs []struct {
			QPS   [2]float64 `json:"qps"`
			P50ms [2]float64 `json:"p50_ms"`
			P99ms [2]float64 `json:"p99_ms"`
		} `json:"pairs"`
		MedianQPS float64 `json:"median_qps_ratio"`
		MedianP50 float64 `json:"median_p50_ratio"`
		MedianP99 float64 `json:"median_p99_ratio"`
	} `json:"ratios"`
}

// summarize prints one Markdown table row per operation of each --compare --json file:
// the median QPS, p50 and p99 of both sides and the median of the per-round ratios. The
// file's base name (without .json) names the row. It is what bench-vs-etcd's report table is
// made of.
func summarize(paths []string, w io.Writer) error {
	if len(paths) == 0 {
		return fmt.Errorf("summarize: no files: %w", errUsage)
	}
	fmt.Fprintln(w, "| workload | op | QPS A | QPS B | QPS A/B | p50 ms A | p50 ms B | p50 A/B | p99 ms A | p99 ms B | p99 A/B |")
	fmt.Fprintln(w, "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		var c comparisonJSON
		if err := json.Unmarshal(b, &c); err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		if len(c.Ratios) == 0 {
			return fmt.Errorf("%s: not a --compare report (no ratios)", p)
		}
		name := strings.TrimSuffix(filepath.Base(p), ".json")
		for _, r := range c.Ratios {
			var v [6][]float64
			for _, pr := range r.Pairs {
				for i := range 2 {
					v[i] = append(v[i], pr.QPS[i])
					v[2+i] = append(v[2+i], pr.P50ms[i])
					v[4+i] = append(v[4+i], pr.P99ms[i])
				}
			}
			m := func(i int) float64 { return bench.Median(v[i]) }
			fmt.Fprintf(w, "| %s | %s | %.0f | %.0f | **%.2f** | %.2f | %.2f | **%.2f** | %.2f | %.2f | **%.2f** |\n",
				name, r.Op, m(0), m(1), r.MedianQPS, m(2), m(3), r.MedianP50, m(4), m(5), r.MedianP99)
		}
	}
	return nil
}
