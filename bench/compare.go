package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// allOps names the whole run (units of work and every operation's latencies merged) in
// comparisons.
const allOps = "*"

// Comparison holds the rounds of a compare run: Rounds[i][0] ran against A, [1] against B.
type Comparison struct {
	Workload string
	Names    [2]string
	Rounds   [][2]*Report
}

// Compare runs the workload built by build against a then b, alternating A B A B … for
// rounds rounds, so that drift on a noisy machine hits both sides alike.
func Compare(ctx context.Context, a, b Config, workload string, build func() (Workload, error),
	rounds int) (*Comparison, error) {
	a, b = a.withDefaults(), b.withDefaults()
	if a.Name == b.Name {
		a.Name, b.Name = a.Name+"-A", b.Name+"-B"
	}
	c := &Comparison{Workload: workload, Names: [2]string{a.Name, b.Name}}
	for i := range max(rounds, 1) {
		var pair [2]*Report
		for j, cfg := range []Config{a, b} {
			if cfg.PprofDir != "" {
				cfg.PprofDir = filepath.Join(cfg.PprofDir, fmt.Sprintf("%s-%d", cfg.Name, i+1))
			}
			wl, err := build()
			if err != nil {
				return nil, err
			}
			rep, err := Run(ctx, cfg, workload, wl)
			if err != nil {
				return c, fmt.Errorf("bench: round %d %s: %w", i+1, cfg.Name, err)
			}
			rep.Round = i + 1
			pair[j] = rep
		}
		c.Rounds = append(c.Rounds, pair)
	}
	return c, nil
}

// OpRatios is one operation's pairs and the medians of their ratios, for JSON.
type OpRatios struct {
	Op        string  `json:"op"` // "*" is the whole run
	Pairs     []Pair  `json:"pairs"`
	MedianQPS float64 `json:"median_qps_ratio"`
	MedianP50 float64 `json:"median_p50_ratio"`
	MedianP99 float64 `json:"median_p99_ratio"`
}

// TimingRatios is one timing's pairs and the median of their ratios, for JSON.
type TimingRatios struct {
	Name        string       `json:"name"`
	Pairs       []TimingPair `json:"pairs"`
	MedianRatio float64      `json:"median_ratio"`
}

// TimingPair is one round's duration of a timed task on both sides, and their ratio A/B.
type TimingPair struct {
	Seconds [2]float64 `json:"seconds"`
	Ratio   float64    `json:"ratio"` // A/B: below 1 means A was done sooner
}

// WriteJSON writes the comparison as one JSON object: the names, every round's reports in
// run order, each operation's ratios A/B with their medians, and each timing's.
func (c *Comparison) WriteJSON(w io.Writer) error {
	out := struct {
		Workload string         `json:"workload"`
		Names    [2]string      `json:"names"`
		Reports  []*Report      `json:"reports"`
		Ratios   []OpRatios     `json:"ratios"`
		Timings  []TimingRatios `json:"timings,omitempty"`
	}{Workload: c.Workload, Names: c.Names, Reports: c.Reports()}
	for _, op := range c.Ops() {
		pairs := c.Pairs(op)
		q, p50, p99 := MedianRatios(pairs)
		out.Ratios = append(out.Ratios, OpRatios{Op: op, Pairs: pairs, MedianQPS: q, MedianP50: p50, MedianP99: p99})
	}
	for _, name := range c.Timings() {
		pairs := c.TimingPairs(name)
		out.Timings = append(out.Timings, TimingRatios{Name: name, Pairs: pairs, MedianRatio: MedianTimingRatio(pairs)})
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

// Pair is one round's figures for one operation on both sides, and their ratios A/B.
type Pair struct {
	QPS      [2]float64 `json:"qps"`
	P50      [2]float64 `json:"p50_ms"`
	P99      [2]float64 `json:"p99_ms"`
	QPSRatio float64    `json:"qps_ratio"` // A/B: above 1 means A served more
	P50Ratio float64    `json:"p50_ratio"` // A/B: below 1 means A was faster
	P99Ratio float64    `json:"p99_ratio"`
}

// Ops returns the operations both sides measured, after allOps when there are several. A
// run in phases gives each phase's summary ("<phase>/*") and operations, phase by phase,
// instead of allOps, which would mix the phases.
func (c *Comparison) Ops() []string {
	if len(c.Rounds) == 0 {
		return []string{allOps}
	}
	a, b := c.Rounds[0][0], c.Rounds[0][1]
	var ops []string
	for _, o := range a.Ops {
		if b.hists[o.Op] != nil {
			ops = append(ops, o.Op)
		}
	}
	if len(a.Phases) > 0 {
		var out []string
		for i, p := range a.Phases {
			if phaseNamed(b.Phases, p.Name) < 0 {
				continue
			}
			out = append(out, phaseAll(p.Name))
			for _, op := range ops {
				if phaseOf(a.Phases, op) == i {
					out = append(out, op)
				}
			}
		}
		for _, op := range ops {
			if phaseOf(a.Phases, op) < 0 {
				out = append(out, op)
			}
		}
		return out
	}
	if len(ops) == 1 {
		return ops
	}
	return append([]string{allOps}, ops...)
}

// Timings returns the names of the timings both sides recorded in the first round.
func (c *Comparison) Timings() []string {
	if len(c.Rounds) == 0 {
		return nil
	}
	var out []string
	for _, t := range c.Rounds[0][0].Timings {
		if _, ok := c.Rounds[0][1].TimingOf(t.Name); ok && !slices.Contains(out, t.Name) {
			out = append(out, t.Name)
		}
	}
	return out
}

// TimingPairs returns the named timing's durations round by round.
func (c *Comparison) TimingPairs(name string) []TimingPair {
	var out []TimingPair
	for _, r := range c.Rounds {
		var p TimingPair
		for j, rep := range r {
			d, _ := rep.TimingOf(name)
			p.Seconds[j] = d.Seconds()
		}
		p.Ratio = ratio(p.Seconds)
		out = append(out, p)
	}
	return out
}

// MedianTimingRatio returns the median of the pairs' ratios.
func MedianTimingRatio(pairs []TimingPair) float64 {
	var v []float64
	for _, p := range pairs {
		v = append(v, p.Ratio)
	}
	return Median(v)
}

// Pairs returns op's figures round by round; op may also be allOps or "<phase>/*".
func (c *Comparison) Pairs(op string) []Pair {
	var out []Pair
	for _, r := range c.Rounds {
		var p Pair
		for j, rep := range r {
			h, qps := rep.figures(op)
			if h == nil {
				h = &Histogram{}
			}
			p.QPS[j], p.P50[j], p.P99[j] = qps, msf(h.Percentile(50)), msf(h.Percentile(99))
		}
		p.QPSRatio, p.P50Ratio, p.P99Ratio = ratio(p.QPS), ratio(p.P50), ratio(p.P99)
		out = append(out, p)
	}
	return out
}

// MedianRatios returns the medians of the QPS, p50 and p99 ratios over pairs.
func MedianRatios(pairs []Pair) (qps, p50, p99 float64) {
	pick := func(f func(Pair) float64) float64 {
		var v []float64
		for _, p := range pairs {
			v = append(v, f(p))
		}
		return Median(v)
	}
	return pick(func(p Pair) float64 { return p.QPSRatio }), pick(func(p Pair) float64 { return p.P50Ratio }),
		pick(func(p Pair) float64 { return p.P99Ratio })
}

// Median returns the median of v (the mean of the middle two for an even length), 0 if v
// is empty. It does not modify v.
func Median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

func ratio(v [2]float64) float64 {
	if v[1] == 0 {
		return 0
	}
	return v[0] / v[1]
}

func msf(d time.Duration) float64 { return float64(d) / 1e6 }

// merged returns every operation's latencies in one histogram.
func (r *Report) merged() *Histogram {
	var h Histogram
	for _, x := range r.hists {
		h.Merge(x)
	}
	return &h
}

// WriteTable writes, for every operation, one row per round with both sides and the ratios
// A/B, then the median of each ratio.
func (c *Comparison) WriteTable(w io.Writer) error {
	var b strings.Builder
	a, bn := c.Names[0], c.Names[1]
	fmt.Fprintf(&b, "compare %s: A=%s B=%s, %d rounds (A B A B …); ratios are A/B\n", c.Workload, a, bn, len(c.Rounds))
	for _, op := range c.Ops() {
		title := op
		if op == allOps {
			title = "all (units/s; latency over every op)"
		}
		if phase, rest, ok := strings.Cut(op, "/"); ok && rest == allOps {
			title = fmt.Sprintf("%s (every request of phase %s; qps over its window)", op, phase)
		}
		fmt.Fprintf(&b, "\nop %s\n", title)
		tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintf(tw, "round\t%s qps\t%s qps\tqps A/B\t%s p50 ms\t%s p50 ms\tp50 A/B\t%s p99 ms\t%s p99 ms\tp99 A/B\t\n",
			a, bn, a, bn, a, bn)
		pairs := c.Pairs(op)
		for i, p := range pairs {
			fmt.Fprintf(tw, "%d\t%.1f\t%.1f\t%.3f\t%.3f\t%.3f\t%.3f\t%.3f\t%.3f\t%.3f\t\n", i+1, p.QPS[0], p.QPS[1],
				p.QPSRatio, p.P50[0], p.P50[1], p.P50Ratio, p.P99[0], p.P99[1], p.P99Ratio)
		}
		q, p50, p99 := MedianRatios(pairs)
		fmt.Fprintf(tw, "median\t\t\t%.3f\t\t\t%.3f\t\t\t%.3f\t\n", q, p50, p99)
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	for _, name := range c.Timings() {
		fmt.Fprintf(&b, "\ntiming %s (seconds)\n", name)
		tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintf(tw, "round\t%s s\t%s s\tA/B\t\n", a, bn)
		pairs := c.TimingPairs(name)
		for i, p := range pairs {
			fmt.Fprintf(tw, "%d\t%.3f\t%.3f\t%.3f\t\n", i+1, p.Seconds[0], p.Seconds[1], p.Ratio)
		}
		fmt.Fprintf(tw, "median\t\t\t%.3f\t\n", MedianTimingRatio(pairs))
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	c.writeTotals(&b)
	c.writeProfiles(&b)
	_, err := io.WriteString(w, b.String())
	return err
}

// writeTotals writes each side's counters and errors summed over the rounds.
func (c *Comparison) writeTotals(b *strings.Builder) {
	for j, name := range c.Names {
		counters, errs := map[string]int64{}, map[string]uint64{}
		for _, r := range c.Rounds {
			for _, ct := range r[j].Counters {
				counters[ct.Name] += ct.Value
			}
			for _, e := range r[j].Errors {
				errs[e.Op+"  "+e.Error] += e.Count
			}
		}
		if len(counters) == 0 && len(errs) == 0 {
			continue
		}
		fmt.Fprintf(b, "\n%s over all rounds:\n", name)
		for _, k := range slices.Sorted(maps.Keys(counters)) {
			fmt.Fprintf(b, "  %-20s %12d\n", k, counters[k])
		}
		for _, k := range slices.Sorted(maps.Keys(errs)) {
			fmt.Fprintf(b, "  error %8d  %s\n", errs[k], k)
		}
	}
}

// writeProfiles lists each round's CPU profiles, side by side.
func (c *Comparison) writeProfiles(b *strings.Builder) {
	for i, r := range c.Rounds {
		for _, rep := range r {
			if len(rep.Profiles) > 0 {
				fmt.Fprintf(b, "\n%s round %d cpu profiles:\n", rep.Name, i+1)
			}
			for _, p := range rep.Profiles {
				b.WriteString("  " + p.line() + "\n")
			}
		}
	}
}

// Reports returns every round's reports in run order.
func (c *Comparison) Reports() []*Report {
	var out []*Report
	for _, r := range c.Rounds {
		out = append(out, r[0], r[1])
	}
	return out
}

// MergedReports returns one report per side with every round's latencies merged, for plots;
// a phase's window is the sum of its windows.
func (c *Comparison) MergedReports() []*Report {
	var out []*Report
	for j := range 2 {
		rec := newRecorder()
		var elapsed time.Duration
		var units int64
		var phases []Phase
		for _, r := range c.Rounds {
			rep := r[j]
			elapsed += rep.Elapsed
			units += rep.Units
			for op, h := range rep.hists {
				rec.hist(op).Merge(h)
			}
			for _, p := range rep.Phases {
				if i := phaseNamed(phases, p.Name); i >= 0 {
					phases[i].Elapsed += p.Elapsed
					continue
				}
				phases = append(phases, Phase{Name: p.Name, Start: p.Start, Elapsed: p.Elapsed})
			}
		}
		out = append(out, newReport(c.Workload, Config{Name: c.Names[j]}, elapsed, units, rec, phases))
	}
	return out
}
