package bench

import (
	"testing"
	"time"
)

func TestResultPercentiles(t *testing.T) {
	r := Result{Ops: 100, Elapsed: 2 * time.Second}
	for i := 1; i <= 100; i++ {
		r.Latencies = append(r.Latencies, time.Duration(i)*time.Millisecond)
	}
	cases := []struct {
		p    float64
		want time.Duration
	}{{0, time.Millisecond}, {50, 50 * time.Millisecond}, {99, 99 * time.Millisecond}, {100, 100 * time.Millisecond}}
	for _, tc := range cases {
		if got := r.Percentile(tc.p); got != tc.want {
			t.Errorf("p%v = %v, want %v", tc.p, got, tc.want)
		}
	}
	if r.QPS() != 50 {
		t.Errorf("qps = %v, want 50", r.QPS())
	}
	if (Result{}).Percentile(50) != 0 {
		t.Error("empty result should report 0")
	}
}

func TestFormatKey(t *testing.T) {
	k := make([]byte, 6)
	formatKey(k, 42)
	if string(k) != "000042" {
		t.Fatalf("got %q", k)
	}
}
