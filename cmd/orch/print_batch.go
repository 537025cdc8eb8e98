package main

import (
	"fmt"
	"strconv"
	"time"

	"github.com/keeldb/keel/orchestrator/api"
)

// jobColumns are kubectl's Job columns: NAME STATUS COMPLETIONS DURATION AGE, and with
// -o wide CONTAINERS IMAGES.
func jobColumns() []column {
	job := func(o api.Object) *api.Job { return o.(*api.Job) }
	return []column{nameColumn(),
		{header: "STATUS", value: func(o api.Object, _ time.Time) string { return jobStatus(job(o)) }},
		{header: "COMPLETIONS", value: func(o api.Object, _ time.Time) string { return jobCompletions(job(o)) }},
		{header: "DURATION", value: func(o api.Object, now time.Time) string { return jobDuration(job(o), now) }},
		ageColumn(),
		{header: "CONTAINERS", wide: true, value: func(o api.Object, _ time.Time) string { return containerNames(job(o).Spec.Template.Spec) }},
		{header: "IMAGES", wide: true, value: func(o api.Object, _ time.Time) string { return containerImages(job(o).Spec.Template.Spec) }},
	}
}

// cronJobColumns are kubectl's CronJob columns: NAME SCHEDULE TIMEZONE SUSPEND ACTIVE
// LAST SCHEDULE AGE, and with -o wide CONTAINERS IMAGES.
func cronJobColumns() []column {
	cj := func(o api.Object) *api.CronJob { return o.(*api.CronJob) }
	return []column{nameColumn(),
		{header: "SCHEDULE", value: func(o api.Object, _ time.Time) string { return cj(o).Spec.Schedule }},
		{header: "TIMEZONE", value: func(o api.Object, _ time.Time) string {
			if tz := cj(o).Spec.TimeZone; tz != nil {
				return *tz
			}
			return "<none>"
		}},
		{header: "SUSPEND", value: func(o api.Object, _ time.Time) string {
			if s := cj(o).Spec.Suspend; s != nil && *s {
				return "True"
			}
			return "False"
		}},
		{header: "ACTIVE", value: func(o api.Object, _ time.Time) string { return strconv.Itoa(len(cj(o).Status.Active)) }},
		{header: "LAST SCHEDULE", value: func(o api.Object, now time.Time) string {
			if t := cj(o).Status.LastScheduleTime; t != nil {
				return humanDuration(now.Sub(t.Time))
			}
			return "<none>"
		}},
		ageColumn(),
		{header: "CONTAINERS", wide: true, value: func(o api.Object, _ time.Time) string {
			return containerNames(cj(o).Spec.JobTemplate.Spec.Template.Spec)
		}},
		{header: "IMAGES", wide: true, value: func(o api.Object, _ time.Time) string {
			return containerImages(cj(o).Spec.JobTemplate.Spec.Template.Spec)
		}},
	}
}

// jobStatus is kubectl's STATUS of a Job: Terminating, Complete, Failed, Suspended or
// Running.
func jobStatus(j *api.Job) string {
	if j.DeletionTimestamp != nil {
		return "Terminating"
	}
	if kind, ok := j.Finished(); ok {
		return kind
	}
	if c := j.JobCondition(api.JobSuspended); c != nil && c.Status == api.ConditionTrue {
		return "Suspended"
	}
	return "Running"
}

// jobCompletions is kubectl's COMPLETIONS: succeeded/completions, "n/1 of P" for a work
// queue with parallelism P > 1.
func jobCompletions(j *api.Job) string {
	if c := j.Spec.Completions; c != nil {
		return fmt.Sprintf("%d/%d", j.Status.Succeeded, *c)
	}
	if p := int32Ptr(j.Spec.Parallelism); p > 1 {
		return fmt.Sprintf("%d/1 of %d", j.Status.Succeeded, p)
	}
	return fmt.Sprintf("%d/1", j.Status.Succeeded)
}

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
