package main

import (
	"os"
	"testing"
	"time"
)

func TestBenchProcParsers(t *testing.T) {
	line := "4242 (keel (d) x) S 1 4240 4240 0 -1 4194560 100 0 0 0 150 50 0 0 20 0 1 0 12345 1000000 300 18446744073709551615\n"
	if cpu, err := parseStatCPU(line); err != nil || cpu != 2.0 {
		t.Errorf("parseStatCPU = %v, %v; want 2 s (150 + 50 ticks)", cpu, err)
	}
	if _, err := parseStatCPU("1 (x) S 1"); err == nil {
		t.Error("parseStatCPU accepted a truncated line")
	}
	if n, err := parseVmHWM("Name:\tkeeld\nVmPeak:\t  9 kB\nVmHWM:\t  2048 kB\nVmRSS:\t 1 kB\n"); err != nil || n != 2<<20 {
		t.Errorf("parseVmHWM = %d, %v; want 2 MiB", n, err)
	}
	if _, err := parseVmHWM("Name:\tx\n"); err == nil {
		t.Error("parseVmHWM accepted a status without VmHWM")
	}
	if pids, err := parsePIDs("12, 34,"); err != nil || len(pids) != 2 || pids[1] != 34 {
		t.Errorf("parsePIDs = %v, %v", pids, err)
	}
	if _, err := parsePIDs("12,x"); err == nil {
		t.Error("parsePIDs accepted x")
	}
	if c, err := parseNamedPIDs("scheduler=12, controller-manager = 13,,agent=14"); err != nil || len(c) != 3 ||
		c[0] != (namedPID{"scheduler", 12}) || c[1] != (namedPID{"controller-manager", 13}) || c[2] != (namedPID{"agent", 14}) {
		t.Errorf("parseNamedPIDs = %v, %v", c, err)
	}
	if c, err := parseNamedPIDs(""); err != nil || len(c) != 0 {
		t.Errorf("parseNamedPIDs(\"\") = %v, %v", c, err)
	}
	for _, bad := range []string{"12", "=12", "agent=", "agent=x", "agent=0", "agent=-3"} {
		if _, err := parseNamedPIDs(bad); err == nil {
			t.Errorf("parseNamedPIDs accepted %q", bad)
		}
	}
	// This process can be read, under its own name and as a component; a process that
	// is gone is left out.
	s := startProcs(nil, []namedPID{{"agent", os.Getpid()}, {"gone", 1 << 30}})
	got := s.finish()
	if len(got) != 2 || got[0].Name != "bench" || got[1].Name != "agent" {
		t.Fatalf("processes: %+v", got)
	}
	for _, p := range got {
		if p.PID != os.Getpid() || p.PeakRSSBytes <= 0 || p.CPUSeconds < 0 {
			t.Errorf("own process: %+v", p)
		}
	}
}

func TestBenchThirds(t *testing.T) {
	t0 := time.Unix(1000, 0)
	pods := map[string]*podTimes{}
	add := func(name string, at time.Duration) { pods[name] = &podTimes{running: t0.Add(at)} }
	// 30 s: 6 pods in the first third, 3 in the second, 3 in the last (one at the very end).
	for i, at := range []int{1, 2, 3, 4, 5, 9, 11, 15, 19, 21, 25, 30} {
		add(string(rune('a'+i)), time.Duration(at)*time.Second)
	}
	pods["pending"] = &podTimes{}
	got := thirds(pods, t0, t0.Add(30*time.Second))
	if want := [3]float64{0.6, 0.3, 0.3}; got != want {
		t.Errorf("thirds = %v, want %v", got, want)
	}
}
