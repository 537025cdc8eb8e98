package main

import (
	"context"
	"strings"

	"github.com/keeldb/keel/orchestrator/api"
	"github.com/keeldb/keel/orchestrator/registry"
)

// job writes kubectl describe's text for a Job.
func (d *describer) job(ctx context.Context, w *describeWriter, j *api.Job) error {
	w.line(0, "Name:\t%s", j.Name)
	w.line(0, "Namespace:\t%s", j.Namespace)
	w.line(0, "Selector:\t%s=%s", api.JobControllerUIDLabel, j.UID)
	w.labelsMultiline(0, "Labels", j.Labels, "=")
	w.labelsMultiline(0, "Annotations", j.Annotations, ": ")
	controlledBy(w, &j.ObjectMeta)
	w.line(0, "Parallelism:\t%d", int32Ptr(j.Spec.Parallelism))
	if c := j.Spec.Completions; c != nil {
		w.line(0, "Completions:\t%d", *c)
	} else {
		w.line(0, "Completions:\t<unset>")
	}
	mode := api.NonIndexedCompletion
	if j.Spec.CompletionMode != nil {
		mode = *j.Spec.CompletionMode
	}
	w.line(0, "Completion Mode:\t%s", mode)
	w.line(0, "Suspend:\t%t", j.Spec.Suspend != nil && *j.Spec.Suspend)
	w.line(0, "Backoff Limit:\t%d", int32Ptr(j.Spec.BackoffLimit))
	if ttl := j.Spec.TTLSecondsAfterFinished; ttl != nil {
		w.line(0, "TTL Seconds After Finished:\t%d", *ttl)
	}
	if st := j.Status.StartTime; st != nil {
		w.line(0, "Start Time:\t%s", describeTime(*st))
	}
	if ct := j.Status.CompletionTime; ct != nil {
		w.line(0, "Completed At:\t%s", describeTime(*ct))
	}
	if j.Status.StartTime != nil && j.Status.CompletionTime != nil {
		w.line(0, "Duration:\t%s", jobDuration(j, d.now))
	}
	if a := j.Spec.ActiveDeadlineSeconds; a != nil {
		w.line(0, "Active Deadline Seconds:\t%ds", *a)
	}
	ready := int32(0)
	if j.Status.Ready != nil {
		ready = *j.Status.Ready
	}
	w.line(0, "Pods Statuses:\t%d Active (%d Ready) / %d Succeeded / %d Failed", j.Status.Active, ready, j.Status.Succeeded, j.Status.Failed)
	if mode == api.IndexedCompletion {
		w.line(0, "Completed Indexes:\t%s", orNone(j.Status.CompletedIndexes))
	}
	w.podTemplate(0, j.Spec.Template)
	if len(j.Status.Conditions) > 0 {
		w.line(0, "Conditions:")
		w.line(1, "Type\tStatus\tReason")
		w.line(1, "----\t------\t------")
		for _, c := range j.Status.Conditions {
			w.line(1, "%s \t%s\t%s", c.Type, c.Status, c.Reason)
		}
	}
	return nil
}

// cronJob writes kubectl describe's text for a CronJob.
func (d *describer) cronJob(w *describeWriter, cj *api.CronJob) {
	d.meta(w, &cj.ObjectMeta, true)
	s := cj.Spec
	w.line(0, "Schedule:\t%s", s.Schedule)
	if s.TimeZone != nil {
		w.line(0, "Time Zone:\t%s", *s.TimeZone)
	}
	w.line(0, "Concurrency Policy:\t%s", s.ConcurrencyPolicy)
	suspend := "False"
	if s.Suspend != nil && *s.Suspend {
		suspend = "True"
	}
	w.line(0, "Suspend:\t%s", suspend)
	w.line(0, "Successful Job History Limit:\t%d", int32Ptr(s.SuccessfulJobsHistoryLimit))
	w.line(0, "Failed Job History Limit:\t%d", int32Ptr(s.FailedJobsHistoryLimit))
	if sd := s.StartingDeadlineSeconds; sd != nil {
		w.line(0, "Starting Deadline Seconds:\t%ds", *sd)
	} else {
		w.line(0, "Starting Deadline Seconds:\t<unset>")
	}
	w.line(0, "Selector:\t<unset>")
	js := s.JobTemplate.Spec
	w.line(0, "Parallelism:\t%d", int32Ptr(js.Parallelism))
	if c := js.Completions; c != nil {
		w.line(0, "Completions:\t%d", *c)
	} else {
		w.line(0, "Completions:\t<unset>")
	}
	w.podTemplate(0, js.Template)
	if t := cj.Status.LastScheduleTime; t != nil {
		w.line(0, "Last Schedule Time:\t%s", describeTime(*t))
	} else {
		w.line(0, "Last Schedule Time:\t<unset>")
	}
	var active []string
	for _, ref := range cj.Status.Active {
		active = append(active, ref.Name)
	}
	w.line(0, "Active Jobs:\t%s", orNone(strings.Join(active, ", ")))
}

// jobFromCronJob returns the Job `create job NAME --from=cronjob/CJ` creates: the
// CronJob's jobTemplate, annotated cronjob.kubernetes.io/instantiate=manual and owned by
// the CronJob, as kubectl does.
func jobFromCronJob(ctx context.Context, st *registry.Stores, ns, name, cronJob string) (*api.Job, error) {
	cj, err := st.CronJobs.Get(ctx, ns, cronJob)
	if err != nil {
		return nil, err
	}
	t := api.DeepCopy(&api.Job{ObjectMeta: cj.Spec.JobTemplate.ObjectMeta, Spec: cj.Spec.JobTemplate.Spec})
	ann := t.Annotations
	if ann == nil {
		ann = map[string]string{}
	}
	ann["cronjob.kubernetes.io/instantiate"] = "manual"
	tr := true
	j := &api.Job{ObjectMeta: api.ObjectMeta{Name: name, Namespace: ns, Labels: t.Labels, Annotations: ann,
		OwnerReferences: []api.OwnerReference{{APIVersion: "batch/v1", Kind: "CronJob", Name: cj.Name, UID: cj.UID, Controller: &tr}}},
		Spec: t.Spec}
	api.Default(j)
	if errs := api.Validate(j); len(errs) > 0 {
		return nil, errs
	}
	return j, nil
}
