package job

import (
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/keeldb/keel/orchestrator/api"
)

// Backoff bounds the delay before a failed Job's next pod: Base doubled per failure, capped
// at Max (Kubernetes: 10 s and 6 min).
type Backoff struct {
	Base, Max time.Duration
}

// Plan is what Reconcile decides for one Job.
type Plan struct {
	// Create is the number of pods to create; for an Indexed Job, Indexes holds their
	// completion indexes instead (and Create equals len(Indexes)).
	Create  int
	Indexes []int
	// Delete are the pods to delete (active pods beyond parallelism, or all active pods of
	// a finished or suspended Job).
	Delete []*api.Pod
	// Status is the Job's new status.
	Status api.JobStatus
	// DeleteJob tells that ttlSecondsAfterFinished has passed: delete the Job (its pods go
	// with it through the garbage collector).
	DeleteJob bool
	// Events are the (type, reason, message) events to record on the Job.
	Events [][3]string
	// RequeueAfter, when positive, is when the Job must be looked at again without any
	// event (back-off ended, deadline, TTL).
	RequeueAfter time.Duration
}

// Condition messages, as Kubernetes writes them.
const (
	msgBackoffLimit = "Job has reached the specified backoff limit"
	msgDeadline     = "Job was active longer than specified deadline"
)

// Reconcile computes what to do with job given its pods (those it controls) at now. It is
// a pure function: it reads its arguments, changes none of them, and does no I/O.
func Reconcile(job *api.Job, pods []*api.Pod, now time.Time, bo Backoff) Plan {
	o := observe(job, pods)
	pl := Plan{Status: o.status}
	st := &pl.Status
	if kind, ok := job.Finished(); ok {
		pl.Delete, st.Active = o.active, 0
		pl.finishTTL(job, kind, now)
		return pl
	}
	if st.StartTime == nil && !suspended(job) {
		t := api.NewTime(now)
		st.StartTime = &t
	}
	if reason, msg := pl.failure(job, o, now); reason != "" {
		pl.finish(job, api.JobFailed, reason, msg, o.active, now)
		return pl
	}
	if complete(job, int(st.Succeeded), len(o.active)) {
		t := api.NewTime(now)
		st.CompletionTime = &t
		pl.finish(job, api.JobComplete, "", "", o.active, now)
		return pl
	}
	if pl.suspendOrResume(job, o.active, now) {
		return pl
	}
	if o.doneIdx != nil {
		pl.manageIndexed(job, o.active, o.doneIdx)
	} else {
		pl.manageNonIndexed(job, o.active, int(st.Succeeded))
	}
	if pl.Create > 0 {
		if wait := backoffWait(o.failed, o.succeeded, now, bo); wait > 0 {
			pl.Create, pl.Indexes = 0, nil
			pl.requeue(wait)
		}
	}
	st.Active = int32(len(o.active) - len(pl.Delete) + pl.Create)
	return pl
}

// observed is what a Job's pods say: the active, succeeded and failed ones, the succeeded
// indexes of an Indexed Job (nil otherwise), and the counts in a copy of the status.
type observed struct {
	active, succeeded, failed []*api.Pod
	doneIdx                   map[int]bool
	status                    api.JobStatus
	// failJob is the message of the first failed pod a podFailurePolicy FailJob rule
	// matched; failed pods an Ignore rule matched are left out of failed.
	failJob string
}

func observe(job *api.Job, pods []*api.Pod) observed {
	var o observed
	for _, p := range pods {
		switch {
		case p.Status.Phase == api.PodSucceeded:
			o.succeeded = append(o.succeeded, p)
		case p.Status.Phase == api.PodFailed:
			switch action, msg := matchPodFailurePolicy(job.Spec.PodFailurePolicy, p); action {
			case api.PodFailurePolicyIgnore:
				continue
			case api.PodFailurePolicyFailJob:
				if o.failJob == "" {
					o.failJob = msg
				}
			}
			o.failed = append(o.failed, p)
		case p.DeletionTimestamp == nil:
			o.active = append(o.active, p)
		}
	}
	st := job.Status
	st.Conditions = slices.Clone(job.Status.Conditions)
	st.Failed, st.Succeeded = int32(len(o.failed)), int32(len(o.succeeded))
	if m := job.Spec.CompletionMode; m != nil && *m == api.IndexedCompletion {
		o.doneIdx = succeededIndexes(o.succeeded, completions(job))
		st.Succeeded = int32(len(o.doneIdx))
		st.CompletedIndexes = formatIndexes(o.doneIdx)
	}
	st.Ready = ptr(countReady(o.active))
	o.status = st
	return o
}

// failure returns the reason and message of the Failed condition the Job must get: a
// podFailurePolicy FailJob rule first, then the back-off limit, then the deadline (requeueing for it when it is ahead).
func (pl *Plan) failure(job *api.Job, o observed, now time.Time) (reason, msg string) {
	if o.failJob != "" {
		return api.JobReasonPodFailurePolicy, o.failJob
	}
	if exceedsBackoffLimit(job, len(o.failed), o.active) {
		return api.JobReasonBackoffLimitExceeded, msgBackoffLimit
	}
	d, start := job.Spec.ActiveDeadlineSeconds, pl.Status.StartTime
	if d == nil || start == nil || suspended(job) {
		return "", ""
	}
	end := start.Add(time.Duration(*d) * time.Second)
	if !now.Before(end) {
		return api.JobReasonDeadlineExceeded, msgDeadline
	}
	pl.requeue(end.Sub(now))
	return "", ""
}

// finish gives the Job its Complete or Failed condition, deletes its active pods, records
// the event and plans the TTL deletion.
func (pl *Plan) finish(job *api.Job, kind, reason, msg string, active []*api.Pod, now time.Time) {
	st := &pl.Status
	setCondition(st, kind, reason, msg, now)
	pl.Delete, st.Active = active, 0
	if kind == api.JobComplete {
		pl.Events = append(pl.Events, [3]string{"Normal", "Completed", "Job completed"})
	} else {
		pl.Events = append(pl.Events, [3]string{"Warning", reason, msg})
	}
	pl.finishTTL(&api.Job{Spec: job.Spec, Status: *st}, kind, now)
}

// suspendOrResume applies spec.suspend: a suspended Job loses its active pods and gets
// condition Suspended (true is returned: nothing else to do); a resumed one gets it False
// and its deadline clock restarted, as Kubernetes.
func (pl *Plan) suspendOrResume(job *api.Job, active []*api.Pod, now time.Time) bool {
	st := &pl.Status
	c := findCondition(st.Conditions, api.JobSuspended)
	if suspended(job) {
		if c == nil || c.Status != api.ConditionTrue {
			setConditionStatus(st, api.JobSuspended, api.ConditionTrue, "JobSuspended", "Job suspended", now)
			pl.Events = append(pl.Events, [3]string{"Normal", "Suspended", "Job suspended"})
		}
		pl.Delete, st.Active = active, 0
		return true
	}
	if c != nil && c.Status == api.ConditionTrue {
		setConditionStatus(st, api.JobSuspended, api.ConditionFalse, "JobResumed", "Job resumed", now)
		t := api.NewTime(now)
		st.StartTime = &t
		pl.Events = append(pl.Events, [3]string{"Normal", "Resumed", "Job resumed"})
	}
	return false
}

func (pl *Plan) requeue(d time.Duration) {
	if d <= 0 {
		d = time.Millisecond
	}
	if pl.RequeueAfter == 0 || d < pl.RequeueAfter {
		pl.RequeueAfter = d
	}
}

// finishTTL decides the TTL-after-finished deletion of a finished job.
func (pl *Plan) finishTTL(job *api.Job, kind string, now time.Time) {
	ttl := job.Spec.TTLSecondsAfterFinished
	if ttl == nil {
		return
	}
	var at time.Time
	if c := findCondition(job.Status.Conditions, kind); c != nil {
		at = c.LastTransitionTime.Time
	}
	if kind == api.JobComplete && job.Status.CompletionTime != nil {
		at = job.Status.CompletionTime.Time
	}
	expire := at.Add(time.Duration(*ttl) * time.Second)
	if !now.Before(expire) {
		pl.DeleteJob = true
		return
	}
	pl.requeue(expire.Sub(now))
}

func (pl *Plan) manageNonIndexed(job *api.Job, active []*api.Pod, succeeded int) {
	par := int(*job.Spec.Parallelism)
	want := par
	if job.Spec.Completions != nil {
		want = max(0, min(par, int(*job.Spec.Completions)-succeeded))
	} else if succeeded > 0 {
		want = min(len(active), par) // a work queue: one success means no new pods
	}
	switch diff := len(active) - want; {
	case diff > 0:
		victims := slices.Clone(active)
		rankForDeletion(victims)
		pl.Delete = victims[:diff]
	case diff < 0:
		pl.Create = -diff
	}
}

func (pl *Plan) manageIndexed(job *api.Job, active []*api.Pod, done map[int]bool) {
	n := int(*job.Spec.Completions)
	byIdx := map[int]*api.Pod{}
	var keep []*api.Pod
	for _, p := range active {
		i, ok := podIndex(p, n)
		if !ok || done[i] || byIdx[i] != nil {
			pl.Delete = append(pl.Delete, p) // no valid index, done already, or a duplicate
			continue
		}
		byIdx[i] = p
		keep = append(keep, p)
	}
	want := max(0, min(int(*job.Spec.Parallelism), n-len(done)))
	if extra := len(keep) - want; extra > 0 {
		sort.Slice(keep, func(a, b int) bool { return index(keep[a]) > index(keep[b]) })
		pl.Delete = append(pl.Delete, keep[:extra]...)
		return
	}
	for i := 0; i < n && len(keep)+len(pl.Indexes) < want; i++ {
		if !done[i] && byIdx[i] == nil {
			pl.Indexes = append(pl.Indexes, i)
		}
	}
	pl.Create = len(pl.Indexes)
}

func index(p *api.Pod) int {
	i, _ := strconv.Atoi(p.Annotations[api.JobCompletionIndexKey])
	return i
}

// podIndex returns p's completion index when it is a valid one for n completions.
func podIndex(p *api.Pod, n int) (int, bool) {
	s, ok := p.Annotations[api.JobCompletionIndexKey]
	if !ok {
		return 0, false
	}
	i, err := strconv.Atoi(s)
	if err != nil || i < 0 || i >= n {
		return 0, false
	}
	return i, true
}

func succeededIndexes(pods []*api.Pod, n int) map[int]bool {
	out := map[int]bool{}
	for _, p := range pods {
		if i, ok := podIndex(p, n); ok {
			out[i] = true
		}
	}
	return out
}

// formatIndexes renders indexes as Kubernetes' completedIndexes: "1,3-5,7".
func formatIndexes(idx map[int]bool) string {
	keys := make([]int, 0, len(idx))
	for i := range idx {
		keys = append(keys, i)
	}
	slices.Sort(keys)
	var parts []string
	for i := 0; i < len(keys); {
		j := i
		for j+1 < len(keys) && keys[j+1] == keys[j]+1 {
			j++
		}
		if j > i {
			parts = append(parts, strconv.Itoa(keys[i])+"-"+strconv.Itoa(keys[j]))
		} else {
			parts = append(parts, strconv.Itoa(keys[i]))
		}
		i = j + 1
	}
	return strings.Join(parts, ",")
}

func completions(job *api.Job) int {
	if job.Spec.Completions == nil {
		return 0
	}
	return int(*job.Spec.Completions)
}

func complete(job *api.Job, succeeded, active int) bool {
	if job.Spec.Completions == nil {
		return succeeded > 0 && active == 0
	}
	return succeeded >= int(*job.Spec.Completions)
}

func suspended(job *api.Job) bool { return job.Spec.Suspend != nil && *job.Spec.Suspend }

// exceedsBackoffLimit applies Kubernetes' rules: more failed pods than backoffLimit, or, with
// restartPolicy OnFailure, at least backoffLimit container restarts in the active pods
// (pastBackoffLimitOnFailure).
func exceedsBackoffLimit(job *api.Job, failed int, active []*api.Pod) bool {
	limit := int(*job.Spec.BackoffLimit)
	if failed > limit {
		return true
	}
	if job.Spec.Template.Spec.RestartPolicy != api.RestartOnFailure {
		return false
	}
	restarts := 0
	for _, p := range active {
		for _, cs := range p.Status.ContainerStatuses {
			restarts += int(cs.RestartCount)
		}
	}
	if limit == 0 {
		return restarts > 0
	}
	return restarts >= limit
}

// backoffWait returns how long to wait before the next pod after failures: Base doubled
// per pod that failed since the last success, beyond the first, capped at Max, from the
// last failure (Kubernetes' backoff record: a success resets the count).
func backoffWait(failed, succeeded []*api.Pod, now time.Time, bo Backoff) time.Duration {
	if len(failed) == 0 || bo.Base <= 0 {
		return 0
	}
	var lastSuccess, last time.Time
	for _, p := range succeeded {
		if t := finishTime(p); t.After(lastSuccess) {
			lastSuccess = t
		}
	}
	n := 0
	for _, p := range failed {
		t := finishTime(p)
		if t.Before(lastSuccess) {
			continue
		}
		n++
		if t.After(last) {
			last = t
		}
	}
	if n == 0 {
		return 0
	}
	delay := bo.Base
	for i := 1; i < n && delay < bo.Max; i++ {
		delay *= 2
	}
	delay = min(delay, bo.Max)
	return last.Add(delay).Sub(now)
}

// finishTime is when p's last container finished, else its last condition change, else its
// creation.
func finishTime(p *api.Pod) time.Time {
	var t time.Time
	for _, cs := range p.Status.ContainerStatuses {
		if term := cs.State.Terminated; term != nil && term.FinishedAt.After(t) {
			t = term.FinishedAt.Time
		}
	}
	if !t.IsZero() {
		return t
	}
	for _, c := range p.Status.Conditions {
		if c.LastTransitionTime.After(t) {
			t = c.LastTransitionTime.Time
		}
	}
	if t.IsZero() {
		t = p.CreationTimestamp.Time
	}
	return t
}

func countReady(pods []*api.Pod) int32 {
	var n int32
	for _, p := range pods {
		if podReady(p) {
			n++
		}
	}
	return n
}

func podReady(p *api.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == "Ready" {
			return c.Status == api.ConditionTrue
		}
	}
	return false
}

// rankForDeletion sorts pods so that the best deletion candidates come first: unscheduled,
// pending, not ready, newer.
func rankForDeletion(pods []*api.Pod) {
	sort.SliceStable(pods, func(i, j int) bool {
		a, b := pods[i], pods[j]
		if (a.Spec.NodeName == "") != (b.Spec.NodeName == "") {
			return a.Spec.NodeName == ""
		}
		if ra, rb := a.Status.Phase == api.PodRunning, b.Status.Phase == api.PodRunning; ra != rb {
			return !ra
		}
		if ra, rb := podReady(a), podReady(b); ra != rb {
			return !ra
		}
		if !a.CreationTimestamp.Equal(b.CreationTimestamp.Time) {
			return a.CreationTimestamp.After(b.CreationTimestamp.Time)
		}
		return a.Name > b.Name
	})
}

func findCondition(cs []api.JobCondition, typ string) *api.JobCondition {
	for i := range cs {
		if cs[i].Type == typ {
			return &cs[i]
		}
	}
	return nil
}

func setCondition(st *api.JobStatus, typ, reason, msg string, now time.Time) {
	setConditionStatus(st, typ, api.ConditionTrue, reason, msg, now)
}

func setConditionStatus(st *api.JobStatus, typ, status, reason, msg string, now time.Time) {
	t := api.NewTime(now)
	if c := findCondition(st.Conditions, typ); c != nil {
		if c.Status != status {
			c.LastTransitionTime = t
		}
		c.Status, c.Reason, c.Message, c.LastProbeTime = status, reason, msg, t
		return
	}
	st.Conditions = append(st.Conditions, api.JobCondition{Type: typ, Status: status, Reason: reason, Message: msg,
		LastProbeTime: t, LastTransitionTime: t})
}

func ptr[T any](v T) *T { return &v }
