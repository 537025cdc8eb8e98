package orche2e_test

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/keeldb/keel/orchestrator/api"
	"github.com/keeldb/keel/orchestrator/registry"
)

// jobsManifest is plain batch/v1 YAML: a Job of 5 completions 2 at a time, a Job whose pod
// always fails, a Job whose podFailurePolicy fails it on exit code 42, an Indexed Job whose
// pods succeed only when JOB_COMPLETION_INDEX matches their hostname NAME-IDX, and a CronJob
// every minute keeping 2 successful Jobs.
const jobsManifest = `apiVersion: batch/v1
kind: Job
metadata:
  name: pi
spec:
  completions: 5
  parallelism: 2
  template:
    spec:
      restartPolicy: Never
      containers:
      - name: pi
        image: busybox
        command: ["sh", "-c", "echo computed; sleep 0.5"]
---
apiVersion: batch/v1
kind: Job
metadata:
  name: fail
spec:
  backoffLimit: 1
  template:
    spec:
      restartPolicy: Never
      containers:
      - name: fail
        image: busybox
        command: ["sh", "-c", "exit 3"]
---
apiVersion: batch/v1
kind: Job
metadata:
  name: indexed
spec:
  completions: 3
  parallelism: 3
  completionMode: Indexed
  backoffLimit: 0
  template:
    spec:
      restartPolicy: Never
      containers:
      - name: worker
        image: busybox
        command: ["sh", "-c", "test -n \"$JOB_COMPLETION_INDEX\" && test \"$JOB_COMPLETION_INDEX\" = \"${HOSTNAME##*-}\""]
---
apiVersion: batch/v1
kind: Job
metadata:
  name: policy
spec:
  backoffLimit: 6
  podFailurePolicy:
    rules:
    - action: FailJob
      onExitCodes:
        containerName: main
        operator: In
        values: [42]
  template:
    spec:
      restartPolicy: Never
      containers:
      - name: main
        image: busybox
        command: ["sh", "-c", "exit 42"]
---
apiVersion: batch/v1
kind: CronJob
metadata:
  name: tick
spec:
  schedule: "* * * * *"
  successfulJobsHistoryLimit: 2
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: OnFailure
          containers:
          - name: tick
            image: busybox
            command: ["sh", "-c", "exit 0"]
`

// TestJobs runs Jobs and a CronJob on a system of process-mode agents: the Job completes
// with never more than parallelism pods running, the failing Job stops at its backoffLimit,
// and the CronJob (its controller's clock running 30 times faster than real time, so a
// minute passes every 2 s) starts Jobs on schedule and keeps its history limit.
func TestJobs(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a whole cluster of processes")
	}
	s := newSystem(t)
	s.start("s1", "scheduler", "--id", "s1")
	s.start("cm1", "controller-manager", "--id", "cm1", "--job-backoff-base", "200ms", "--cronjob-clock-rate", "30")
	for i := 1; i <= 2; i++ {
		s.startAgent(i)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	waitFor(t, ctx, "2 nodes Ready", 60*time.Second, func() error { return s.nodesReady(ctx, 2) })
	rec := s.recordPods(ctx)
	f := t.TempDir() + "/jobs.yaml"
	if err := writeFile(f, jobsManifest); err != nil {
		t.Fatal(err)
	}
	s.mustCtl("apply", "-f", f)

	// 1. completions 5, parallelism 2.
	waitFor(t, ctx, "job pi Complete", 60*time.Second, func() error {
		return s.jobCondition(ctx, "pi", api.JobComplete, "")
	})
	j, err := s.stores.Jobs.Get(ctx, "default", "pi")
	if err != nil {
		t.Fatal(err)
	}
	if j.Status.Succeeded != 5 || j.Status.Active != 0 || j.Status.CompletionTime == nil || j.Status.StartTime == nil {
		t.Errorf("job pi status: got %+v", j.Status)
	}
	if most := rec.maxActive("pi"); most > 2 || most == 0 {
		t.Errorf("job pi: at most %d pods active at once, want 1 or 2", most)
	} else {
		t.Logf("job pi: at most %d pods active at once", most)
	}
	if out := s.mustCtl("logs", "job/pi"); out != "computed\n" {
		t.Errorf("logs job/pi: got %q, want \"computed\\n\"", out)
	}
	out := s.mustCtl("get", "jobs")
	if !strings.Contains(out, "COMPLETIONS") || !regexpMatch(`(?m)^pi\s+Complete\s+5/5\s`, out) {
		t.Errorf("get jobs:\n%s", out)
	}

	// 2. An always-failing Job stops at backoffLimit 1: two failed pods.
	waitFor(t, ctx, "job fail Failed with BackoffLimitExceeded", 60*time.Second, func() error {
		return s.jobCondition(ctx, "fail", api.JobFailed, api.JobReasonBackoffLimitExceeded)
	})
	if j, err = s.stores.Jobs.Get(ctx, "default", "fail"); err != nil || j.Status.Failed != 2 {
		t.Errorf("job fail: got %+v %v, want 2 failed pods", j.Status, err)
	}

	// podFailurePolicy: exit code 42 fails the Job at its first pod, whatever backoffLimit.
	waitFor(t, ctx, "job policy Failed with PodFailurePolicy", 60*time.Second, func() error {
		return s.jobCondition(ctx, "policy", api.JobFailed, api.JobReasonPodFailurePolicy)
	})
	if j, err = s.stores.Jobs.Get(ctx, "default", "policy"); err != nil || j.Status.Failed != 1 {
		t.Errorf("job policy: got %+v %v, want 1 failed pod", j.Status, err)
	}

	// 3. Indexed: each pod sees its index in JOB_COMPLETION_INDEX and its hostname.
	waitFor(t, ctx, "job indexed Complete", 60*time.Second, func() error {
		return s.jobCondition(ctx, "indexed", api.JobComplete, "")
	})
	if j, err = s.stores.Jobs.Get(ctx, "default", "indexed"); err != nil || j.Status.CompletedIndexes != "0-2" || j.Status.Failed != 0 {
		t.Errorf("job indexed: got %+v %v, want completedIndexes 0-2 and no failure", j.Status, err)
	}

	// 4. The CronJob: Jobs keep coming; at most 2 successful ones are kept.
	seen, completed := map[string]bool{}, map[string]bool{}
	waitFor(t, ctx, "cronjob tick ran 5 Jobs keeping 2 successful", 90*time.Second, func() error {
		l, err := s.stores.Jobs.List(ctx, registry.ListOptions{Namespace: "default"})
		if err != nil {
			return err
		}
		kept := 0
		for _, j := range l.Items {
			if ref := j.ControllerRef(); ref == nil || ref.Name != "tick" {
				continue
			}
			seen[j.Name] = true
			if kind, ok := j.Finished(); ok && kind == api.JobComplete {
				completed[j.Name] = true
				kept++
			}
		}
		if kept > 3 { // the third may be seen before the controller deletes the oldest
			t.Errorf("cronjob tick keeps %d successful Jobs, limit 2", kept)
		}
		if len(seen) < 5 || len(completed) < 4 || kept > 2 {
			return fmt.Errorf("%d Jobs seen, %d completed, %d successful kept", len(seen), len(completed), kept)
		}
		return nil
	})
	cj, err := s.stores.CronJobs.Get(ctx, "default", "tick")
	if err != nil || cj.Status.LastScheduleTime == nil || cj.Status.LastSuccessfulTime == nil {
		t.Errorf("cronjob status: got %+v %v", cj, err)
	}
	for name := range seen {
		if !strings.HasPrefix(name, "tick-") || len(name) != len("tick-")+8 {
			t.Errorf("cronjob Job name %q, want tick-<minutes since the epoch>", name)
		}
	}
	out = s.mustCtl("get", "cronjobs")
	if !regexpMatch(`(?m)^tick\s+\* \* \* \* \*\s+.*False\s+\d+\s+\S+\s+\S+`, out) {
		t.Errorf("get cronjobs:\n%s", out)
	}
}

// jobCondition returns nil once job name has condition typ True (with reason, when set).
func (s *system) jobCondition(ctx context.Context, name, typ, reason string) error {
	j, err := s.stores.Jobs.Get(ctx, "default", name)
	if err != nil {
		return err
	}
	if c := j.JobCondition(typ); c != nil && c.Status == api.ConditionTrue && (reason == "" || c.Reason == reason) {
		return nil
	}
	return fmt.Errorf("status %+v", j.Status)
}

// maxActive replays the recorded pod history and returns the largest number of pods of
// job that were active (created, not finished, not being deleted) at any revision.
func (r *podRecorder) maxActive(job string) int {
	r.mu.Lock()
	events := slices.Clone(r.events)
	r.mu.Unlock()
	state := map[string]*api.Pod{}
	most := 0
	for i, ev := range events {
		if ev.deleted {
			delete(state, ev.key)
		} else if ev.pod != nil {
			state[ev.key] = ev.pod
		}
		if i+1 < len(events) && events[i+1].rev == ev.rev {
			continue
		}
		n := 0
		for _, p := range state {
			if p.Labels[api.JobNameLabel] == job && p.DeletionTimestamp == nil &&
				p.Status.Phase != api.PodSucceeded && p.Status.Phase != api.PodFailed {
				n++
			}
		}
		most = max(most, n)
	}
	return most
}

func regexpMatch(pattern, s string) bool { return regexp.MustCompile(pattern).MatchString(s) }
