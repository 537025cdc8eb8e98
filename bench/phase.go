package bench

import (
	"strings"
	"sync/atomic"
	"time"
)

// Phases split a Driver's run into named windows, such as "before" and "during" a
// compaction. While a phase is current, the workers' requests are recorded under
// "<phase>/<op>" and attributed to the phase in which they started; a report gives every
// phase its window, the QPS of its operations over that window and an "<phase>/*" summary
// of all its requests. Between phases (StartPhase("")) requests are not recorded.

// Phase is one window of a run in phases.
type Phase struct {
	Name    string        `json:"name"`
	Start   time.Duration `json:"start_ns"`   // since the measured run began
	Elapsed time.Duration `json:"elapsed_ns"` // the window's length
	All     OpStats       `json:"all"`        // every request of the phase; Op is "<name>/*", QPS over the window
}

// Timing is how long something a workload did took, such as one compaction.
type Timing struct {
	Name     string        `json:"name"`
	Duration time.Duration `json:"duration_ns"`
}

// profilePhase is the phase whose start begins a Driver's CPU profiles (Config.PprofDir).
const profilePhase = "during"

// phaseState is the current phase as the workers see it.
type phaseState struct {
	name string       // "" between phases: requests are not recorded
	done atomic.Int64 // requests started in this phase that have completed
}

// StartPhase ends the current phase, if any, and starts the named one now; "" starts a gap
// whose requests are not recorded. Names must be distinct within a run and must not contain
// "/". Safe for concurrent use; meant for a Driver's Drive.
func (s *Session) StartPhase(name string) {
	st := &phaseState{name: name}
	s.mu.Lock()
	now := time.Since(s.start)
	s.closePhaseLocked(now)
	if name != "" {
		s.phases = append(s.phases, Phase{Name: name, Start: now})
		s.open = true
	}
	s.phase.Store(st)
	trigger := s.onPhase
	s.mu.Unlock()
	if trigger != nil {
		trigger(name)
	}
}

// PhaseSamples returns how many requests started in the current phase have completed,
// successfully or not.
func (s *Session) PhaseSamples() int64 {
	if st := s.phase.Load(); st != nil {
		return st.done.Load()
	}
	return 0
}

// Timing records how long a named task of the workload took; it is reported beside the
// latencies, and a comparison gives the ratio of both sides' durations.
func (s *Session) Timing(name string, d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.timings = append(s.timings, Timing{Name: name, Duration: d})
}

// closePhaseLocked ends the open phase at now (since the run began). Requires s.mu held.
func (s *Session) closePhaseLocked(now time.Duration) {
	if s.open {
		p := &s.phases[len(s.phases)-1]
		p.Elapsed = now - p.Start
		s.open = false
	}
}

// phased returns the name op is recorded under, and whether it is recorded at all.
func (st *phaseState) phased(op string) (string, bool) {
	switch {
	case st == nil:
		return op, true
	case st.name == "":
		return "", false
	}
	return st.name + "/" + op, true
}

// phaseOf returns the index in phases of the phase op was recorded in, or -1.
func phaseOf(phases []Phase, op string) int {
	name, _, ok := strings.Cut(op, "/")
	if !ok {
		return -1
	}
	return phaseNamed(phases, name)
}

// phaseNamed returns the index of the named phase in phases, or -1.
func phaseNamed(phases []Phase, name string) int {
	for i, p := range phases {
		if p.Name == name {
			return i
		}
	}
	return -1
}

// phaseAll names the summary of every request of a phase.
func phaseAll(phase string) string { return phase + "/" + allOps }

// window returns the time op's QPS is measured over: its phase's window, or the whole run.
func (r *Report) window(op string) time.Duration {
	if i := phaseOf(r.Phases, op); i >= 0 {
		return r.Phases[i].Elapsed
	}
	return r.Elapsed
}

// phaseHist merges every operation recorded in the named phase.
func (r *Report) phaseHist(phase string) *Histogram {
	var h Histogram
	for op, x := range r.hists {
		if p, _, ok := strings.Cut(op, "/"); ok && p == phase {
			h.Merge(x)
		}
	}
	return &h
}

// figures returns op's histogram and QPS, where op is an operation, allOps (every
// operation, in units of work per second) or "<phase>/*" (every request of a phase); the
// histogram is nil if op never succeeded.
func (r *Report) figures(op string) (*Histogram, float64) {
	if op == allOps {
		return r.merged(), r.Throughput()
	}
	if phase, rest, ok := strings.Cut(op, "/"); ok && rest == allOps {
		if i := phaseOf(r.Phases, op); i >= 0 {
			h := r.phaseHist(phase)
			return h, perSec(float64(h.Count()), r.Phases[i].Elapsed)
		}
		return nil, 0
	}
	h := r.hists[op]
	if h == nil {
		return nil, 0
	}
	return h, perSec(float64(h.Count()), r.window(op))
}

// TimingOf returns the duration of the named timing, and whether the run recorded it.
func (r *Report) TimingOf(name string) (time.Duration, bool) {
	for _, t := range r.Timings {
		if t.Name == name {
			return t.Duration, true
		}
	}
	return 0, false
}

// rows returns the operations in table order: each phase's summary followed by its
// operations, then the operations outside any phase.
func (r *Report) rows() []OpStats {
	if len(r.Phases) == 0 {
		return r.Ops
	}
	var out []OpStats
	for i, p := range r.Phases {
		out = append(out, p.All)
		for _, o := range r.Ops {
			if phaseOf(r.Phases, o.Op) == i {
				out = append(out, o)
			}
		}
	}
	for _, o := range r.Ops {
		if phaseOf(r.Phases, o.Op) < 0 {
			out = append(out, o)
		}
	}
	return out
}

// phaseName returns the current phase's name for the progress line: "" when the run has no
// phases, "-" between phases.
func (s *Session) phaseName() string {
	st := s.phase.Load()
	switch {
	case st == nil:
		return ""
	case st.name == "":
		return "-"
	}
	return st.name
}

// begin marks the start of the measured run. A Driver's run (driven) starts between
// phases, and fireProfiles is called when its profilePhase starts.
func (s *Session) begin(start time.Time, driven bool, fireProfiles func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.start = start
	if driven {
		s.phase.Store(&phaseState{})
		s.onPhase = func(name string) {
			if name == profilePhase {
				fireProfiles()
			}
		}
	}
}

// end closes the open phase at elapsed, the end of the measured run.
func (s *Session) end(elapsed time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closePhaseLocked(elapsed)
}
