package orche2e_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/keeldb/keel/orchestrator/registry"
)

// quotaDeployment asks for more pods than the quota allows.
const quotaDeployment = `apiVersion: apps/v1
kind: Deployment
metadata: {name: many}
spec:
  replicas: 3
  selector: {matchLabels: {app: many}}
  template:
    metadata: {labels: {app: many}}
    spec:
      containers:
      - name: c
        image: busybox
`

// TestResourceQuota: with `orch controller-manager` running, a quota of 2 pods holds a
// Deployment of 3 replicas at 2 pods (the ReplicaSet controller's third create is refused),
// and a deleted pod's usage is released by the quota controller so the ReplicaSet replaces
// it.
func TestResourceQuota(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a cluster of processes")
	}
	s := newSystem(t)
	s.start("cm1", "controller-manager", "--id", "cm1")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	s.mustCtl("create", "quota", "two", "--hard=pods=2")
	waitFor(t, ctx, "quota status", 60*time.Second, func() error {
		out, err := s.ctl("get", "quota", "two")
		if err == nil && !strings.Contains(out, "pods: 0/2") {
			err = fmt.Errorf("get quota:\n%s", out)
		}
		return err
	})
	f := t.TempDir() + "/many.yaml"
	if err := writeFile(f, quotaDeployment); err != nil {
		t.Fatal(err)
	}
	s.mustCtl("apply", "-f", f)
	pods := func(want int) func() error {
		return func() error {
			l, err := s.stores.Pods.List(ctx, registry.ListOptions{Namespace: "default"})
			if err != nil {
				return err
			}
			if len(l.Items) > 2 {
				t.Fatalf("%d pods under a quota of 2", len(l.Items))
			}
			if len(l.Items) != want {
				return fmt.Errorf("%d pods, want %d", len(l.Items), want)
			}
			return nil
		}
	}
	waitFor(t, ctx, "2 pods", 60*time.Second, pods(2))
	waitFor(t, ctx, "FailedCreate event", 60*time.Second, func() error {
		out, err := s.ctl("get", "events")
		if err == nil && !strings.Contains(out, "exceeded quota: two, requested: pods=1, used: pods=2, limited: pods=2") {
			err = fmt.Errorf("events:\n%s", out)
		}
		return err
	})

	l, err := s.stores.Pods.List(ctx, registry.ListOptions{Namespace: "default"})
	if err != nil {
		t.Fatal(err)
	}
	gone := l.Items[0].Name
	if _, err := s.stores.Pods.Delete(ctx, "default", gone, registry.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "the deleted pod replaced", 90*time.Second, func() error {
		l, err := s.stores.Pods.List(ctx, registry.ListOptions{Namespace: "default"})
		if err != nil {
			return err
		}
		if err := pods(2)(); err != nil {
			return err
		}
		for _, p := range l.Items {
			if p.Name == gone {
				return fmt.Errorf("pod %s still there", gone)
			}
		}
		return nil
	})
}
