// Package job is the Job controller (batch/v1), the way Kubernetes' pkg/controller/job
// runs Jobs: it creates pods from spec.template until spec.completions of them have
// succeeded, at most spec.parallelism at a time, and records the outcome in the Job's
// status and conditions.
//
// The decisions are one pure function, Reconcile(job, pods, now, backoff) -> Plan, unit
// tested directly; the Controller only lists the pods a Job controls (ownerReferences with
// controller=true and the Job's uid, indexed by its pod informer) and applies the plan.
//
// What Reconcile does, in order:
//   - counts Succeeded and Failed pods (status.succeeded/failed; for an Indexed Job,
//     distinct succeeded indexes and status.completedIndexes "0-2,4"), the active ones (not
//     terminal, not being deleted) and the ready ones; sets status.startTime;
//   - a finished Job (condition Complete or Failed True) only has its active pods deleted
//     and, with ttlSecondsAfterFinished, is deleted itself once that long has passed since it
//     finished (its pods then go through the garbage collector);
//   - Failed with reason BackoffLimitExceeded when more pods failed than spec.backoffLimit
//     (restartPolicy OnFailure: or the active pods' container restarts reach it), or
//     DeadlineExceeded once activeDeadlineSeconds have passed since startTime; active pods
//     are deleted;
//   - Complete (completionTime set) when spec.completions pods (indexes) succeeded, or, for
//     a work-queue Job (completions unset), when one succeeded and none is active;
//   - spec.suspend deletes the active pods and sets condition Suspended; resuming sets it
//     False and restarts the deadline clock (startTime = now), as Kubernetes;
//   - otherwise keeps min(parallelism, completions - succeeded) pods active: NonIndexed
//     creates or deletes (unscheduled, pending, not ready, newest first); Indexed creates
//     the lowest missing indexes and deletes duplicates and out-of-range indexes;
//   - after failures, a new pod waits Backoff.Base × 2^(n-1), n the pods failed since the
//     last success, capped at Backoff.Max, from the last failure (Kubernetes: 10 s to 6 min; `orch controller-manager
//     --job-backoff-base` lowers it for tests).
//
// Pods (NewPod): the template's labels plus controller-uid and job-name (and their
// batch.kubernetes.io/ forms), generateName NAME-; an Indexed pod also gets the
// annotation and label batch.kubernetes.io/job-completion-index, generateName NAME-IDX-,
// hostname NAME-IDX and env JOB_COMPLETION_INDEX (a fieldRef to the annotation, as
// Kubernetes).
//
// Expectations: as the ReplicaSet controller, pod creations and deletions issued but not
// yet seen by the informer block the next sync of that Job, so a lagging cache never
// creates pods twice.
//
// Events: SuccessfulCreate, FailedCreate, SuccessfulDelete, Completed, Suspended, Resumed
// (Normal) and BackoffLimitExceeded, DeadlineExceeded (Warning) on the Job.
//
// Concurrency: Run owns its two informers and Workers workers; one Job is never synced by
// two workers at once.
//
// podFailurePolicy (restartPolicy Never): each failed pod is matched against the rules in
// order (non-zero exit codes In/NotIn, optionally of one container; or a pod condition); the
// first match decides: FailJob fails the Job at once (reason PodFailurePolicy, Kubernetes'
// message "Container C for pod NS/P failed with exit code N matching FailJob rule at index
// I"), Ignore leaves the pod out of status.failed and of backoffLimit, Count counts it.
//
// Not here: the FailIndex action, backoffLimitPerIndex, successPolicy, podReplacementPolicy,
// manual selectors, finalizer-based pod tracking (counts come from the pods present: a
// finished pod deleted by hand is no longer counted), and the immutability of
// spec.template and spec.completions on update (the registry has no update validation).
package job
