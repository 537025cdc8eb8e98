package cronjob

import (
	"fmt"
	"maps"
	"sort"
	"strconv"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/keeldb/keel/orchestrator/api"
)

// Plan is what Reconcile decides for one CronJob.
type Plan struct {
	// Create is the Job to create, or nil.
	Create *api.Job
	// Delete are Jobs to delete: the active ones under concurrencyPolicy Replace, and
	// finished ones beyond the history limits.
	Delete []*api.Job
	// Status is the CronJob's new status.
	Status api.CronJobStatus
	// Events are the (type, reason, message) events to record on the CronJob.
	Events [][3]string
	// RequeueAfter, when positive, is when the CronJob must be looked at again (its next
	// scheduled time), in the CronJob's clock.
	RequeueAfter time.Duration
}

// tooManyMissed is the number of missed start times above which Kubernetes warns.
const tooManyMissed = 100

// Reconcile computes what to do with cj given the Jobs it controls at now. It is a pure
// function: it changes none of its arguments and does no I/O.
func Reconcile(cj *api.CronJob, jobs []*api.Job, now time.Time) Plan {
	pl := Plan{Status: observe(cj, jobs)}
	byUID := map[string]*api.Job{}
	for _, j := range jobs {
		byUID[j.UID] = j
	}
	pl.cleanup(cj, jobs)
	if cj.DeletionTimestamp != nil {
		return pl
	}
	tz := ""
	if cj.Spec.TimeZone != nil {
		tz = *cj.Spec.TimeZone
	}
	sched, err := api.ParseSchedule(cj.Spec.Schedule, tz)
	if err != nil {
		pl.event("Warning", "InvalidSchedule", fmt.Sprintf("invalid schedule: %s : %s", cj.Spec.Schedule, err))
		return pl
	}
	if cj.Spec.Suspend != nil && *cj.Spec.Suspend {
		return pl
	}
	next := sched.Next(now)
	pl.RequeueAfter = next.Sub(now) + 100*time.Millisecond // Kubernetes' nextScheduleTimeDuration
	scheduled, missed := mostRecentScheduleTime(cj, sched, now)
	if scheduled.IsZero() {
		return pl
	}
	if missed > tooManyMissed {
		pl.event("Warning", "TooManyMissedTimes", fmt.Sprintf("too many missed start times: %d. Set or decrease .spec.startingDeadlineSeconds or check clock skew", missed))
	}
	if d := cj.Spec.StartingDeadlineSeconds; d != nil && scheduled.Add(time.Duration(*d)*time.Second).Before(now) {
		pl.event("Warning", "MissSchedule", "Missed scheduled time to start a job: "+scheduled.UTC().Format(time.RFC1123Z))
		return pl
	}
	name := JobName(cj.Name, scheduled)
	for _, j := range jobs {
		if j.Name == name { // this time's Job exists already (its status write was lost)
			t := api.NewTime(scheduled)
			pl.Status.LastScheduleTime = &t
			return pl
		}
	}
	if len(pl.Status.Active) > 0 {
		switch cj.Spec.ConcurrencyPolicy {
		case api.ForbidConcurrent:
			pl.event("Normal", "JobAlreadyActive", "Not starting job because prior execution is running and concurrency policy is Forbid")
			return pl
		case api.ReplaceConcurrent:
			for _, ref := range pl.Status.Active {
				if j, ok := byUID[ref.UID]; ok {
					pl.Delete = append(pl.Delete, j)
					pl.event("Normal", "SuccessfulDelete", "Deleted job "+j.Name)
				}
			}
			pl.Status.Active = nil
		}
	}
	pl.Create = NewJob(cj, name, scheduled)
	t := api.NewTime(scheduled)
	pl.Status.LastScheduleTime = &t
	return pl
}

// observe returns cj's status as its Jobs say: status.active lists the known unfinished
// Jobs, then unfinished ones missing from it (finished and vanished ones are dropped), and
// lastSuccessfulTime is the latest completion.
func observe(cj *api.CronJob, jobs []*api.Job) api.CronJobStatus {
	st := cj.Status
	st.Active = nil
	byUID := map[string]*api.Job{}
	for _, j := range jobs {
		byUID[j.UID] = j
	}
	listed := map[string]bool{}
	for _, ref := range cj.Status.Active {
		if j, ok := byUID[ref.UID]; ok {
			if _, done := j.Finished(); !done {
				st.Active = append(st.Active, ref)
				listed[ref.UID] = true
			}
		}
	}
	for _, j := range sortedJobs(jobs) {
		kind, done := j.Finished()
		switch {
		case !done && !listed[j.UID]:
			st.Active = append(st.Active, jobRef(j))
			listed[j.UID] = true
		case done && kind == api.JobComplete && j.Status.CompletionTime != nil:
			if st.LastSuccessfulTime == nil || j.Status.CompletionTime.After(st.LastSuccessfulTime.Time) {
				t := *j.Status.CompletionTime
				st.LastSuccessfulTime = &t
			}
		}
	}
	return st
}

func (pl *Plan) event(typ, reason, msg string) {
	pl.Events = append(pl.Events, [3]string{typ, reason, msg})
}

// cleanup deletes the oldest finished Jobs beyond successfulJobsHistoryLimit and
// failedJobsHistoryLimit.
func (pl *Plan) cleanup(cj *api.CronJob, jobs []*api.Job) {
	var ok, failed []*api.Job
	for _, j := range sortedJobs(jobs) {
		if j.DeletionTimestamp != nil {
			continue
		}
		switch kind, done := j.Finished(); {
		case done && kind == api.JobComplete:
			ok = append(ok, j)
		case done:
			failed = append(failed, j)
		}
	}
	for _, l := range []struct {
		jobs  []*api.Job
		limit *int32
	}{{ok, cj.Spec.SuccessfulJobsHistoryLimit}, {failed, cj.Spec.FailedJobsHistoryLimit}} {
		if l.limit == nil {
			continue
		}
		if extra := len(l.jobs) - int(*l.limit); extra > 0 {
			for _, j := range l.jobs[:extra] {
				pl.Delete = append(pl.Delete, j)
				pl.event("Normal", "SuccessfulDelete", "Deleted job "+j.Name)
			}
		}
	}
}

// sortedJobs returns jobs oldest first: by start time, then creation, then name.
func sortedJobs(jobs []*api.Job) []*api.Job {
	out := append([]*api.Job(nil), jobs...)
	start := func(j *api.Job) time.Time {
		if j.Status.StartTime != nil {
			return j.Status.StartTime.Time
		}
		return j.CreationTimestamp.Time
	}
	sort.SliceStable(out, func(a, b int) bool {
		if sa, sb := start(out[a]), start(out[b]); !sa.Equal(sb) {
			return sa.Before(sb)
		}
		return out[a].Name < out[b].Name
	})
	return out
}

// mostRecentScheduleTime returns the latest schedule time in (earliest, now] and how many
// times were in that interval; zero when none. earliest is the last schedule time, else the
// creation time, moved up to now-startingDeadlineSeconds when that is later.
func mostRecentScheduleTime(cj *api.CronJob, sched cron.Schedule, now time.Time) (time.Time, int) {
	earliest := cj.CreationTimestamp.Time
	if cj.Status.LastScheduleTime != nil {
		earliest = cj.Status.LastScheduleTime.Time
	}
	if d := cj.Spec.StartingDeadlineSeconds; d != nil {
		if dl := now.Add(-time.Duration(*d) * time.Second); dl.After(earliest) {
			earliest = dl
		}
	}
	var last time.Time
	n := 0
	var gap time.Duration
	for t := sched.Next(earliest); !t.IsZero() && !t.After(now); t = sched.Next(t) {
		if !last.IsZero() {
			gap = max(gap, t.Sub(last))
		}
		last = t
		n++
		if n > tooManyMissed && gap > 0 {
			// Far behind: jump to shortly before now instead of walking every missed time,
			// and estimate how many were missed.
			from := now.Add(-2 * gap)
			if from.After(t) {
				n += int(from.Sub(t) / gap)
				for u := sched.Next(from); !u.IsZero() && !u.After(now); u = sched.Next(u) {
					last = u
					n++
				}
				return last, n
			}
		}
	}
	return last, n
}

// JobName is the name of the Job a CronJob starts for a scheduled time, as Kubernetes:
// NAME-<minutes since the epoch>.
func JobName(cronJob string, scheduled time.Time) string {
	return cronJob + "-" + strconv.FormatInt(scheduled.Unix()/60, 10)
}

// NewJob returns the Job cj starts for scheduled (named name): its jobTemplate with the
// scheduled-timestamp annotation and a controller reference to cj.
func NewJob(cj *api.CronJob, name string, scheduled time.Time) *api.Job {
	t := api.DeepCopy(&api.Job{ObjectMeta: cj.Spec.JobTemplate.ObjectMeta, Spec: cj.Spec.JobTemplate.Spec})
	tr := true
	j := &api.Job{
		ObjectMeta: api.ObjectMeta{
			Name:        name,
			Namespace:   cj.Namespace,
			Labels:      maps.Clone(t.Labels),
			Annotations: maps.Clone(t.Annotations),
			OwnerReferences: []api.OwnerReference{{APIVersion: "batch/v1", Kind: "CronJob", Name: cj.Name, UID: cj.UID,
				Controller: &tr, BlockOwnerDeletion: &tr}},
		},
		Spec: t.Spec,
	}
	if !scheduled.IsZero() {
		if j.Annotations == nil {
			j.Annotations = map[string]string{}
		}
		loc := time.Local
		if cj.Spec.TimeZone != nil {
			if l, err := time.LoadLocation(*cj.Spec.TimeZone); err == nil {
				loc = l
			}
		}
		j.Annotations[api.CronJobScheduledAtKey] = scheduled.In(loc).Format(time.RFC3339)
	}
	api.SetTypeMeta(j)
	return j
}

func jobRef(j *api.Job) api.ObjectReference {
	return api.ObjectReference{Kind: "Job", Namespace: j.Namespace, Name: j.Name, UID: j.UID, APIVersion: "batch/v1",
		ResourceVersion: j.ResourceVersion}
}
