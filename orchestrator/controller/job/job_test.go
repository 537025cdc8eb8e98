package job_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/keeldb/keel/internal/testcluster"
	"github.com/keeldb/keel/orchestrator/api"
	"github.com/keeldb/keel/orchestrator/controller/garbagecollector"
	"github.com/keeldb/keel/orchestrator/controller/job"
	"github.com/keeldb/keel/orchestrator/internal/poll"
	"github.com/keeldb/keel/orchestrator/registry"
)

// TestController runs the Job controller and the garbage collector against a store: pods
// are created one at a time with the Job's labels and owner, the Job completes when they
// succeed, a failing pod is replaced after the back-off, and deleting the Job deletes its
// pods.
func TestController(t *testing.T) {
	c := testcluster.Start(t, 1)
	cli := c.Client()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	st := registry.NewStores(cli, registry.Config{})
	cctx, stop := context.WithCancel(ctx)
	done, gcDone := make(chan error, 1), make(chan error, 1)
	go func() { done <- job.New(cli, job.Config{BackoffBase: 50 * time.Millisecond}).Run(cctx) }()
	go func() { gcDone <- garbagecollector.Run(cctx, cli, garbagecollector.Config{}) }()
	defer func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
		if err := <-gcDone; err != nil {
			t.Errorf("garbage collector: %v", err)
		}
	}()

	two, one, limit := int32(2), int32(1), int32(3)
	j, err := st.Jobs.Create(ctx, &api.Job{ObjectMeta: api.ObjectMeta{Name: "pi"},
		Spec: api.JobSpec{Completions: &two, Parallelism: &one, BackoffLimit: &limit, Template: api.PodTemplateSpec{
			ObjectMeta: api.ObjectMeta{Labels: map[string]string{"app": "pi"}},
			Spec:       api.PodSpec{RestartPolicy: api.RestartNever, Containers: []api.Container{{Name: "c", Image: "perl"}}}}}})
	if err != nil {
		t.Fatal(err)
	}
	// finishNext waits for the one active pod of the Job, not seen before, and ends it.
	seen := map[string]bool{}
	finishNext := func(phase string) {
		t.Helper()
		var p *api.Pod
		poll.Eventually(t, 20*time.Second, func() error {
			l, err := st.Pods.List(ctx, registry.ListOptions{Namespace: "default"})
			if err != nil {
				return err
			}
			var active []*api.Pod
			for _, q := range l.Items {
				if q.Status.Phase != api.PodSucceeded && q.Status.Phase != api.PodFailed {
					active = append(active, q)
				}
			}
			if len(active) != 1 || seen[active[0].Name] {
				return fmt.Errorf("%d active pods, want 1 new one", len(active))
			}
			p = active[0]
			return nil
		})
		seen[p.Name] = true
		if ref := p.ControllerRef(); ref == nil || ref.UID != j.UID || p.Labels["job-name"] != "pi" ||
			p.Labels[api.JobControllerUIDLabel] != j.UID || p.Labels["app"] != "pi" {
			t.Fatalf("pod %s: labels %v owner %+v", p.Name, p.Labels, p.ControllerRef())
		}
		p.Status.Phase = phase
		if _, err := st.Pods.UpdateStatus(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	finishNext(api.PodFailed)
	finishNext(api.PodSucceeded)
	finishNext(api.PodSucceeded)
	poll.Eventually(t, 20*time.Second, func() error {
		cur, err := st.Jobs.Get(ctx, "default", "pi")
		if err != nil {
			return err
		}
		if k, ok := cur.Finished(); !ok || k != api.JobComplete || cur.Status.Succeeded != 2 || cur.Status.Failed != 1 || cur.Status.CompletionTime == nil {
			return fmt.Errorf("status %+v", cur.Status)
		}
		return nil
	})
	if _, err := st.Jobs.Delete(ctx, "default", "pi", registry.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	poll.Eventually(t, 20*time.Second, func() error {
		l, err := st.Pods.List(ctx, registry.ListOptions{Namespace: "default"})
		if err != nil {
			return err
		}
		if len(l.Items) != 0 {
			return fmt.Errorf("%d pods left after the Job's deletion", len(l.Items))
		}
		return nil
	})
}
