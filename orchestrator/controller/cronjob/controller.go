package cronjob

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"reflect"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/keeldb/keel/orchestrator/api"
	"github.com/keeldb/keel/orchestrator/events"
	"github.com/keeldb/keel/orchestrator/informer"
	"github.com/keeldb/keel/orchestrator/registry"
	"github.com/keeldb/keel/orchestrator/workqueue"
)

// DefaultWorkers is the number of CronJobs synced in parallel by default.
const DefaultWorkers = 5

// Config configures a Controller. The zero value means defaults.
type Config struct {
	// Workers is the number of CronJobs synced in parallel; default 5.
	Workers int
	// Now is the CronJob clock; default time.Now.
	Now func() time.Time
	// ClockRate is how many CronJob-clock seconds pass per real second: requeue delays
	// computed on Now are divided by it. Default 1; only tests run a faster clock (see
	// `orch controller-manager --cronjob-clock-rate`).
	ClockRate float64
	// Logger defaults to discarding.
	Logger *slog.Logger
	// Recorder records the CronJob's events; nil records none.
	Recorder *events.Recorder
}

// Controller is the CronJob controller.
type Controller struct {
	cfg    Config
	log    *slog.Logger
	stores *registry.Stores
	cjInf  *informer.Informer[api.CronJob, *api.CronJob]
	jobInf *informer.Informer[api.Job, *api.Job]
	queue  *workqueue.Queue[string]
}

const controllerIndex = "controller"

// New returns a Controller; call Run to start it.
func New(cli *clientv3.Client, cfg Config) *Controller {
	if cfg.Workers <= 0 {
		cfg.Workers = DefaultWorkers
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.ClockRate <= 0 {
		cfg.ClockRate = 1
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	c := &Controller{cfg: cfg, log: cfg.Logger.With("component", "cronjob-controller"),
		stores: registry.NewStores(cli, registry.Config{})}
	c.queue = workqueue.New[string](workqueue.Config{})
	c.cjInf = informer.New(cli, c.stores.CronJobs, informer.Config{Logger: cfg.Logger})
	c.jobInf = informer.New(cli, c.stores.Jobs, informer.Config{Logger: cfg.Logger})
	c.jobInf.AddIndex(controllerIndex, func(j *api.Job) []string {
		if ref := j.ControllerRef(); ref != nil && ref.Kind == "CronJob" {
			return []string{ref.UID}
		}
		return nil
	})
	c.cjInf.AddHandler(informer.Handler[*api.CronJob]{
		OnAdd:    func(cj *api.CronJob) { c.queue.Add(api.KeyFunc(cj)) },
		OnUpdate: func(_, cj *api.CronJob) { c.queue.Add(api.KeyFunc(cj)) },
	})
	enqueueOwner := func(j *api.Job) {
		if ref := j.ControllerRef(); ref != nil && ref.Kind == "CronJob" {
			c.queue.Add(j.Namespace + "/" + ref.Name)
		}
	}
	c.jobInf.AddHandler(informer.Handler[*api.Job]{
		OnAdd:    enqueueOwner,
		OnUpdate: func(_, j *api.Job) { enqueueOwner(j) },
		OnDelete: enqueueOwner,
	})
	return c
}

// Run runs the informers and workers until ctx ends, then returns nil. It may be called
// once.
func (c *Controller) Run(ctx context.Context) error {
	workqueue.RunWorkers(ctx, c.queue, c.cfg.Workers, c.sync, c.syncFailed, c.cjInf, c.jobInf)
	return nil
}

func (c *Controller) syncFailed(key string, err error) {
	c.log.Debug("sync failed", "cronjob", key, "err", err)
}

func ignorable(err error) bool {
	return err == nil || errors.Is(err, registry.ErrNotFound) || errors.Is(err, registry.ErrConflict)
}

// sync reconciles one CronJob: it applies Reconcile's plan.
func (c *Controller) sync(ctx context.Context, key string) error {
	cj, ok := c.cjInf.Cache().Get(key)
	if !ok {
		return nil // its Jobs are the garbage collector's
	}
	jobs := c.jobInf.Cache().ByIndex(controllerIndex, cj.UID)
	// A Job just created may not be in the cache yet: read the active ones it lacks.
	for _, ref := range cj.Status.Active {
		if !hasUID(jobs, ref.UID) {
			if j, err := c.stores.Jobs.Get(ctx, cj.Namespace, ref.Name); err == nil && j.UID == ref.UID {
				jobs = append(jobs, j)
			} else if !errors.Is(err, registry.ErrNotFound) && err != nil {
				return err
			}
		}
	}
	plan := Reconcile(cj, jobs, c.cfg.Now())
	var errs []error
	for _, j := range plan.Delete {
		if _, err := c.stores.Jobs.Delete(ctx, j.Namespace, j.Name, registry.DeleteOptions{UID: j.UID}); !ignorable(err) {
			errs = append(errs, err)
		}
	}
	for _, ev := range plan.Events {
		c.cfg.Recorder.Eventf(cj, ev[0], ev[1], "%s", ev[2])
	}
	if plan.Create != nil {
		out, err := c.stores.Jobs.Create(ctx, plan.Create)
		switch {
		case err == nil:
			plan.Status.Active = append(plan.Status.Active, jobRef(out))
			c.cfg.Recorder.Eventf(cj, events.TypeNormal, "SuccessfulCreate", "Created job %s", out.Name)
			c.log.Info("created job", "cronjob", key, "job", out.Name)
		case errors.Is(err, registry.ErrAlreadyExists):
			// Created by an earlier sync whose status write was lost: nothing to do.
		default:
			c.cfg.Recorder.Eventf(cj, events.TypeWarning, "FailedCreate", "Error creating job: %v", err)
			return errors.Join(append(errs, err)...)
		}
	}
	if !reflect.DeepEqual(plan.Status, cj.Status) {
		next := api.DeepCopy(cj)
		next.Status = plan.Status
		if _, err := c.stores.CronJobs.UpdateStatus(ctx, next); !ignorable(err) {
			errs = append(errs, err)
		}
	}
	if plan.RequeueAfter > 0 {
		c.queue.AddAfter(key, time.Duration(float64(plan.RequeueAfter)/c.cfg.ClockRate))
	}
	return errors.Join(errs...)
}

func hasUID(jobs []*api.Job, uid string) bool {
	for _, j := range jobs {
		if j.UID == uid {
			return true
		}
	}
	return false
}
