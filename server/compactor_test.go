package server

import (
	"testing"
	"time"
)

func TestParseCompactionPolicy(t *testing.T) {
	cases := []struct {
		mode, retention string
		want            CompactionPolicy
		wantErr         bool
	}{
		{"periodic", "1", CompactionPolicy{Mode: "periodic", Period: time.Hour}, false},
		{"", "30m", CompactionPolicy{Mode: "periodic", Period: 30 * time.Minute}, false},
		{"revision", "1000", CompactionPolicy{Mode: "revision", Revisions: 1000}, false},
		{"periodic", "0", CompactionPolicy{}, false},
		{"revision", "x", CompactionPolicy{}, true},
		{"weekly", "1", CompactionPolicy{}, true},
	}
	for _, tc := range cases {
		got, err := ParseCompactionPolicy(tc.mode, tc.retention)
		if (err != nil) != tc.wantErr || got != tc.want {
			t.Errorf("ParseCompactionPolicy(%q, %q) = %+v, %v; want %+v, err %v", tc.mode, tc.retention, got, err, tc.want, tc.wantErr)
		}
	}
}

func TestCompactionTarget(t *testing.T) {
	t0 := time.Unix(0, 0)
	p := CompactionPolicy{Mode: "periodic", Period: 10 * time.Minute}
	samples := []revSample{{t0, 10}, {t0.Add(5 * time.Minute), 20}, {t0.Add(10 * time.Minute), 30}}
	got, keep := compactionTarget(p, samples, t0.Add(16*time.Minute), 40)
	if got != 20 || len(keep) != 2 {
		t.Fatalf("periodic: target %d keep %v; want 20 and 2 samples", got, keep)
	}
	if got, _ := compactionTarget(p, samples[2:], t0.Add(11*time.Minute), 40); got != 0 {
		t.Fatalf("periodic with no sample old enough: target %d, want 0", got)
	}
	if got, _ := compactionTarget(CompactionPolicy{Mode: "revision", Revisions: 100}, nil, t0, 150); got != 50 {
		t.Fatalf("revision: target %d, want 50", got)
	}
}
