package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// goal is one target on a comparison: a median ratio A/B that must be at least or at most
// value.
type goal struct {
	text    string // as written, with >= and <= shown as ≥ and ≤
	op      string // operation (qps, p50, p99) or timing (duration); "" = the file's only one
	metric  string // qps, p50, p99 or duration
	atLeast bool
	value   float64
}

// parseGoal reads "[op] metric cmp value": metric is qps, p50 or p99 (of op, "*" for the
// whole run, "<phase>/*" for a phase) or duration (of the timing op); cmp is >= or <= (≥, ≤);
// value is a ratio A/B. For example "QPS >= 1.25", "watch p99 <= 1.0", "during/* p99 <= 1",
// "compaction duration <= 1".
func parseGoal(s string) (goal, error) {
	f := strings.Fields(s)
	g := goal{}
	switch len(f) {
	case 3:
	case 4:
		g.op, f = f[0], f[1:]
	default:
		return g, fmt.Errorf("goal %q: want [op] metric >=|<= value", s)
	}
	g.metric = strings.ToLower(f[0])
	switch g.metric {
	case "qps", "p50", "p99", "duration":
	default:
		return g, fmt.Errorf("goal %q: metric %q: want qps, p50, p99 or duration", s, f[0])
	}
	switch f[1] {
	case ">=", "≥":
		g.atLeast = true
	case "<=", "≤":
	default:
		return g, fmt.Errorf("goal %q: comparison %q: want >= or <=", s, f[1])
	}
	v, err := strconv.ParseFloat(f[2], 64)
	if err != nil {
		return g, fmt.Errorf("goal %q: %w", s, err)
	}
	g.value = v
	g.text = strings.NewReplacer(">=", "≥", "<=", "≤").Replace(strings.Join(strings.Fields(s), " "))
	return g, nil
}

// measure returns g's median ratio on c and both sides' medians in words.
func (g goal) measure(c *comparisonJSON) (float64, string, error) {
	if g.metric == "duration" {
		var names []string
		for _, t := range c.Timings {
			names = append(names, t.Name)
			if t.Name == g.op || (g.op == "" && len(c.Timings) == 1) {
				m := t.sides()
				return t.MedianRatio, fmt.Sprintf("%.3f vs %.3f s", m[0], m[1]), nil
			}
		}
		return 0, "", fmt.Errorf("no timing %q (have %s)", g.op, strings.Join(names, ", "))
	}
	op := g.op
	if op == "" {
		op = "*"
		if len(c.Ratios) == 1 {
			op = c.Ratios[0].Op
		}
	}
	var ops []string
	for _, r := range c.Ratios {
		ops = append(ops, r.Op)
		if r.Op != op {
			continue
		}
		m := r.sides()
		switch g.metric {
		case "qps":
			return r.MedianQPS, fmt.Sprintf("%.0f vs %.0f /s", m[0], m[1]), nil
		case "p50":
			return r.MedianP50, fmt.Sprintf("%.2f vs %.2f ms", m[2], m[3]), nil
		default:
			return r.MedianP99, fmt.Sprintf("%.2f vs %.2f ms", m[4], m[5]), nil
		}
	}
	return 0, "", fmt.Errorf("no op %q (have %s)", op, strings.Join(ops, ", "))
}

// met reports whether ratio meets g.
func (g goal) met(ratio float64) bool {
	if g.atLeast {
		return ratio >= g.value
	}
	return ratio <= g.value
}

// goals reads a goals file and writes a Markdown table with one row per goal: the median
// ratio A/B measured, both sides' medians, and whether the goal is met. Each line of the
// file is
//
//	name|json file|command|goal; goal …
//
// with the json file written by --compare --json and goals as parseGoal reads them. Blank
// lines and lines starting with # are skipped. A goal whose file is missing or lacks its
// operation is reported as not met, with the reason.
func goals(args []string, w io.Writer) error {
	if len(args) != 1 {
		return fmt.Errorf("goals: want one goals file: %w", errUsage)
	}
	f, err := os.Open(args[0])
	if err != nil {
		return err
	}
	defer f.Close()
	fmt.Fprintln(w, "| workload | command | goal (A/B) | measured A/B | A vs B (medians) | met |")
	fmt.Fprintln(w, "|---|---|---|---:|---|---|")
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		parts := strings.Split(line, "|")
		if len(parts) != 4 {
			return fmt.Errorf("%s:%d: want name|json file|command|goals", args[0], n)
		}
		name, path, command := parts[0], parts[1], parts[2]
		c, readErr := readComparison(path)
		for _, text := range strings.Split(parts[3], ";") {
			if strings.TrimSpace(text) == "" {
				continue
			}
			g, err := parseGoal(text)
			if err != nil {
				return fmt.Errorf("%s:%d: %w", args[0], n, err)
			}
			fmt.Fprintln(w, goalRow(name, command, g, c, readErr))
		}
	}
	return sc.Err()
}

// goalRow renders one goal's row; c is nil when its file could not be read (readErr).
func goalRow(name, command string, g goal, c *comparisonJSON, readErr error) string {
	row := func(measured, sides, met string) string {
		return fmt.Sprintf("| %s | `keelbench %s` | %s | %s | %s | %s |", name, command, g.text, measured, sides, met)
	}
	if c == nil {
		if errors.Is(readErr, os.ErrNotExist) {
			readErr = errors.New("no result")
		}
		return row("—", readErr.Error(), "not met")
	}
	ratio, sides, err := g.measure(c)
	if err != nil {
		return row("—", err.Error(), "not met")
	}
	met := "not met"
	if g.met(ratio) {
		met = "met"
	}
	return row(fmt.Sprintf("%.2f", ratio), sides, met)
}
