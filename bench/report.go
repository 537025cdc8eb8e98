package bench

import (
	"cmp"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// Report is what one run measured.
type Report struct {
	Workload  string        `json:"workload"`
	Name      string        `json:"name"`
	Round     int           `json:"round,omitempty"` // 1-based round of a comparison; 0 for a single run
	Endpoints []string      `json:"endpoints"`
	Clients   int           `json:"clients"`
	Conns     int           `json:"conns"`
	Elapsed   time.Duration `json:"elapsed_ns"`
	Units     int64         `json:"units"` // units of work done (calls of Workload.Do)
	Ops       []OpStats     `json:"ops"`   // by operation name
	Errors    []ErrorCount  `json:"errors,omitempty"`
	Counters  []Counter     `json:"counters,omitempty"`
	// Phases are the windows of a run in phases (a Driver's; see Session.StartPhase), in
	// order; their operations are in Ops as "<phase>/<op>", with QPS over the phase's window.
	Phases   []Phase         `json:"phases,omitempty"`
	Timings  []Timing        `json:"timings,omitempty"`  // durations of the workload's own tasks
	Profiles []ProfileResult `json:"profiles,omitempty"` // CPU profiles (Config.PprofDir)

	hists map[string]*Histogram // by operation, for histograms, plots and comparisons
}

// OpStats summarises one operation's latencies. Percentiles are nearest-rank.
type OpStats struct {
	Op     string        `json:"op"`
	Count  uint64        `json:"count"`  // successful requests
	Errors uint64        `json:"errors"` // failed requests
	QPS    float64       `json:"qps"`    // successful requests per second of the run
	Mean   time.Duration `json:"mean_ns"`
	Min    time.Duration `json:"min_ns"`
	P50    time.Duration `json:"p50_ns"`
	P90    time.Duration `json:"p90_ns"`
	P99    time.Duration `json:"p99_ns"`
	P999   time.Duration `json:"p99_9_ns"`
	Max    time.Duration `json:"max_ns"`
}

// ErrorCount is how often op failed with one class of error (see ClassifyError).
type ErrorCount struct {
	Op    string `json:"op"`
	Error string `json:"error"`
	Count uint64 `json:"count"`
}

// Counter is a workload-defined count, such as compare conflicts or watch events.
type Counter struct {
	Name   string  `json:"name"`
	Value  int64   `json:"value"`
	PerSec float64 `json:"per_sec"`
}

func newReport(workload string, cfg Config, elapsed time.Duration, units int64, r *recorder, phases []Phase) *Report {
	rep := &Report{
		Workload: workload, Name: cfg.Name, Endpoints: cfg.Endpoints, Clients: cfg.Clients, Conns: cfg.Conns,
		Elapsed: elapsed, Units: units, Phases: slices.Clone(phases), hists: r.ops,
	}
	errsByOp := map[string]uint64{}
	for k, n := range r.errs {
		rep.Errors = append(rep.Errors, ErrorCount{Op: k.op, Error: k.class, Count: n})
		errsByOp[k.op] += n
	}
	slices.SortFunc(rep.Errors, func(a, b ErrorCount) int {
		return cmp.Or(cmp.Compare(b.Count, a.Count), cmp.Compare(a.Op, b.Op), cmp.Compare(a.Error, b.Error))
	})
	ops := slices.Sorted(maps.Keys(r.ops))
	for op := range errsByOp {
		if r.ops[op] == nil {
			ops = append(ops, op)
		}
	}
	// By phase, in phase order, then by name; operations outside phases last.
	order := func(op string) int {
		if i := phaseOf(phases, op); i >= 0 {
			return i
		}
		return len(phases)
	}
	slices.SortFunc(ops, func(a, b string) int { return cmp.Or(cmp.Compare(order(a), order(b)), cmp.Compare(a, b)) })
	for _, op := range ops {
		h := r.ops[op]
		if h == nil {
			h = &Histogram{}
		}
		rep.Ops = append(rep.Ops, opStats(op, h, errsByOp[op], rep.window(op)))
	}
	for i := range rep.Phases {
		p := &rep.Phases[i]
		var errs uint64
		for op, n := range errsByOp {
			if phaseOf(phases, op) == i {
				errs += n
			}
		}
		p.All = opStats(phaseAll(p.Name), rep.phaseHist(p.Name), errs, p.Elapsed)
	}
	for _, name := range slices.Sorted(maps.Keys(r.counters)) {
		v := r.counters[name]
		rep.Counters = append(rep.Counters, Counter{Name: name, Value: v, PerSec: perSec(float64(v), elapsed)})
	}
	return rep
}

func opStats(op string, h *Histogram, errs uint64, elapsed time.Duration) OpStats {
	return OpStats{
		Op: op, Count: h.Count(), Errors: errs, QPS: perSec(float64(h.Count()), elapsed),
		Mean: h.Mean(), Min: h.Min(), P50: h.Percentile(50), P90: h.Percentile(90), P99: h.Percentile(99),
		P999: h.Percentile(99.9), Max: h.Max(),
	}
}

func perSec(n float64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return n / d.Seconds()
}

// Histogram returns op's latency histogram, or nil if op never succeeded.
func (r *Report) Histogram(op string) *Histogram { return r.hists[op] }

// Throughput is units of work per second.
func (r *Report) Throughput() float64 { return perSec(float64(r.Units), r.Elapsed) }

// ms formats a duration in milliseconds with three decimals.
func ms(d time.Duration) string { return strconv.FormatFloat(float64(d)/1e6, 'f', 3, 64) }

// WriteTable writes the human summary: a header line, one row per operation, then counters
// and errors.
func (r *Report) WriteTable(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s  workload=%s  endpoints=%s  clients=%d conns=%d  elapsed=%v  units=%d (%.1f/s)\n",
		r.Name, r.Workload, strings.Join(r.Endpoints, ","), r.Clients, r.Conns, r.Elapsed.Round(time.Millisecond),
		r.Units, r.Throughput())
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "op\tcount\terrors\tqps\tmean ms\tp50 ms\tp90 ms\tp99 ms\tp99.9 ms\tmax ms\t")
	for _, o := range r.rows() {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%.1f\t%s\t%s\t%s\t%s\t%s\t%s\t\n", o.Op, o.Count, o.Errors, o.QPS,
			ms(o.Mean), ms(o.P50), ms(o.P90), ms(o.P99), ms(o.P999), ms(o.Max))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(r.Phases) > 0 {
		b.WriteString("phases (qps over each window):\n")
		for _, p := range r.Phases {
			fmt.Fprintf(&b, "  %-20s %10.3f s  from %.3f s\n", p.Name, p.Elapsed.Seconds(), p.Start.Seconds())
		}
	}
	if len(r.Timings) > 0 {
		b.WriteString("timings:\n")
		for _, t := range r.Timings {
			fmt.Fprintf(&b, "  %-20s %10.3f s\n", t.Name, t.Duration.Seconds())
		}
	}
	if len(r.Counters) > 0 {
		b.WriteString("counters:\n")
		for _, c := range r.Counters {
			fmt.Fprintf(&b, "  %-20s %12d  %12.1f/s\n", c.Name, c.Value, c.PerSec)
		}
	}
	if len(r.Errors) > 0 {
		b.WriteString("errors:\n")
		for _, e := range r.Errors {
			fmt.Fprintf(&b, "  %-12s %8d  %s\n", e.Op, e.Count, e.Error)
		}
	}
	if len(r.Profiles) > 0 {
		b.WriteString("cpu profiles:\n")
		for _, p := range r.Profiles {
			b.WriteString("  " + p.line() + "\n")
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// line describes the profile in one line: where it went, or why there is none.
func (p ProfileResult) line() string {
	if p.Error != "" {
		return fmt.Sprintf("%-20s none: %s", p.Endpoint, p.Error)
	}
	return fmt.Sprintf("%-20s %s (from %.1f s)", p.Endpoint, p.Path, p.Start.Seconds())
}

// histogramBars is how many bars WriteHistogram draws per operation.
const histogramBars = 12

// WriteHistogram writes a text latency histogram for every operation.
func (r *Report) WriteHistogram(w io.Writer) error {
	var b strings.Builder
	for _, o := range r.Ops {
		h := r.hists[o.Op]
		if h == nil || h.Count() == 0 {
			continue
		}
		fmt.Fprintf(&b, "latency histogram (%s, %s):\n", r.Name, o.Op)
		bars := h.Bars(histogramBars)
		var top uint64
		for _, bar := range bars {
			top = max(top, bar.Count)
		}
		for _, bar := range bars {
			n := int(40 * bar.Count / max(top, 1))
			fmt.Fprintf(&b, "  <= %10s ms %10d  %s\n", ms(bar.Upper), bar.Count, strings.Repeat("∎", n))
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteJSON writes the reports as one indented JSON array.
func WriteJSON(w io.Writer, reports []*Report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(reports)
}

// csvHeader is the first line WriteCSV writes.
var csvHeader = []string{"name", "round", "workload", "op", "count", "errors", "qps", "mean_ms", "min_ms", "p50_ms",
	"p90_ms", "p99_ms", "p99_9_ms", "max_ms", "elapsed_s", "clients", "conns"}

// WriteCSV writes one line per report and operation (and phase summary, "<phase>/*"), after
// a header line. elapsed_s is the window the QPS is measured over: the phase's, or the run's.
func WriteCSV(w io.Writer, reports []*Report) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(csvHeader); err != nil {
		return err
	}
	for _, r := range reports {
		for _, o := range r.rows() {
			rec := []string{r.Name, strconv.Itoa(r.Round), r.Workload, o.Op, strconv.FormatUint(o.Count, 10),
				strconv.FormatUint(o.Errors, 10),
				strconv.FormatFloat(o.QPS, 'f', 1, 64), ms(o.Mean), ms(o.Min), ms(o.P50), ms(o.P90), ms(o.P99),
				ms(o.P999), ms(o.Max), strconv.FormatFloat(r.window(o.Op).Seconds(), 'f', 3, 64),
				strconv.Itoa(r.Clients), strconv.Itoa(r.Conns)}
			if err := cw.Write(rec); err != nil {
				return err
			}
		}
	}
	cw.Flush()
	return cw.Error()
}
