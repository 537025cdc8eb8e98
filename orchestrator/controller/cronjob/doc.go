// Package cronjob is the CronJob controller (batch/v1), the way Kubernetes'
// pkg/controller/cronjob (v2) starts Jobs on a schedule.
//
// The decisions are one pure function, Reconcile(cronjob, its jobs, now) -> Plan (Job to
// create, Jobs to delete, new status, events, next requeue), unit tested with a driven
// clock; the Controller lists the Jobs a CronJob controls (controller owner reference,
// indexed by its Job informer), applies the plan and requeues the CronJob at its next
// scheduled time.
//
// What Reconcile does:
//   - status.active lists the CronJob's unfinished Jobs; a Job that completes sets
//     status.lastSuccessfulTime to its completionTime;
//   - finished Jobs beyond successfulJobsHistoryLimit (default 3) and
//     failedJobsHistoryLimit (default 1) are deleted, oldest first (their pods follow
//     through the garbage collector);
//   - schedules are robfig/cron v3's standard five fields or @yearly/@monthly/@weekly/
//     @daily/@hourly, evaluated in spec.timeZone (default: the controller-manager's local
//     zone); CRON_TZ=/TZ= in the schedule is refused by validation, as Kubernetes;
//   - the Job to start is the most recent scheduled time in (lastScheduleTime or
//     creationTimestamp, now], moved up to now-startingDeadlineSeconds when set. Only that
//     one starts, however many were missed while the controller-manager was away; more than
//     100 missed records a TooManyMissedTimes warning (no stampede). A time older than
//     startingDeadlineSeconds records MissSchedule and is skipped;
//   - concurrencyPolicy: Allow starts it anyway, Forbid skips it while a Job is active
//     (JobAlreadyActive), Replace deletes the active Jobs first; suspend starts nothing;
//   - the Job is named NAME-<scheduled time in minutes since the epoch>, carries the
//     annotation batch.kubernetes.io/cronjob-scheduled-timestamp and a controller
//     reference to the CronJob; status.lastScheduleTime is set to its scheduled time.
//
// Clock: Config.Now is the CronJob clock; Config.ClockRate (tests only) divides the
// real-time requeue delays so a clock running R times faster than real time is honoured.
//
// Concurrency: Run owns its two informers and Workers workers; one CronJob is never synced
// by two workers at once.
package cronjob
