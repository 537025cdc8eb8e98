package agent

import (
	"context"
	"slices"
	"syscall"
	"time"

	"github.com/keeldb/keel/orchestrator/api"
)

// minGraceAfterPreStop is the least time SIGTERM gets before SIGKILL once a preStop hook
// ended, as the kubelet's minimumGracePeriodInSeconds.
const minGraceAfterPreStop = 2 * time.Second

// stopContainer begins the graceful stop of container c, as the kubelet's killContainer:
// its preStop hook, if any, runs first (within the grace period), then SIGTERM; SIGKILL is
// due when the grace period ends (reconcile sends it).
func (r *podRunner) stopContainer(ctx context.Context, c *ctr, now time.Time) {
	grace := r.gracePeriod()
	c.killAt = now.Add(grace)
	if lc := c.spec.Lifecycle; lc != nil && lc.PreStop != nil && grace > 0 && !c.preStopping {
		c.preStopping = true
		hctx, cancel := context.WithTimeout(ctx, grace)
		if c.hookCancel != nil {
			c.hookCancel()
		}
		c.hookCancel = cancel
		r.log.Info("running preStop hook", "container", c.spec.Name)
		r.goHook(hctx, slices.Index(r.ctrs, c), c.restartCount, "preStop", lc.PreStop, c)
		return
	}
	r.signal(c, syscall.SIGTERM)
}

// goHook runs hook kind of container i's attempt on a worker goroutine and reports its end
// as a ctrEvent, unless ctx ended first (the attempt is over or the runner stops).
func (r *podRunner) goHook(ctx context.Context, i int, attempt int32, kind string, h *api.LifecycleHandler, c *ctr) {
	t := r.probeTarget(c)
	r.workers.Add(1)
	go func() {
		defer r.workers.Done()
		err := runHook(ctx, h, t)
		select {
		case r.events <- ctrEvent{ctr: i, attempt: attempt, hook: kind, err: err}:
		case <-ctx.Done():
		}
	}()
}

// cancelHooks stops the preStop hooks still running.
func (r *podRunner) cancelHooks() {
	for _, c := range r.ctrs {
		if c.hookCancel != nil {
			c.hookCancel()
			c.hookCancel = nil
		}
	}
}

// runHook runs one lifecycle handler until it ends or ctx does.
func runHook(ctx context.Context, h *api.LifecycleHandler, t probeTarget) error {
	switch {
	case h.Exec != nil:
		return execAction(ctx, h.Exec, t)
	case h.HTTPGet != nil:
		return httpGetAction(ctx, h.HTTPGet, t)
	case h.Sleep != nil:
		timer := time.NewTimer(time.Duration(h.Sleep.Seconds) * time.Second)
		defer timer.Stop()
		select {
		case <-timer.C:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
