package job_test

import (
	"strconv"
	"testing"
	"time"

	"github.com/keeldb/keel/orchestrator/api"
	"github.com/keeldb/keel/orchestrator/controller/job"
)

var t0 = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

var bo = job.Backoff{Base: 10 * time.Second, Max: 6 * time.Minute}

func newJob(completions, parallelism, backoff int32, mod func(*api.Job)) *api.Job {
	j := &api.Job{ObjectMeta: api.ObjectMeta{Name: "pi", Namespace: "default", UID: "u1"}}
	j.Spec.Completions, j.Spec.Parallelism, j.Spec.BackoffLimit = &completions, &parallelism, &backoff
	j.Spec.Template.Spec.RestartPolicy = api.RestartNever
	j.Spec.Template.Spec.Containers = []api.Container{{Name: "c", Image: "i"}}
	if mod != nil {
		mod(j)
	}
	api.Default(j)
	return j
}

func pod(name, phase string, finished time.Time) *api.Pod {
	p := &api.Pod{ObjectMeta: api.ObjectMeta{Name: name, Namespace: "default", CreationTimestamp: api.NewTime(t0)}}
	p.Status.Phase = phase
	if !finished.IsZero() {
		p.Status.ContainerStatuses = []api.ContainerStatus{{Name: "c", State: api.ContainerState{
			Terminated: &api.ContainerStateTerminated{FinishedAt: api.NewTime(finished)}}}}
	}
	return p
}

func pods(phase string, n int) []*api.Pod {
	var out []*api.Pod
	for i := range n {
		out = append(out, pod(phase+strconv.Itoa(i), phase, time.Time{}))
	}
	return out
}

func cond(st api.JobStatus, typ string) *api.JobCondition {
	for i := range st.Conditions {
		if st.Conditions[i].Type == typ {
			return &st.Conditions[i]
		}
	}
	return nil
}

func TestReconcileNonIndexed(t *testing.T) {
	for _, tc := range []struct {
		name                      string
		job                       *api.Job
		pods                      []*api.Pod
		create, delete            int
		active, succeeded, failed int32
		complete                  bool
	}{
		{"new job starts parallelism pods", newJob(5, 2, 6, nil), nil, 2, 0, 2, 0, 0, false},
		{"one done, keeps two running", newJob(5, 2, 6, nil), append(pods(api.PodSucceeded, 1), pods(api.PodRunning, 1)...), 1, 0, 2, 1, 0, false},
		{"last completion: never more than remaining", newJob(5, 2, 6, nil), append(pods(api.PodSucceeded, 4), pods(api.PodRunning, 1)...), 0, 0, 1, 4, 0, false},
		{"surplus deleted", newJob(5, 2, 6, nil), pods(api.PodRunning, 3), 0, 1, 2, 0, 0, false},
		{"all done", newJob(5, 2, 6, nil), pods(api.PodSucceeded, 5), 0, 0, 0, 5, 0, true},
		{"work queue: one success, waits for the others", newJob(0, 3, 6, func(j *api.Job) { j.Spec.Completions = nil }),
			append(pods(api.PodSucceeded, 1), pods(api.PodRunning, 2)...), 0, 0, 2, 1, 0, false},
		{"work queue: complete when none active", newJob(0, 3, 6, func(j *api.Job) { j.Spec.Completions = nil }),
			pods(api.PodSucceeded, 1), 0, 0, 0, 1, 0, true},
		{"suspended deletes active", newJob(5, 2, 6, func(j *api.Job) { s := true; j.Spec.Suspend = &s }), pods(api.PodRunning, 2), 0, 2, 0, 0, 0, false},
		{"zero completions completes at once", newJob(0, 2, 6, nil), nil, 0, 0, 0, 0, 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pl := job.Reconcile(tc.job, tc.pods, t0, bo)
			st := pl.Status
			if pl.Create != tc.create || len(pl.Delete) != tc.delete || st.Active != tc.active || st.Succeeded != tc.succeeded || st.Failed != tc.failed {
				t.Fatalf("got create %d delete %d active %d succeeded %d failed %d, want %d %d %d %d %d",
					pl.Create, len(pl.Delete), st.Active, st.Succeeded, st.Failed, tc.create, tc.delete, tc.active, tc.succeeded, tc.failed)
			}
			c := cond(st, api.JobComplete)
			if got := c != nil && c.Status == api.ConditionTrue; got != tc.complete {
				t.Fatalf("complete: got %v, want %v", got, tc.complete)
			}
			if tc.complete && (st.CompletionTime == nil || !st.CompletionTime.Equal(t0)) {
				t.Fatalf("completionTime: got %v, want %v", st.CompletionTime, t0)
			}
			if st.StartTime == nil && !*tc.job.Spec.Suspend {
				t.Fatal("startTime not set")
			}
		})
	}
}

func TestReconcileBackoff(t *testing.T) {
	j := newJob(1, 1, 3, nil)
	// One failure at t0: the next pod waits 10 s.
	failed := []*api.Pod{pod("f0", api.PodFailed, t0)}
	pl := job.Reconcile(j, failed, t0.Add(4*time.Second), bo)
	if pl.Create != 0 || pl.RequeueAfter != 6*time.Second {
		t.Fatalf("in back-off: got create %d requeue %v, want 0 and 6s", pl.Create, pl.RequeueAfter)
	}
	if pl = job.Reconcile(j, failed, t0.Add(10*time.Second), bo); pl.Create != 1 {
		t.Fatalf("after back-off: got create %d, want 1", pl.Create)
	}
	// Three failures, last at t0: 40 s.
	failed = append(failed, pod("f1", api.PodFailed, t0.Add(-time.Minute)), pod("f2", api.PodFailed, t0.Add(-2*time.Minute)))
	if pl = job.Reconcile(j, failed, t0.Add(39*time.Second), bo); pl.Create != 0 || pl.RequeueAfter != time.Second {
		t.Fatalf("third back-off: got create %d requeue %v, want 0 and 1s", pl.Create, pl.RequeueAfter)
	}
	// Capped at Max.
	var many []*api.Pod
	for i := range 20 {
		many = append(many, pod("m"+strconv.Itoa(i), api.PodFailed, t0))
	}
	jm := newJob(1, 1, 100, nil)
	if pl = job.Reconcile(jm, many, t0, bo); pl.RequeueAfter != bo.Max {
		t.Fatalf("cap: got requeue %v, want %v", pl.RequeueAfter, bo.Max)
	}
	// A success after the failures resets the count: one failure after it waits 10 s.
	ok := pod("s", api.PodSucceeded, t0.Add(-30*time.Second))
	j5 := newJob(5, 1, 10, nil)
	reset := append(failed[1:3:3], ok, pod("f9", api.PodFailed, t0))
	if pl = job.Reconcile(j5, reset, t0.Add(9*time.Second), bo); pl.Create != 0 || pl.RequeueAfter != time.Second {
		t.Fatalf("after a success: got create %d requeue %v, want 0 and 1s", pl.Create, pl.RequeueAfter)
	}
	// One more failure than backoffLimit: Failed, BackoffLimitExceeded, active deleted.
	failed = append(failed, pod("f3", api.PodFailed, t0))
	pl = job.Reconcile(j, append(failed, pod("r", api.PodRunning, time.Time{})), t0, bo)
	c := cond(pl.Status, api.JobFailed)
	if c == nil || c.Status != api.ConditionTrue || c.Reason != api.JobReasonBackoffLimitExceeded || c.Message != "Job has reached the specified backoff limit" {
		t.Fatalf("got condition %+v, want Failed BackoffLimitExceeded", c)
	}
	if pl.Create != 0 || len(pl.Delete) != 1 || pl.Status.Failed != 4 || pl.Status.CompletionTime != nil {
		t.Fatalf("got create %d delete %d failed %d completion %v", pl.Create, len(pl.Delete), pl.Status.Failed, pl.Status.CompletionTime)
	}
}

func TestReconcileOnFailureRestarts(t *testing.T) {
	j := newJob(1, 1, 2, func(j *api.Job) { j.Spec.Template.Spec.RestartPolicy = api.RestartOnFailure })
	p := pod("r", api.PodRunning, time.Time{})
	p.Status.ContainerStatuses = []api.ContainerStatus{{Name: "c", RestartCount: 1}}
	if c := cond(job.Reconcile(j, []*api.Pod{p}, t0, bo).Status, api.JobFailed); c != nil {
		t.Fatalf("1 restart of limit 2: got %+v, want no Failed", c)
	}
	p.Status.ContainerStatuses[0].RestartCount = 2
	if c := cond(job.Reconcile(j, []*api.Pod{p}, t0, bo).Status, api.JobFailed); c == nil || c.Reason != api.JobReasonBackoffLimitExceeded {
		t.Fatalf("2 restarts of limit 2: got %+v, want Failed BackoffLimitExceeded", c)
	}
}

func TestReconcileDeadline(t *testing.T) {
	j := newJob(3, 1, 6, func(j *api.Job) {
		d := int64(30)
		j.Spec.ActiveDeadlineSeconds = &d
		st := api.NewTime(t0)
		j.Status.StartTime = &st
	})
	running := pods(api.PodRunning, 1)
	if pl := job.Reconcile(j, running, t0.Add(20*time.Second), bo); pl.RequeueAfter != 10*time.Second || cond(pl.Status, api.JobFailed) != nil {
		t.Fatalf("before deadline: got requeue %v, want 10s and not failed", pl.RequeueAfter)
	}
	pl := job.Reconcile(j, running, t0.Add(30*time.Second), bo)
	c := cond(pl.Status, api.JobFailed)
	if c == nil || c.Reason != api.JobReasonDeadlineExceeded || c.Message != "Job was active longer than specified deadline" || len(pl.Delete) != 1 {
		t.Fatalf("at deadline: got %+v delete %d", c, len(pl.Delete))
	}
}

func TestReconcileTTL(t *testing.T) {
	j := newJob(1, 1, 6, func(j *api.Job) {
		ttl := int32(100)
		j.Spec.TTLSecondsAfterFinished = &ttl
	})
	pl := job.Reconcile(j, pods(api.PodSucceeded, 1), t0, bo)
	if pl.DeleteJob || pl.RequeueAfter != 100*time.Second {
		t.Fatalf("just finished: got deleteJob %v requeue %v, want false and 100s", pl.DeleteJob, pl.RequeueAfter)
	}
	j.Status = pl.Status
	if pl := job.Reconcile(j, pods(api.PodSucceeded, 1), t0.Add(99*time.Second), bo); pl.DeleteJob {
		t.Fatal("deleted before its TTL")
	}
	if pl := job.Reconcile(j, pods(api.PodSucceeded, 1), t0.Add(100*time.Second), bo); !pl.DeleteJob {
		t.Fatal("not deleted after its TTL")
	}
}

func TestReconcileSuspendResume(t *testing.T) {
	j := newJob(3, 1, 6, func(j *api.Job) { s := true; j.Spec.Suspend = &s })
	pl := job.Reconcile(j, nil, t0, bo)
	if c := cond(pl.Status, api.JobSuspended); c == nil || c.Status != api.ConditionTrue || c.Reason != "JobSuspended" || pl.Create != 0 {
		t.Fatalf("suspended: got %+v create %d", c, pl.Create)
	}
	j.Status = pl.Status
	*j.Spec.Suspend = false
	pl = job.Reconcile(j, nil, t0.Add(time.Minute), bo)
	if c := cond(pl.Status, api.JobSuspended); c == nil || c.Status != api.ConditionFalse || c.Reason != "JobResumed" || pl.Create != 1 ||
		!pl.Status.StartTime.Equal(t0.Add(time.Minute)) {
		t.Fatalf("resumed: got %+v create %d start %v", c, pl.Create, pl.Status.StartTime)
	}
}

func indexedPod(i int, phase string) *api.Pod {
	p := pod("p"+strconv.Itoa(i)+phase, phase, time.Time{})
	p.Annotations = map[string]string{api.JobCompletionIndexKey: strconv.Itoa(i)}
	return p
}

func TestReconcileIndexed(t *testing.T) {
	j := newJob(5, 2, 6, func(j *api.Job) { m := api.IndexedCompletion; j.Spec.CompletionMode = &m })
	pl := job.Reconcile(j, nil, t0, bo)
	if len(pl.Indexes) != 2 || pl.Indexes[0] != 0 || pl.Indexes[1] != 1 {
		t.Fatalf("start: got indexes %v, want [0 1]", pl.Indexes)
	}
	ps := []*api.Pod{indexedPod(0, api.PodSucceeded), indexedPod(1, api.PodRunning), indexedPod(1, api.PodPending),
		indexedPod(2, api.PodSucceeded), indexedPod(9, api.PodRunning), indexedPod(0, api.PodSucceeded)}
	pl = job.Reconcile(j, ps, t0, bo)
	if pl.Status.Succeeded != 2 || pl.Status.CompletedIndexes != "0,2" {
		t.Fatalf("got succeeded %d completedIndexes %q, want 2 and \"0,2\"", pl.Status.Succeeded, pl.Status.CompletedIndexes)
	}
	if len(pl.Delete) != 2 || len(pl.Indexes) != 1 || pl.Indexes[0] != 3 {
		t.Fatalf("got delete %d indexes %v, want 2 (duplicate 1, out-of-range 9) and [3]", len(pl.Delete), pl.Indexes)
	}
	var all []*api.Pod
	for i := range 5 {
		all = append(all, indexedPod(i, api.PodSucceeded))
	}
	if pl = job.Reconcile(j, all, t0, bo); cond(pl.Status, api.JobComplete) == nil || pl.Status.CompletedIndexes != "0-4" {
		t.Fatalf("all indexes: got %+v %q", pl.Status.Conditions, pl.Status.CompletedIndexes)
	}
	np := job.NewPod(&api.Job{ObjectMeta: api.ObjectMeta{Name: "pi", Namespace: "default", UID: "u1"}, Spec: j.Spec}, 3)
	if np.Annotations[api.JobCompletionIndexKey] != "3" || np.Spec.Hostname != "pi-3" || np.GenerateName != "pi-3-" ||
		np.Labels["job-name"] != "pi" || np.Labels["controller-uid"] != "u1" || np.Spec.Containers[0].Env[0].ValueFrom.FieldRef.FieldPath != "metadata.annotations['batch.kubernetes.io/job-completion-index']" ||
		np.ControllerRef() == nil || np.ControllerRef().Kind != "Job" {
		t.Fatalf("NewPod: got %+v", np)
	}
	if len(j.Spec.Template.Spec.Containers[0].Env) != 0 {
		t.Fatal("NewPod changed the job's template")
	}
}

func TestReconcileDoesNotMutate(t *testing.T) {
	j := newJob(5, 2, 0, nil)
	st := api.NewTime(t0)
	j.Status.StartTime = &st
	before := api.DeepCopy(j)
	job.Reconcile(j, []*api.Pod{pod("f", api.PodFailed, t0)}, t0, bo)
	if a, b := api.DeepCopy(j), before; len(a.Status.Conditions) != len(b.Status.Conditions) || a.Status.Failed != b.Status.Failed {
		t.Fatal("Reconcile changed its job")
	}
}

func exited(name string, code int32) *api.Pod {
	p := pod(name, api.PodFailed, t0)
	p.Namespace = "default"
	p.Status.ContainerStatuses[0].State.Terminated.ExitCode = code
	return p
}

func TestReconcilePodFailurePolicy(t *testing.T) {
	c := "c"
	j := newJob(3, 1, 1, func(j *api.Job) {
		j.Spec.PodFailurePolicy = &api.PodFailurePolicy{Rules: []api.PodFailurePolicyRule{
			{Action: api.PodFailurePolicyFailJob, OnExitCodes: &api.PodFailurePolicyOnExitCodesRequirement{ContainerName: &c, Operator: "In", Values: []int32{42}}},
			{Action: api.PodFailurePolicyIgnore, OnPodConditions: []api.PodFailurePolicyOnPodConditionsPattern{{Type: "DisruptionTarget"}}},
			{Action: api.PodFailurePolicyIgnore, OnExitCodes: &api.PodFailurePolicyOnExitCodesRequirement{Operator: "In", Values: []int32{7}}},
		}}
	})
	// Exit 42: the Job fails at once, with Kubernetes' message.
	pl := job.Reconcile(j, []*api.Pod{exited("a", 42), pod("r", api.PodRunning, time.Time{})}, t0, bo)
	cd := cond(pl.Status, api.JobFailed)
	if cd == nil || cd.Reason != api.JobReasonPodFailurePolicy ||
		cd.Message != "Container c for pod default/a failed with exit code 42 matching FailJob rule at index 0" || len(pl.Delete) != 1 {
		t.Fatalf("FailJob: got %+v delete %d", cd, len(pl.Delete))
	}
	// Ignored failures (exit 7, or a DisruptionTarget condition) count neither in failed
	// nor toward backoffLimit 1.
	disrupted := exited("d", 1)
	disrupted.Status.Conditions = []api.PodCondition{{Type: "DisruptionTarget", Status: api.ConditionTrue}}
	pl = job.Reconcile(j, []*api.Pod{exited("b", 7), exited("e", 7), disrupted}, t0, bo)
	if cond(pl.Status, api.JobFailed) != nil || pl.Status.Failed != 0 || pl.Create != 1 {
		t.Fatalf("Ignore: got conditions %+v failed %d create %d", pl.Status.Conditions, pl.Status.Failed, pl.Create)
	}
	// Other exit codes count: two failures exceed backoffLimit 1.
	pl = job.Reconcile(j, []*api.Pod{exited("f", 1), exited("g", 2)}, t0, bo)
	if cd := cond(pl.Status, api.JobFailed); cd == nil || cd.Reason != api.JobReasonBackoffLimitExceeded || pl.Status.Failed != 2 {
		t.Fatalf("Count: got %+v failed %d", cd, pl.Status.Failed)
	}
}
