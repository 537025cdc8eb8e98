package main

import (
	"time"

	"github.com/keeldb/keel/orchestrator/api"
)

// jobDuration is kubectl's DURATION: from startTime to completionTime, or to now while
// the Job runs.
func jobDuration(j *api.Job, now time.Time) string {
	if j.Status.StartTime == nil {
		return ""
	}
	end := now
	if j.Status.CompletionTime != nil {
		end = j.Status.CompletionTime.Time
	}
	return humanDuration(end.Sub(j.Status.StartTime.Time))
}
