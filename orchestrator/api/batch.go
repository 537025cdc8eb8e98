package api

import (
	"slices"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

// Job runs pods until a number of them succeed (batch/v1).
type Job struct {
	TypeMeta   `json:",inline"`
	ObjectMeta `json:"metadata"`
	Spec       JobSpec   `json:"spec,omitzero"`
	Status     JobStatus `json:"status,omitzero"`
}

// JobSpec is the job's desired state. Parallelism defaults to 1, completions to 1 when
// neither is set (with parallelism set and completions unset, the job is a work queue: it
// completes when one pod succeeds and none is left running), backoffLimit to 6,
// completionMode to NonIndexed and suspend to false.
//
// The selector is always generated (batch.kubernetes.io/controller-uid); a manifest that
// sets spec.selector or manualSelector is refused.
type JobSpec struct {
	Parallelism             *int32            `json:"parallelism,omitempty"`
	Completions             *int32            `json:"completions,omitempty"`
	ActiveDeadlineSeconds   *int64            `json:"activeDeadlineSeconds,omitempty"`
	BackoffLimit            *int32            `json:"backoffLimit,omitempty"`
	Selector                *LabelSelector    `json:"selector,omitempty"`
	ManualSelector          *bool             `json:"manualSelector,omitempty"`
	Template                PodTemplateSpec   `json:"template,omitzero"`
	TTLSecondsAfterFinished *int32            `json:"ttlSecondsAfterFinished,omitempty"`
	CompletionMode          *string           `json:"completionMode,omitempty"`
	Suspend                 *bool             `json:"suspend,omitempty"`
	PodFailurePolicy        *PodFailurePolicy `json:"podFailurePolicy,omitempty"`
}

// Job completion modes.
const (
	NonIndexedCompletion = "NonIndexed"
	IndexedCompletion    = "Indexed"
)

// Job condition types and reasons, and the labels and annotation the Job controller puts
// on its pods, as Kubernetes names them.
const (
	JobComplete  = "Complete"
	JobFailed    = "Failed"
	JobSuspended = "Suspended"

	JobReasonBackoffLimitExceeded = "BackoffLimitExceeded"
	JobReasonDeadlineExceeded     = "DeadlineExceeded"

	JobControllerUIDLabel    = "batch.kubernetes.io/controller-uid"
	JobNameLabel             = "batch.kubernetes.io/job-name"
	LegacyControllerUIDLabel = "controller-uid"
	LegacyJobNameLabel       = "job-name"
	JobCompletionIndexKey    = "batch.kubernetes.io/job-completion-index"
	JobCompletionIndexEnv    = "JOB_COMPLETION_INDEX"
	CronJobScheduledAtKey    = "batch.kubernetes.io/cronjob-scheduled-timestamp"
)

// JobStatus is the job's observed state.
type JobStatus struct {
	Conditions       []JobCondition `json:"conditions,omitempty"`
	StartTime        *Time          `json:"startTime,omitempty"`
	CompletionTime   *Time          `json:"completionTime,omitempty"`
	Active           int32          `json:"active,omitempty"`
	Succeeded        int32          `json:"succeeded,omitempty"`
	Failed           int32          `json:"failed,omitempty"`
	Ready            *int32         `json:"ready,omitempty"`
	CompletedIndexes string         `json:"completedIndexes,omitempty"`
}

// JobCondition is one job condition (Complete, Failed, Suspended).
type JobCondition struct {
	Type               string `json:"type"`
	Status             string `json:"status"`
	LastProbeTime      Time   `json:"lastProbeTime,omitzero"`
	LastTransitionTime Time   `json:"lastTransitionTime,omitzero"`
	Reason             string `json:"reason,omitempty"`
	Message            string `json:"message,omitempty"`
}

// JobCondition returns the job's condition of type typ, or nil.
func (j *Job) JobCondition(typ string) *JobCondition {
	for i := range j.Status.Conditions {
		if j.Status.Conditions[i].Type == typ {
			return &j.Status.Conditions[i]
		}
	}
	return nil
}

// Finished reports whether the job has a Complete or Failed condition True, and which.
func (j *Job) Finished() (string, bool) {
	for _, c := range j.Status.Conditions {
		if (c.Type == JobComplete || c.Type == JobFailed) && c.Status == ConditionTrue {
			return c.Type, true
		}
	}
	return "", false
}

// CronJob creates Jobs on a schedule (batch/v1).
type CronJob struct {
	TypeMeta   `json:",inline"`
	ObjectMeta `json:"metadata"`
	Spec       CronJobSpec   `json:"spec,omitzero"`
	Status     CronJobStatus `json:"status,omitzero"`
}

// CronJobSpec is the cron job's desired state: concurrencyPolicy defaults to Allow, suspend
// to false, successfulJobsHistoryLimit to 3 and failedJobsHistoryLimit to 1.
type CronJobSpec struct {
	Schedule                   string          `json:"schedule"`
	TimeZone                   *string         `json:"timeZone,omitempty"`
	StartingDeadlineSeconds    *int64          `json:"startingDeadlineSeconds,omitempty"`
	ConcurrencyPolicy          string          `json:"concurrencyPolicy,omitempty"`
	Suspend                    *bool           `json:"suspend,omitempty"`
	JobTemplate                JobTemplateSpec `json:"jobTemplate,omitzero"`
	SuccessfulJobsHistoryLimit *int32          `json:"successfulJobsHistoryLimit,omitempty"`
	FailedJobsHistoryLimit     *int32          `json:"failedJobsHistoryLimit,omitempty"`
}

// Concurrency policies.
const (
	AllowConcurrent   = "Allow"
	ForbidConcurrent  = "Forbid"
	ReplaceConcurrent = "Replace"
)

// JobTemplateSpec is the Job a CronJob creates.
type JobTemplateSpec struct {
	ObjectMeta `json:"metadata,omitzero"`
	Spec       JobSpec `json:"spec,omitzero"`
}

// CronJobStatus is the cron job's observed state.
type CronJobStatus struct {
	Active             []ObjectReference `json:"active,omitempty"`
	LastScheduleTime   *Time             `json:"lastScheduleTime,omitempty"`
	LastSuccessfulTime *Time             `json:"lastSuccessfulTime,omitempty"`
}

func defaultJobSpec(s *JobSpec) {
	if s.Completions == nil && s.Parallelism == nil {
		s.Completions = ptr(int32(1))
	}
	if s.Parallelism == nil {
		s.Parallelism = ptr(int32(1))
	}
	if s.BackoffLimit == nil {
		s.BackoffLimit = ptr(int32(6))
	}
	if s.CompletionMode == nil {
		s.CompletionMode = ptr(NonIndexedCompletion)
	}
	if s.Suspend == nil {
		s.Suspend = ptr(false)
	}
	defaultPodFailurePolicy(s.PodFailurePolicy)
	defaultPodSpec(&s.Template.Spec)
}

func defaultCronJobSpec(s *CronJobSpec) {
	if s.ConcurrencyPolicy == "" {
		s.ConcurrencyPolicy = AllowConcurrent
	}
	if s.Suspend == nil {
		s.Suspend = ptr(false)
	}
	if s.SuccessfulJobsHistoryLimit == nil {
		s.SuccessfulJobsHistoryLimit = ptr(int32(3))
	}
	if s.FailedJobsHistoryLimit == nil {
		s.FailedJobsHistoryLimit = ptr(int32(1))
	}
	defaultJobSpec(&s.JobTemplate.Spec)
}

func validateJobSpec(s *JobSpec, p Path) ErrorList {
	var errs ErrorList
	nonNeg := func(name string, v int64) {
		if v < 0 {
			errs = append(errs, invalid(p.Child(name), v, "must be greater than or equal to 0"))
		}
	}
	if s.Parallelism != nil {
		nonNeg("parallelism", int64(*s.Parallelism))
	}
	if s.Completions != nil {
		nonNeg("completions", int64(*s.Completions))
	}
	if s.BackoffLimit != nil {
		nonNeg("backoffLimit", int64(*s.BackoffLimit))
	}
	if s.TTLSecondsAfterFinished != nil {
		nonNeg("ttlSecondsAfterFinished", int64(*s.TTLSecondsAfterFinished))
	}
	if d := s.ActiveDeadlineSeconds; d != nil && *d <= 0 {
		errs = append(errs, invalid(p.Child("activeDeadlineSeconds"), *d, "must be greater than 0"))
	}
	if s.ManualSelector != nil && *s.ManualSelector {
		errs = append(errs, notSupported(p.Child("manualSelector"), true, "false"))
	}
	if s.Selector != nil {
		errs = append(errs, forbidden(p.Child("selector"), "`selector` will be auto-generated"))
	}
	if s.CompletionMode != nil {
		switch *s.CompletionMode {
		case NonIndexedCompletion:
		case IndexedCompletion:
			if s.Completions == nil {
				errs = append(errs, required(p.Child("completions"), "when completion mode is Indexed"))
			}
		default:
			errs = append(errs, notSupported(p.Child("completionMode"), *s.CompletionMode, NonIndexedCompletion, IndexedCompletion))
		}
	}
	tp := p.Child("template")
	errs = append(errs, validateLabels(s.Template.Labels, tp.Child("metadata.labels"))...)
	errs = append(errs, validatePodSpec(&s.Template.Spec, tp.Child("spec"))...)
	if rp := s.Template.Spec.RestartPolicy; rp != RestartOnFailure && rp != RestartNever {
		errs = append(errs, notSupported(tp.Child("spec.restartPolicy"), rp, RestartOnFailure, RestartNever))
	}
	errs = append(errs, validatePodFailurePolicy(s, p)...)
	return errs
}

// cronParser parses Kubernetes' schedules: five fields, or a descriptor such as @hourly.
var cronParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// ParseSchedule parses a CronJob schedule in the time zone tz ("" = the local zone, as
// kube-controller-manager's), refusing CRON_TZ/TZ prefixes as Kubernetes does.
func ParseSchedule(schedule, tz string) (cron.Schedule, error) {
	if strings.Contains(schedule, "TZ") {
		return nil, errTZInSchedule
	}
	sched, err := cronParser.Parse(schedule)
	if err != nil {
		return nil, err
	}
	if tz != "" {
		loc, err := time.LoadLocation(tz)
		if err != nil {
			return nil, err
		}
		if s, ok := sched.(*cron.SpecSchedule); ok {
			s.Location = loc
		}
	}
	return sched, nil
}

type scheduleError string

func (e scheduleError) Error() string { return string(e) }

const errTZInSchedule = scheduleError("cannot use TZ or CRON_TZ in schedule, use timeZone field instead")

func validateCronJobSpec(s *CronJobSpec, p Path) ErrorList {
	var errs ErrorList
	switch {
	case s.Schedule == "":
		errs = append(errs, required(p.Child("schedule"), ""))
	case strings.Contains(s.Schedule, "TZ"):
		errs = append(errs, invalid(p.Child("schedule"), s.Schedule, string(errTZInSchedule)))
	default:
		if _, err := cronParser.Parse(s.Schedule); err != nil {
			errs = append(errs, invalid(p.Child("schedule"), s.Schedule, err.Error()))
		}
	}
	if tz := s.TimeZone; tz != nil {
		if _, err := time.LoadLocation(*tz); err != nil || *tz == "" || strings.EqualFold(*tz, "local") {
			errs = append(errs, invalid(p.Child("timeZone"), *tz, "unknown time zone "+*tz))
		}
	}
	if d := s.StartingDeadlineSeconds; d != nil && *d < 0 {
		errs = append(errs, invalid(p.Child("startingDeadlineSeconds"), *d, "must be greater than or equal to 0"))
	}
	if !slices.Contains([]string{AllowConcurrent, ForbidConcurrent, ReplaceConcurrent}, s.ConcurrencyPolicy) {
		errs = append(errs, notSupported(p.Child("concurrencyPolicy"), s.ConcurrencyPolicy, AllowConcurrent, ForbidConcurrent, ReplaceConcurrent))
	}
	if l := s.SuccessfulJobsHistoryLimit; l != nil && *l < 0 {
		errs = append(errs, invalid(p.Child("successfulJobsHistoryLimit"), *l, "must be greater than or equal to 0"))
	}
	if l := s.FailedJobsHistoryLimit; l != nil && *l < 0 {
		errs = append(errs, invalid(p.Child("failedJobsHistoryLimit"), *l, "must be greater than or equal to 0"))
	}
	jp := p.Child("jobTemplate")
	errs = append(errs, validateLabels(s.JobTemplate.Labels, jp.Child("metadata.labels"))...)
	errs = append(errs, validateJobSpec(&s.JobTemplate.Spec, jp.Child("spec"))...)
	return errs
}

// validateCronJobName applies Kubernetes' limit: a CronJob's name plus the 11-character
// suffix of its Jobs must fit a 63-character label value.
func validateCronJobName(name string, p Path) ErrorList {
	if len(name) > 52 {
		return ErrorList{invalid(p, name, "must be no more than 52 characters")}
	}
	return nil
}
