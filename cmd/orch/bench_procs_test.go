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
	// This process can be read.
	s := startProcs(nil)
	got := s.finish()
	if len(got) != 1 || got[0].PID != os.Getpid() || got[0].PeakRSSBytes <= 0 || got[0].CPUSeconds < 0 {
		t.Errorf("own process: %+v", got)
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
