package cronjob_test

import (
	"strings"
	"testing"
	"time"

	"github.com/keeldb/keel/orchestrator/api"
	"github.com/keeldb/keel/orchestrator/controller/cronjob"
)

var t0 = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC) // creation time

func newCronJob(schedule string, mod func(*api.CronJob)) *api.CronJob {
	cj := &api.CronJob{ObjectMeta: api.ObjectMeta{Name: "hello", Namespace: "default", UID: "cj1", CreationTimestamp: api.NewTime(t0)}}
	utc := "Etc/UTC"
	cj.Spec.Schedule, cj.Spec.TimeZone = schedule, &utc
	cj.Spec.JobTemplate.Spec.Template.Spec.RestartPolicy = api.RestartNever
	cj.Spec.JobTemplate.Spec.Template.Spec.Containers = []api.Container{{Name: "c", Image: "i"}}
	if mod != nil {
		mod(cj)
	}
	api.Default(cj)
	return cj
}

func job(name string, start time.Time, finished string) *api.Job {
	j := &api.Job{ObjectMeta: api.ObjectMeta{Name: name, Namespace: "default", UID: "uid-" + name, CreationTimestamp: api.NewTime(start)}}
	st := api.NewTime(start)
	j.Status.StartTime = &st
	if finished != "" {
		j.Status.Conditions = []api.JobCondition{{Type: finished, Status: api.ConditionTrue}}
		if finished == api.JobComplete {
			ct := api.NewTime(start.Add(10 * time.Second))
			j.Status.CompletionTime = &ct
		}
	}
	return j
}

func hasEvent(pl cronjob.Plan, reason string) bool {
	for _, e := range pl.Events {
		if e[1] == reason {
			return true
		}
	}
	return false
}

func TestReconcileSchedules(t *testing.T) {
	cj := newCronJob("*/5 * * * *", nil)
	// Before the first time: nothing, requeue at 10:05.
	pl := cronjob.Reconcile(cj, nil, t0.Add(2*time.Minute))
	if pl.Create != nil || pl.RequeueAfter != 3*time.Minute+100*time.Millisecond {
		t.Fatalf("before: got create %v requeue %v", pl.Create, pl.RequeueAfter)
	}
	// At 10:05:30: the 10:05 Job, named by minutes since the epoch.
	now := t0.Add(5*time.Minute + 30*time.Second)
	pl = cronjob.Reconcile(cj, nil, now)
	want := "hello-" + "29539325" // 2026-03-01T10:05Z in minutes since the epoch
	if pl.Create == nil || pl.Create.Name != want || pl.Create.Name != cronjob.JobName("hello", t0.Add(5*time.Minute)) {
		t.Fatalf("got %+v, want job %s", pl.Create, want)
	}
	if got := pl.Status.LastScheduleTime; got == nil || !got.Equal(t0.Add(5*time.Minute)) {
		t.Fatalf("lastScheduleTime: got %v", got)
	}
	if ref := pl.Create.ControllerRef(); ref == nil || ref.Kind != "CronJob" || ref.UID != "cj1" ||
		pl.Create.Annotations[api.CronJobScheduledAtKey] != "2026-03-01T10:05:00Z" || *pl.Create.Spec.BackoffLimit != 6 {
		t.Fatalf("job: got %+v", pl.Create.ObjectMeta)
	}
	// Once scheduled, not again for the same time.
	cj.Status = pl.Status
	if pl = cronjob.Reconcile(cj, nil, now.Add(time.Minute)); pl.Create != nil {
		t.Fatalf("rescheduled the same time: %s", pl.Create.Name)
	}
}

func TestReconcileMacrosAndZones(t *testing.T) {
	cj := newCronJob("@hourly", nil)
	if pl := cronjob.Reconcile(cj, nil, t0.Add(61*time.Minute)); pl.Create == nil || pl.Create.Name != cronjob.JobName("hello", t0.Add(time.Hour)) {
		t.Fatalf("@hourly: got %+v", pl.Create)
	}
	// 09:00 in New York is 14:00 UTC in March before DST.
	ny := newCronJob("0 9 * * *", func(cj *api.CronJob) { z := "America/New_York"; cj.Spec.TimeZone = &z })
	if pl := cronjob.Reconcile(ny, nil, t0.Add(3*time.Hour)); pl.Create != nil {
		t.Fatal("started before 09:00 New York time")
	}
	pl := cronjob.Reconcile(ny, nil, t0.Add(4*time.Hour+time.Second))
	if pl.Create == nil || !strings.HasPrefix(pl.Create.Annotations[api.CronJobScheduledAtKey], "2026-03-01T09:00:00-05:00") {
		t.Fatalf("New York: got %+v", pl.Create)
	}
}

func TestReconcileMissedRuns(t *testing.T) {
	cj := newCronJob("* * * * *", nil)
	// The controller-manager was away for 3 days: only the most recent minute starts,
	// with a TooManyMissedTimes warning.
	now := t0.Add(72*time.Hour + 30*time.Second)
	pl := cronjob.Reconcile(cj, nil, now)
	if pl.Create == nil || pl.Create.Name != cronjob.JobName("hello", t0.Add(72*time.Hour)) || !hasEvent(pl, "TooManyMissedTimes") {
		t.Fatalf("got create %+v events %v", pl.Create, pl.Events)
	}
	// A few missed: the most recent, no warning.
	pl = cronjob.Reconcile(cj, nil, t0.Add(5*time.Minute+time.Second))
	if pl.Create == nil || pl.Create.Name != cronjob.JobName("hello", t0.Add(5*time.Minute)) || hasEvent(pl, "TooManyMissedTimes") {
		t.Fatalf("got create %+v events %v", pl.Create, pl.Events)
	}
	// With startingDeadlineSeconds the window is short: no warning.
	cj = newCronJob("* * * * *", func(cj *api.CronJob) { d := int64(200); cj.Spec.StartingDeadlineSeconds = &d })
	if pl = cronjob.Reconcile(cj, nil, now); pl.Create == nil || hasEvent(pl, "TooManyMissedTimes") {
		t.Fatalf("deadline: got create %+v events %v", pl.Create, pl.Events)
	}
	// A time older than startingDeadlineSeconds is missed.
	cj = newCronJob("0 * * * *", func(cj *api.CronJob) { d := int64(10); cj.Spec.StartingDeadlineSeconds = &d })
	if pl = cronjob.Reconcile(cj, nil, t0.Add(time.Hour+time.Minute)); pl.Create != nil {
		t.Fatalf("started past its deadline: %s", pl.Create.Name)
	}
}

func TestReconcileConcurrency(t *testing.T) {
	now := t0.Add(2*time.Minute + time.Second)
	running := job("hello-1", t0.Add(time.Minute), "")
	for _, tc := range []struct {
		policy string
		create bool
		delete int
	}{{api.AllowConcurrent, true, 0}, {api.ForbidConcurrent, false, 0}, {api.ReplaceConcurrent, true, 1}} {
		t.Run(tc.policy, func(t *testing.T) {
			cj := newCronJob("* * * * *", func(cj *api.CronJob) { cj.Spec.ConcurrencyPolicy = tc.policy })
			lst := api.NewTime(t0.Add(time.Minute))
			cj.Status.LastScheduleTime = &lst
			pl := cronjob.Reconcile(cj, []*api.Job{running}, now)
			if (pl.Create != nil) != tc.create || len(pl.Delete) != tc.delete {
				t.Fatalf("got create %v delete %d, want %v %d", pl.Create != nil, len(pl.Delete), tc.create, tc.delete)
			}
			if tc.policy == api.AllowConcurrent && (len(pl.Status.Active) != 1 || pl.Status.Active[0].Name != "hello-1") {
				t.Fatalf("active: got %+v", pl.Status.Active)
			}
		})
	}
	cj := newCronJob("* * * * *", func(cj *api.CronJob) { s := true; cj.Spec.Suspend = &s })
	if pl := cronjob.Reconcile(cj, nil, now); pl.Create != nil {
		t.Fatal("suspended CronJob started a Job")
	}
}

func TestReconcileHistory(t *testing.T) {
	cj := newCronJob("0 0 1 1 *", func(cj *api.CronJob) { two := int32(2); cj.Spec.SuccessfulJobsHistoryLimit = &two })
	var jobs []*api.Job
	for i, fin := range []string{api.JobComplete, api.JobFailed, api.JobComplete, api.JobFailed, api.JobComplete, api.JobComplete, ""} {
		jobs = append(jobs, job("j"+string(rune('a'+i)), t0.Add(time.Duration(i)*time.Minute), fin))
	}
	cj.Status.Active = []api.ObjectReference{{Name: "gone", UID: "uid-gone"}, {Name: "ja", UID: "uid-ja"}}
	pl := cronjob.Reconcile(cj, jobs, t0.Add(time.Hour))
	var deleted []string
	for _, j := range pl.Delete {
		deleted = append(deleted, j.Name)
	}
	// Complete: a, c, e, f (keep e, f); Failed: b, d (keep d).
	if strings.Join(deleted, ",") != "ja,jc,jb" {
		t.Fatalf("deleted %v, want [ja jc jb]", deleted)
	}
	if len(pl.Status.Active) != 1 || pl.Status.Active[0].Name != "jg" {
		t.Fatalf("active: got %+v, want only jg", pl.Status.Active)
	}
	if lst := pl.Status.LastSuccessfulTime; lst == nil || !lst.Equal(t0.Add(5*time.Minute+10*time.Second)) {
		t.Fatalf("lastSuccessfulTime: got %v", lst)
	}
}
