package agent

import (
	"testing"
	"time"
)

func TestParseStat(t *testing.T) {
	// A command name with spaces and parentheses, as /proc shows it.
	line := "4242 (my (odd) cmd) S 1 4240 4240 0 -1 4194560 100 0 0 0 150 50 0 0 20 0 1 0 12345 1000000 300 18446744073709551615 0 0 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0\n"
	st, ok := parseStat(line)
	if !ok || st.pgrp != 4240 || st.ticks != 200 || st.rss != 300 {
		t.Errorf("parseStat = %+v, %v; want pgrp 4240, ticks 200, rss 300", st, ok)
	}
	if _, ok := parseStat("1 (x) S 1"); ok {
		t.Error("parseStat accepted a truncated line")
	}
}

func TestCPURate(t *testing.T) {
	t0 := time.Unix(1000, 0)
	for _, tc := range []struct {
		name       string
		prev, cur  cpuSample
		wantMillis int64
	}{
		{"one core for 10s", cpuSample{100, t0}, cpuSample{1100, t0.Add(10 * time.Second)}, 1000},
		{"quarter core", cpuSample{0, t0}, cpuSample{25, t0.Add(time.Second)}, 250},
		{"processes exited", cpuSample{500, t0}, cpuSample{10, t0.Add(time.Second)}, 0},
		{"no time passed", cpuSample{0, t0}, cpuSample{10, t0}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := cpuRate(tc.prev, tc.cur); got != tc.wantMillis {
				t.Errorf("cpuRate = %dm, want %dm", got, tc.wantMillis)
			}
		})
	}
}
