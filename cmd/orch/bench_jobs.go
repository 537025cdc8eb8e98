package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/keeldb/keel/orchestrator/api"
	"github.com/keeldb/keel/orchestrator/controller/job"
	"github.com/keeldb/keel/orchestrator/events"
)

// benchJobOptions are the flags of `orch bench`'s Job phase.
type benchJobOptions struct {
	jobs, completions, parallelism int
}

func (o *benchJobOptions) register(fs *flag.FlagSet) {
	fs.IntVar(&o.jobs, "jobs", 0, "after the Deployment, create this many Jobs and time them until all Complete (0 = no Job phase)")
	fs.IntVar(&o.completions, "job-completions", 10, "completions of each benchmark Job")
	fs.IntVar(&o.parallelism, "job-parallelism", 0, "parallelism of each benchmark Job (default its completions)")
}

// benchJobsResult is what the Job phase measures.
type benchJobsResult struct {
	Jobs        int `json:"jobs"`
	Completions int `json:"completions"`
	// Seconds from the first Job's creation until the last was created, and until every
	// Job had its Complete condition.
	CreatedSeconds  float64 `json:"created_seconds"`
	CompleteSeconds float64 `json:"complete_seconds"`
	Complete        int     `json:"complete"`
	// PodsSucceeded counts the Jobs' pods seen Succeeded; per second over the phase.
	PodsSucceeded          int     `json:"pods_succeeded"`
	PodsSucceededPerSecond float64 `json:"pods_succeeded_per_second"`
}

// addJobController runs the Job controller among the in-process components when the Job
// phase is on.
func (b *bench) addJobController(components map[string]func(context.Context) error, log *slog.Logger, rec *events.Recorder) {
	if b.o.job.jobs <= 0 {
		return
	}
	components["job controller"] = func(ctx context.Context) error {
		return job.New(b.cli, job.Config{Workers: 32, Logger: log, Recorder: rec}).Run(ctx)
	}
}

// measureJobs creates the benchmark Jobs and follows them through a watch until every one
// is Complete.
func (b *bench) measureJobs(ctx context.Context) error {
	o := b.o.job
	if o.jobs <= 0 {
		return nil
	}
	r := &benchJobsResult{Jobs: o.jobs, Completions: o.completions}
	b.res.Jobs = r
	par := o.parallelism
	if par <= 0 {
		par = o.completions
	}
	resp, err := b.cli.Get(ctx, "health")
	if err != nil {
		return err
	}
	wctx, wcancel := context.WithCancel(ctx)
	defer wcancel()
	jobCh := b.cli.Watch(clientv3.WithRequireLeader(wctx), b.stores.Jobs.NamespacePrefix(b.o.namespace), clientv3.WithPrefix(),
		clientv3.WithRev(resp.Header.Revision+1))
	podCh := b.cli.Watch(clientv3.WithRequireLeader(wctx), b.stores.Pods.NamespacePrefix(b.o.namespace), clientv3.WithPrefix(),
		clientv3.WithRev(resp.Header.Revision+1))

	t0 := time.Now()
	if err := b.createJobs(ctx, o.jobs, int32(o.completions), int32(par)); err != nil {
		return err
	}
	r.CreatedSeconds = time.Since(t0).Seconds()

	done := map[string]bool{}
	succeeded := map[string]bool{}
	for r.Complete < o.jobs {
		select {
		case wr, ok := <-jobCh:
			if !ok || wr.Err() != nil {
				return errors.Join(errors.New("watch jobs: closed"), wr.Err())
			}
			for _, ev := range wr.Events {
				if ev.Type != mvccpb.PUT || done[string(ev.Kv.Key)] {
					continue
				}
				var j api.Job
				if json.Unmarshal(ev.Kv.Value, &j) == nil {
					if kind, ok := j.Finished(); ok && kind == api.JobComplete {
						done[string(ev.Kv.Key)] = true
						r.Complete++
					}
				}
			}
		case wr, ok := <-podCh:
			if !ok || wr.Err() != nil {
				return errors.Join(errors.New("watch pods: closed"), wr.Err())
			}
			for _, ev := range wr.Events {
				var v podView
				if ev.Type == mvccpb.PUT && json.Unmarshal(ev.Kv.Value, &v) == nil && v.Status.Phase == api.PodSucceeded {
					succeeded[string(ev.Kv.Key)] = true
				}
			}
		case <-ctx.Done():
			return fmt.Errorf("%d of %d jobs Complete: %w", r.Complete, o.jobs, ctx.Err())
		}
	}
	r.CompleteSeconds = time.Since(t0).Seconds()
	r.PodsSucceeded = len(succeeded)
	if r.CompleteSeconds > 0 {
		r.PodsSucceededPerSecond = float64(r.PodsSucceeded) / r.CompleteSeconds
	}
	return nil
}

// createJobs creates n Jobs of the given completions and parallelism, 32 at a time.
func (b *bench) createJobs(ctx context.Context, n int, comp, par int32) error {
	req := api.ResourceList{"cpu": api.Quantity(b.o.cpuRequest), "memory": api.Quantity(b.o.memRequest)}
	var createErr error
	var once sync.Once
	var wg sync.WaitGroup
	next := make(chan int)
	for range 32 {
		wg.Go(func() {
			for i := range next {
				j := &api.Job{ObjectMeta: api.ObjectMeta{Namespace: b.o.namespace, Name: fmt.Sprintf("bench-job-%d", i)},
					Spec: api.JobSpec{Completions: &comp, Parallelism: &par,
						Template: api.PodTemplateSpec{ObjectMeta: api.ObjectMeta{Labels: map[string]string{"app": "orch-bench-job"}},
							Spec: api.PodSpec{RestartPolicy: api.RestartNever, Containers: []api.Container{{Name: "sim", Image: "sim",
								Resources: api.ResourceRequirements{Requests: req}}}}}}}
				if _, err := b.stores.Jobs.Create(ctx, j); err != nil {
					once.Do(func() { createErr = err })
				}
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	if createErr != nil {
		return fmt.Errorf("create jobs: %w", createErr)
	}
	return nil
}

// jobCleanupOps deletes the benchmark Jobs.
func (b *bench) jobCleanupOps() []clientv3.Op {
	return []clientv3.Op{clientv3.OpDelete(b.stores.Jobs.NamespacePrefix(b.o.namespace), clientv3.WithPrefix())}
}

// jobRows are the Job phase's lines of the printed table.
func (r *benchJobsResult) rows() [][2]string {
	if r == nil {
		return nil
	}
	return [][2]string{
		{"jobs × completions", fmt.Sprintf("%d × %d", r.Jobs, r.Completions)},
		{"jobs created after", fmt.Sprintf("%.2f s", r.CreatedSeconds)},
		{"create → all Complete", fmt.Sprintf("%.2f s (%d Jobs; %d pods Succeeded, %.0f pods/s)", r.CompleteSeconds, r.Complete, r.PodsSucceeded, r.PodsSucceededPerSecond)},
	}
}
