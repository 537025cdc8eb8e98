package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/keeldb/keel/orchestrator/api"
)

const batchManifest = `apiVersion: batch/v1
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
      - {name: pi, image: perl, command: ["perl", "-e", "print 1"]}
---
apiVersion: batch/v1
kind: CronJob
metadata:
  name: hello
spec:
  schedule: "*/5 * * * *"
  timeZone: Etc/UTC
  jobTemplate:
    metadata:
      labels: {app: hello}
    spec:
      template:
        spec:
          restartPolicy: OnFailure
          containers:
          - {name: hello, image: busybox, command: ["date"]}
`

func TestCtlBatch(t *testing.T) {
	o, st := startCtl(t)
	ctx := context.Background()
	wantLines(t, o.ok("ctl", "apply", "-f", o.file("batch.yaml", batchManifest)),
		"job.batch/pi created", "cronjob.batch/hello created")
	j := mustGet[*api.Job](t)(st.Jobs.Get(ctx, "default", "pi"))
	start := api.NewTime(time.Now().Add(-90 * time.Second))
	done := api.NewTime(start.Add(65 * time.Second))
	j.Status = api.JobStatus{StartTime: &start, CompletionTime: &done, Succeeded: 5,
		Conditions: []api.JobCondition{{Type: api.JobComplete, Status: api.ConditionTrue}}}
	mustGet[*api.Job](t)(st.Jobs.UpdateStatus(ctx, j))
	wantTable(t, o.ok("ctl", "get", "jobs"),
		"NAME STATUS COMPLETIONS DURATION AGE",
		`pi Complete 5/5 65s \d+s`)
	wantTable(t, o.ok("ctl", "get", "cj"),
		"NAME SCHEDULE TIMEZONE SUSPEND ACTIVE LAST SCHEDULE AGE",
		`hello \*/5 \* \* \* \* Etc/UTC False 0 <none> \d+s`)

	wantLines(t, o.ok("ctl", "create", "job", "manual", "--from=cronjob/hello"), "job.batch/manual created")
	m := mustGet[*api.Job](t)(st.Jobs.Get(ctx, "default", "manual"))
	if ref := m.ControllerRef(); ref == nil || ref.Kind != "CronJob" || ref.Name != "hello" ||
		m.Annotations["cronjob.kubernetes.io/instantiate"] != "manual" || m.Labels["app"] != "hello" {
		t.Fatalf("create job --from: got %+v", m.ObjectMeta)
	}
	if _, _, err := o.run("ctl", "create", "job", "x", "--from=cronjob/missing"); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Fatalf("create job from a missing cronjob: got %v", err)
	}
	if _, _, err := o.run("ctl", "create", "job", "x"); err == nil {
		t.Fatal("create job without --from succeeded")
	}

	squash := func(s string) string { return strings.Join(strings.Fields(s), " ") }
	out := squash(o.ok("ctl", "describe", "job", "pi"))
	for _, want := range []string{"Parallelism:", "Completions: 5", "Completion Mode: NonIndexed",
		"Pods Statuses: 0 Active (0 Ready) / 5 Succeeded / 0 Failed", "Duration: 65s", "Complete True"} {
		if !strings.Contains(out, want) {
			t.Errorf("describe job: missing %q in\n%s", want, out)
		}
	}
	out = squash(o.ok("ctl", "describe", "cronjob", "hello"))
	for _, want := range []string{"Schedule:", "*/5 * * * *", "Concurrency Policy:", "Allow", "Successful Job History Limit: 3",
		"Last Schedule Time:", "Active Jobs:"} {
		if !strings.Contains(out, want) {
			t.Errorf("describe cronjob: missing %q in\n%s", want, out)
		}
	}
}
