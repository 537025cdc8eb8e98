package cronjob_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/keeldb/keel/internal/testcluster"
	"github.com/keeldb/keel/orchestrator/api"
	"github.com/keeldb/keel/orchestrator/controller/cronjob"
	"github.com/keeldb/keel/orchestrator/internal/poll"
	"github.com/keeldb/keel/orchestrator/registry"
)

// fakeClock is a clock the test moves.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time // guarded by mu
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// TestController runs the CronJob controller on a driven clock against a store: each
// minute that passes starts one Job named after its scheduled minute, the CronJob's status
// follows, and only successfulJobsHistoryLimit finished Jobs are kept.
func TestController(t *testing.T) {
	c := testcluster.Start(t, 1)
	cli := c.Client()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	st := registry.NewStores(cli, registry.Config{})
	clock := &fakeClock{t: time.Now()}
	cctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	// ClockRate turns the controller's minute-long requeues into milliseconds.
	go func() { done <- cronjob.New(cli, cronjob.Config{Now: clock.now, ClockRate: 10000}).Run(cctx) }()
	defer func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	two := int32(2)
	utc := "Etc/UTC"
	cj, err := st.CronJobs.Create(ctx, &api.CronJob{ObjectMeta: api.ObjectMeta{Name: "tick"},
		Spec: api.CronJobSpec{Schedule: "* * * * *", TimeZone: &utc, SuccessfulJobsHistoryLimit: &two,
			JobTemplate: api.JobTemplateSpec{Spec: api.JobSpec{Template: api.PodTemplateSpec{
				Spec: api.PodSpec{RestartPolicy: api.RestartNever, Containers: []api.Container{{Name: "c", Image: "busybox"}}}}}}}})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 4 {
		clock.advance(time.Minute)
		want := cronjob.JobName("tick", clock.now().Truncate(time.Minute))
		var j *api.Job
		poll.Eventually(t, 20*time.Second, func() error {
			j, err = st.Jobs.Get(ctx, "default", want)
			return err
		})
		if ref := j.ControllerRef(); ref == nil || ref.UID != cj.UID {
			t.Fatalf("job %s: owner %+v", j.Name, j.ControllerRef())
		}
		poll.Eventually(t, 20*time.Second, func() error {
			cur, err := st.CronJobs.Get(ctx, "default", "tick")
			if err != nil {
				return err
			}
			if len(cur.Status.Active) != 1 || cur.Status.Active[0].Name != want || cur.Status.LastScheduleTime == nil {
				return fmt.Errorf("run %d: status %+v, want %s active", i, cur.Status, want)
			}
			return nil
		})
		now := api.NewTime(clock.now())
		j.Status = api.JobStatus{StartTime: &now, CompletionTime: &now, Succeeded: 1,
			Conditions: []api.JobCondition{{Type: api.JobComplete, Status: api.ConditionTrue}}}
		if _, err := st.Jobs.UpdateStatus(ctx, j); err != nil {
			t.Fatal(err)
		}
	}
	poll.Eventually(t, 20*time.Second, func() error {
		l, err := st.Jobs.List(ctx, registry.ListOptions{Namespace: "default"})
		if err != nil {
			return err
		}
		cur, err := st.CronJobs.Get(ctx, "default", "tick")
		if err != nil {
			return err
		}
		if len(l.Items) != 2 || len(cur.Status.Active) != 0 || cur.Status.LastSuccessfulTime == nil {
			return fmt.Errorf("%d Jobs kept, want 2; status %+v", len(l.Items), cur.Status)
		}
		return nil
	})
}
