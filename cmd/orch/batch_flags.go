package main

import (
	"context"
	"flag"
	"log/slog"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/keeldb/keel/orchestrator/controller/cronjob"
	"github.com/keeldb/keel/orchestrator/controller/job"
	"github.com/keeldb/keel/orchestrator/events"
)

// batchFlags are the controller-manager's Job and CronJob flags. The back-off base and
// clock rate are test knobs: with their defaults the controllers behave as Kubernetes'.
// --concurrent-job-syncs is kube-controller-manager's flag of the same name.
type batchFlags struct {
	backoffBase time.Duration
	clockRate   float64
	jobWorkers  int
}

func (b *batchFlags) register(fs *flag.FlagSet) {
	fs.DurationVar(&b.backoffBase, "job-backoff-base", job.DefaultBackoffBase,
		"Job pod failure back-off base, doubled per failure up to 6m (tests only; Kubernetes: 10s)")
	fs.Float64Var(&b.clockRate, "cronjob-clock-rate", 1,
		"run the CronJob controller's clock this many times faster than real time, from the controller-manager's start (tests only)")
	fs.IntVar(&b.jobWorkers, "concurrent-job-syncs", job.DefaultWorkers, "Jobs synced in parallel (orch bench's in-process controller: 32)")
}

// add registers the job and cronjob controllers in a controller-manager term.
func (b *batchFlags) add(controllers map[string]func(context.Context) error, cli *clientv3.Client, log *slog.Logger, rec *events.Recorder) {
	controllers["job"] = func(ctx context.Context) error {
		return job.New(cli, job.Config{BackoffBase: b.backoffBase, Workers: b.jobWorkers, Logger: log, Recorder: rec}).Run(ctx)
	}
	now := time.Now
	if b.clockRate != 1 && b.clockRate > 0 {
		start, rate := time.Now(), b.clockRate
		now = func() time.Time { return start.Add(time.Duration(float64(time.Since(start)) * rate)) }
	}
	controllers["cronjob"] = func(ctx context.Context) error {
		return cronjob.New(cli, cronjob.Config{Now: now, ClockRate: b.clockRate, Logger: log, Recorder: rec}).Run(ctx)
	}
}
