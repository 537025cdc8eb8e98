package main

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/keeldb/keel/internal/testcluster"
	"github.com/keeldb/keel/orchestrator/controller/resourcequota"
)

const limitRangeYAML = `apiVersion: v1
kind: LimitRange
metadata:
  name: defaults
spec:
  limits:
  - type: Container
    default: {cpu: 500m, memory: 256Mi}
    defaultRequest: {cpu: 100m}
    max: {memory: 1Gi}
---
apiVersion: v1
kind: ResourceQuota
metadata:
  name: objects
spec:
  hard:
    count/configmaps: "5"
`

const quotaPodYAML = `apiVersion: v1
kind: Pod
metadata:
  name: web
spec:
  containers:
  - name: c
    image: busybox
`

// TestQuotaCtl: create quota, apply of LimitRange and ResourceQuota manifests, get with
// kubectl's columns once the controller filled the status, describe, and a refused create.
func TestQuotaCtl(t *testing.T) {
	c := testcluster.Start(t, 1)
	o := &orch{t: t, endpoints: strings.Join(c.Endpoints(), ","), dir: t.TempDir()}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- resourcequota.Run(ctx, c.Client(), resourcequota.Config{}) }()
	defer func() {
		stop()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()

	wantLines(t, o.ok("ctl", "create", "quota", "compute", "--hard=pods=1,requests.cpu=1,limits.memory=1Gi"), "resourcequota/compute created")
	wantLines(t, o.ok("ctl", "apply", "-f", o.file("policy.yaml", limitRangeYAML)),
		"limitrange/defaults created", "resourcequota/objects created")
	eventually(t, "quota status", func() error {
		out := o.ok("ctl", "get", "quota")
		if !strings.Contains(out, "requests.cpu: 0/1") || !strings.Contains(out, "count/configmaps: 0/5") {
			return fmt.Errorf("get quota:\n%s", out)
		}
		return nil
	})
	o.ok("ctl", "apply", "-f", o.file("pod.yaml", quotaPodYAML))
	eventually(t, "quota status", func() error {
		out := o.ok("ctl", "get", "quota", "compute")
		want := []string{"NAME AGE REQUEST LIMIT", "compute \\S+ pods: 1/1, requests.cpu: 100m/1 limits.memory: 256Mi/1Gi"}
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if len(lines) != 2 || strings.Join(strings.Fields(lines[0]), " ") != want[0] ||
			!strings.HasPrefix(lines[1], "compute") || !strings.Contains(lines[1], "pods: 1/1, requests.cpu: 100m/1") ||
			!strings.HasSuffix(lines[1], "limits.memory: 256Mi/1Gi") {
			return fmt.Errorf("get quota compute:\n%s", out)
		}
		return nil
	})
	// fields joins each line's fields with one space, so columns compare without padding.
	fields := func(s string) string {
		var lines []string
		for _, l := range strings.Split(s, "\n") {
			lines = append(lines, strings.Join(strings.Fields(l), " "))
		}
		return strings.Join(lines, "\n")
	}
	out := fields(o.ok("ctl", "describe", "quota", "compute"))
	for _, want := range []string{"Resource Used Hard\n-------- ---- ----\nlimits.memory 256Mi 1Gi\npods 1 1\nrequests.cpu 100m 1"} {
		if !strings.Contains(out, want) {
			t.Errorf("describe quota: missing %q in\n%s", want, out)
		}
	}
	out = fields(o.ok("ctl", "describe", "limits", "defaults"))
	if !strings.Contains(out, "Container cpu - - 100m 500m -\nContainer memory - 1Gi 256Mi 256Mi -") {
		t.Errorf("describe limitrange:\n%s", out)
	}
	if out := o.ok("ctl", "get", "limitranges"); !strings.HasPrefix(out, "NAME       CREATED AT") {
		t.Errorf("get limitranges:\n%s", out)
	}
	_, _, err := o.run("ctl", "apply", "-f", o.file("pod2.yaml", strings.Replace(quotaPodYAML, "name: web", "name: web2", 1)))
	if err == nil || !strings.Contains(err.Error(), `pods "web2" is forbidden: exceeded quota: compute, requested: pods=1, used: pods=1, limited: pods=1`) {
		t.Errorf("second pod: %v", err)
	}
}
