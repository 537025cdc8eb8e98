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

// comparisonJSON is the part of a --compare --json file that summarize and goals read.
type comparisonJSON struct {
	Workload string       `json:"workload"`
	Names    []string     `json:"names"`
	Ratios   []opJSON     `json:"ratios"`
	Timings  []timingJSON `json:"timings"`
}

type opJSON struct {
	Op    string `json:"op"`
	Pairs []struct {
		QPS   [2]float64 `json:"qps"`
		P50ms [2]float64 `json:"p50_ms"`
		P99ms [2]float64 `json:"p99_ms"`
	} `json:"pairs"`
	MedianQPS float64 `json:"median_qps_ratio"`
	MedianP50 float64 `json:"median_p50_ratio"`
	MedianP99 float64 `json:"median_p99_ratio"`
}

type timingJSON struct {
	Name  string `json:"name"`
	Pairs []struct {
		Seconds [2]float64 `json:"seconds"`
	} `json:"pairs"`
	MedianRatio float64 `json:"median_ratio"`
}

// sides returns the medians over the rounds of both sides' QPS, p50 and p99 (ms), in
// that order: A's QPS, B's QPS, A's p50, …
func (r opJSON) sides() [6]float64 {
	var v [6][]float64
	for _, pr := range r.Pairs {
		for i := range 2 {
			v[i] = append(v[i], pr.QPS[i])
			v[2+i] = append(v[2+i], pr.P50ms[i])
			v[4+i] = append(v[4+i], pr.P99ms[i])
		}
	}
	var out [6]float64
	for i := range v {
		out[i] = bench.Median(v[i])
	}
	return out
}

// sides returns the medians over the rounds of both sides' durations in seconds.
func (t timingJSON) sides() [2]float64 {
	var v [2][]float64
	for _, p := range t.Pairs {
		for i := range 2 {
			v[i] = append(v[i], p.Seconds[i])
		}
	}
	return [2]float64{bench.Median(v[0]), bench.Median(v[1])}
}

// readComparison reads a --compare --json file.
func readComparison(path string) (*comparisonJSON, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var c comparisonJSON
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(c.Ratios) == 0 && len(c.Timings) == 0 {
		return nil, fmt.Errorf("%s: not a --compare report (no ratios)", path)
	}
	return &c, nil
}

// summarize prints one Markdown table row per operation of each --compare --json file:
// the median QPS, p50 and p99 of both sides and the median of the per-round ratios. The
// file's base name (without .json) names the row. When some file has timings (durations of
// a workload's own tasks, such as a compaction), a second table gives their medians and the
// median of their ratios. It is what bench-vs-etcd's report table is made of.
func summarize(paths []string, w io.Writer) error {
	if len(paths) == 0 {
		return fmt.Errorf("summarize: no files: %w", errUsage)
	}
	var timings strings.Builder
	fmt.Fprintln(w, "| workload | op | QPS A | QPS B | QPS A/B | p50 ms A | p50 ms B | p50 A/B | p99 ms A | p99 ms B | p99 A/B |")
	fmt.Fprintln(w, "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, p := range paths {
		c, err := readComparison(p)
		if err != nil {
			return err
		}
		name := strings.TrimSuffix(filepath.Base(p), ".json")
		for _, r := range c.Ratios {
			m := r.sides()
			fmt.Fprintf(w, "| %s | %s | %.0f | %.0f | **%.2f** | %.2f | %.2f | **%.2f** | %.2f | %.2f | **%.2f** |\n",
				name, r.Op, m[0], m[1], r.MedianQPS, m[2], m[3], r.MedianP50, m[4], m[5], r.MedianP99)
		}
		for _, t := range c.Timings {
			m := t.sides()
			fmt.Fprintf(&timings, "| %s | %s | %.3f | %.3f | **%.2f** |\n", name, t.Name, m[0], m[1], t.MedianRatio)
		}
	}
	if timings.Len() > 0 {
		fmt.Fprintln(w)
		fmt.Fprintln(w, "Timings (seconds, medians; A/B below 1: A was done sooner):")
		fmt.Fprintln(w)
		fmt.Fprintln(w, "| workload | timing | A s | B s | A/B |")
		fmt.Fprintln(w, "|---|---|---:|---:|---:|")
		fmt.Fprint(w, timings.String())
	}
	return nil
}
