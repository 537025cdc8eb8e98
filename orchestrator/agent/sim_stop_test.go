package agent

import (
	"testing"
	"time"

	"github.com/keeldb/keel/orchestrator/api"
)

// TestSimStopAt: a simulated pod marked for deletion stops StopDelay after the mark, at
// the latest when its grace period ends.
func TestSimStopAt(t *testing.T) {
	marked := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name      string
		grace     int64
		stopDelay time.Duration
		want      time.Duration
	}{
		{"no delay", 30, 0, 0},
		{"delay within the grace period", 30, 5 * time.Second, 5 * time.Second},
		{"delay beyond the grace period", 3, 10 * time.Second, 3 * time.Second},
		{"grace period 0", 0, 10 * time.Second, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := api.NewTime(marked.Add(time.Duration(tc.grace) * time.Second))
			p := &api.Pod{ObjectMeta: api.ObjectMeta{DeletionTimestamp: &ts, DeletionGracePeriodSeconds: &tc.grace}}
			if got := simStopAt(p, tc.stopDelay); !got.Equal(marked.Add(tc.want)) {
				t.Errorf("simStopAt = %v, want %v", got, marked.Add(tc.want))
			}
		})
	}
}
