package api_test

import (
	"strings"
	"testing"

	"github.com/keeldb/keel/orchestrator/api"
)

// Plain batch/v1 manifests, as the Kubernetes docs write them.
const batchManifest = `apiVersion: batch/v1
kind: Job
metadata:
  name: pi
spec:
  completions: 5
  parallelism: 2
  backoffLimit: 4
  ttlSecondsAfterFinished: 100
  template:
    spec:
      restartPolicy: Never
      containers:
      - name: pi
        image: perl:5.34.0
        command: ["perl", "-Mbignum=bpi", "-wle", "print bpi(2000)"]
---
apiVersion: batch/v1
kind: CronJob
metadata:
  name: hello
spec:
  schedule: "* * * * *"
  timeZone: "Etc/UTC"
  jobTemplate:
    spec:
      template:
        spec:
          containers:
          - name: hello
            image: busybox:1.28
            imagePullPolicy: IfNotPresent
            command: ["/bin/sh", "-c", "date; echo Hello from the Kubernetes cluster"]
          restartPolicy: OnFailure
`

func TestDecodeBatch(t *testing.T) {
	objs, err := api.DecodeManifests(strings.NewReader(batchManifest))
	if err != nil {
		t.Fatal(err)
	}
	j := objs[0].(*api.Job)
	if *j.Spec.Completions != 5 || *j.Spec.Parallelism != 2 || *j.Spec.BackoffLimit != 4 ||
		*j.Spec.CompletionMode != api.NonIndexedCompletion || *j.Spec.Suspend || j.Namespace != "default" {
		t.Fatalf("job defaults: got %+v", j.Spec)
	}
	cj := objs[1].(*api.CronJob)
	s := cj.Spec
	if s.ConcurrencyPolicy != api.AllowConcurrent || *s.SuccessfulJobsHistoryLimit != 3 || *s.FailedJobsHistoryLimit != 1 ||
		*s.JobTemplate.Spec.Completions != 1 || *s.JobTemplate.Spec.BackoffLimit != 6 {
		t.Fatalf("cronjob defaults: got %+v", s)
	}
}

func TestValidateBatch(t *testing.T) {
	job := func(spec string) string {
		return "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: j\nspec:\n" + spec +
			"  template:\n    spec:\n      restartPolicy: Never\n      containers:\n      - {name: c, image: i}\n"
	}
	cron := func(spec string) string {
		return "apiVersion: batch/v1\nkind: CronJob\nmetadata:\n  name: c\nspec:\n" + spec +
			"  jobTemplate:\n    spec:\n      template:\n        spec:\n          restartPolicy: Never\n          containers:\n          - {name: c, image: i}\n"
	}
	for _, tc := range []struct {
		name, manifest, want string
	}{
		{"negative completions", job("  completions: -1\n"), `spec.completions: Invalid value: "-1": must be greater than or equal to 0`},
		{"negative parallelism", job("  parallelism: -1\n"), `spec.parallelism: Invalid value: "-1": must be greater than or equal to 0`},
		{"zero deadline", job("  activeDeadlineSeconds: 0\n"), `spec.activeDeadlineSeconds: Invalid value: "0": must be greater than 0`},
		{"indexed without completions", job("  parallelism: 2\n  completionMode: Indexed\n"), `spec.completions: Required value: when completion mode is Indexed`},
		{"bad mode", job("  completionMode: Sparse\n"), `spec.completionMode: Unsupported value: "Sparse"`},
		{"selector", job("  selector:\n    matchLabels: {a: b}\n"), "spec.selector: Forbidden: `selector` will be auto-generated"},
		{"backoffLimitPerIndex", job("  backoffLimitPerIndex: 1\n"), `spec.backoffLimitPerIndex: Unsupported field`},
		{"pod failure policy with OnFailure", strings.Replace(job("  podFailurePolicy:\n    rules:\n    - {action: Ignore, onPodConditions: [{type: DisruptionTarget}]}\n"), "Never", "OnFailure", 1),
			`spec.template.spec.restartPolicy: Invalid value: "OnFailure": only "Never" is supported when podFailurePolicy is specified`},
		{"pod failure policy action", job("  podFailurePolicy:\n    rules:\n    - {action: FailIndex, onExitCodes: {operator: In, values: [1]}}\n"),
			`spec.podFailurePolicy.rules[0].action: Unsupported value: "FailIndex": supported values: "Count", "FailJob", "Ignore"`},
		{"pod failure policy both", job("  podFailurePolicy:\n    rules:\n    - {action: Count, onExitCodes: {operator: In, values: [1]}, onPodConditions: [{type: X}]}\n"),
			`spec.podFailurePolicy.rules[0]: Invalid value: specifying both OnExitCodes and OnPodConditions is not supported`},
		{"pod failure policy zero", job("  podFailurePolicy:\n    rules:\n    - {action: FailJob, onExitCodes: {operator: In, values: [0, 3]}}\n"),
			`spec.podFailurePolicy.rules[0].onExitCodes.values[0]: Invalid value: "0": must not be 0 for the In operator`},
		{"pod failure policy order", job("  podFailurePolicy:\n    rules:\n    - {action: FailJob, onExitCodes: {operator: NotIn, values: [3, 1]}}\n"),
			`spec.podFailurePolicy.rules[0].onExitCodes.values[1]: Invalid value: "1": must be ordered`},
		{"restart always", strings.Replace(job(""), "Never", "Always", 1), `spec.template.spec.restartPolicy: Unsupported value: "Always": supported values: "OnFailure", "Never"`},
		{"bad schedule", cron("  schedule: \"61 * * * *\"\n"), `spec.schedule: Invalid value: "61 * * * *"`},
		{"CRON_TZ", cron("  schedule: \"CRON_TZ=UTC 0 * * * *\"\n"), `spec.schedule: Invalid value: "CRON_TZ=UTC 0 * * * *": cannot use TZ or CRON_TZ in schedule, use timeZone field instead`},
		{"bad zone", cron("  schedule: \"@hourly\"\n  timeZone: Mars/Base\n"), `spec.timeZone: Invalid value: "Mars/Base": unknown time zone Mars/Base`},
		{"policy", cron("  schedule: \"@hourly\"\n  concurrencyPolicy: Sometimes\n"), `spec.concurrencyPolicy: Unsupported value: "Sometimes"`},
		{"history", cron("  schedule: \"@hourly\"\n  failedJobsHistoryLimit: -1\n"), `spec.failedJobsHistoryLimit: Invalid value: "-1"`},
		{"bad fieldRef subscript", strings.Replace(job(""), "{name: c, image: i}", "{name: c, image: i, env: [{name: X, valueFrom: {fieldRef: {fieldPath: \"metadata.annotations['bad key']\"}}}]}", 1),
			`spec.template.spec.containers[0].env[0].valueFrom.fieldRef.fieldPath: Unsupported value: "metadata.annotations['bad key']"`},
		{"long name", strings.Replace(cron("  schedule: \"@daily\"\n"), "name: c", "name: "+strings.Repeat("c", 53), 1), `metadata.name: Invalid value`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := api.DecodeManifests(strings.NewReader(tc.manifest))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
		})
	}
	for _, ok := range []string{cron("  schedule: \"@hourly\"\n"), cron("  schedule: \"*/5 1-3 * * MON-FRI\"\n"), job("  completions: 3\n  completionMode: Indexed\n"),
		job("  podFailurePolicy:\n    rules:\n    - action: FailJob\n      onExitCodes: {containerName: c, operator: In, values: [42]}\n    - action: Ignore\n      onPodConditions: [{type: DisruptionTarget}]\n"),
		strings.Replace(job(""), "{name: c, image: i}", "{name: c, image: i, env: [{name: I, valueFrom: {fieldRef: {fieldPath: \"metadata.annotations['batch.kubernetes.io/job-completion-index']\"}}}]}", 1)} {
		if _, err := api.DecodeManifests(strings.NewReader(ok)); err != nil {
			t.Errorf("valid manifest refused: %v", err)
		}
	}
}
