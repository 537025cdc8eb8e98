package main

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// benchProcess is the resource use of one process of the run, read from /proc: this
// process ("bench"), with --member-pids each Keel member on this machine, and with
// --component-pids each orchestrator component run as its own process (--external).
type benchProcess struct {
	Name string `json:"name"`
	PID  int    `json:"pid"`
	// PeakRSSBytes is VmHWM: the process's peak resident set since it started.
	PeakRSSBytes int64 `json:"peak_rss_bytes"`
	// CPUSeconds is user + system CPU time over the measured period (apply → all
	// Running); TotalCPUSeconds since the process started.
	CPUSeconds      float64 `json:"cpu_seconds"`
	TotalCPUSeconds float64 `json:"total_cpu_seconds"`
}

// clockTicks is USER_HZ, the unit of /proc/PID/stat's times (100 on Linux).
const clockTicks = 100

// procCPUSeconds returns the user + system CPU time of pid from /proc/PID/stat.
func procCPUSeconds(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	return parseStatCPU(string(b))
}

// parseStatCPU reads utime and stime (fields 14 and 15) of a /proc/PID/stat line; the
// command name (field 2) may hold spaces and parentheses, so fields count from its last ')'.
func parseStatCPU(line string) (float64, error) {
	i := strings.LastIndexByte(line, ')')
	if i < 0 {
		return 0, fmt.Errorf("stat: no command name in %q", line)
	}
	f := strings.Fields(line[i+1:])
	if len(f) < 13 { // state is field 3, stime field 15
		return 0, fmt.Errorf("stat: %d fields after the command name", len(f))
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("stat: utime %q stime %q", f[11], f[12])
	}
	return float64(ut+st) / clockTicks, nil
}

// procPeakRSS returns VmHWM of pid from /proc/PID/status, in bytes.
func procPeakRSS(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	return parseVmHWM(string(b))
}

func parseVmHWM(status string) (int64, error) {
	for line := range strings.SplitSeq(status, "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			f := strings.Fields(v)
			if len(f) != 2 || f[1] != "kB" {
				return 0, fmt.Errorf("status: VmHWM %q", v)
			}
			kb, err := strconv.ParseInt(f[0], 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("status: no VmHWM")
}

// parsePIDs parses --member-pids: a comma-separated list of process ids.
func parsePIDs(s string) ([]int, error) {
	var out []int
	for f := range strings.SplitSeq(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		pid, err := strconv.Atoi(f)
		if err != nil || pid <= 0 {
			return nil, fmt.Errorf("--member-pids: %q is not a process id", f)
		}
		out = append(out, pid)
	}
	return out, nil
}

// namedPID is one entry of --component-pids: a process and the name it is reported by.
type namedPID struct {
	name string
	pid  int
}

// parseNamedPIDs parses --component-pids: a comma-separated list of name=pid, e.g.
// "scheduler=12,controller-manager=13,agent=14".
func parseNamedPIDs(s string) ([]namedPID, error) {
	var out []namedPID
	for f := range strings.SplitSeq(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		name, v, ok := strings.Cut(f, "=")
		name = strings.TrimSpace(name)
		pid, err := strconv.Atoi(strings.TrimSpace(v))
		if !ok || name == "" || err != nil || pid <= 0 {
			return nil, fmt.Errorf("--component-pids: %q is not name=pid", f)
		}
		out = append(out, namedPID{name: name, pid: pid})
	}
	return out, nil
}

// procSampler measures the processes' CPU over the measured period.
type procSampler struct {
	procs []benchProcess
	start []float64
}

// startProcs samples the bench process, the members and the components at the start of
// the measured period. Processes that cannot be read are left out.
func startProcs(memberPIDs []int, components []namedPID) *procSampler {
	s := &procSampler{}
	add := func(name string, pid int) {
		cpu, err := procCPUSeconds(pid)
		if err != nil {
			return
		}
		s.procs = append(s.procs, benchProcess{Name: name, PID: pid})
		s.start = append(s.start, cpu)
	}
	add("bench", os.Getpid())
	for i, pid := range memberPIDs {
		add(fmt.Sprintf("keel member %d", i), pid)
	}
	for _, c := range components {
		add(c.name, c.pid)
	}
	return s
}

// finish samples the processes again and returns their figures.
func (s *procSampler) finish() []benchProcess {
	out := make([]benchProcess, 0, len(s.procs))
	for i, p := range s.procs {
		cpu, err := procCPUSeconds(p.PID)
		if err != nil {
			continue
		}
		p.TotalCPUSeconds, p.CPUSeconds = cpu, cpu-s.start[i]
		p.PeakRSSBytes, _ = procPeakRSS(p.PID)
		out = append(out, p)
	}
	return out
}

// dbSize returns the largest backend size the endpoints report (etcd's Status DbSize).
func (b *bench) dbSize(ctx context.Context) int64 {
	var size int64
	for _, ep := range b.endpoints {
		sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		st, err := b.cli.Status(sctx, ep)
		cancel()
		if err == nil {
			size = max(size, st.DbSize)
		}
	}
	return size
}

// thirds returns the Running rate of each third of apply → last Running (early, middle,
// late), from the pods' Running times.
func thirds(pods map[string]*podTimes, t0, last time.Time) [3]float64 {
	var out [3]float64
	span := last.Sub(t0)
	if span <= 0 {
		return out
	}
	var n [3]int
	for _, pt := range pods {
		if pt.running.IsZero() {
			continue
		}
		i := min(int(3*pt.running.Sub(t0)/span), 2)
		n[max(i, 0)]++
	}
	third := span.Seconds() / 3
	for i := range out {
		out[i] = float64(n[i]) / third
	}
	return out
}
