package main

import (
	"flag"
	"log/slog"
	"time"

	"github.com/keeldb/keel/orchestrator/controller/podautoscaler"
	"github.com/keeldb/keel/orchestrator/events"
)

// hpaFlags are the controller-manager's autoscaler flags, named as kube-controller-manager's.
type hpaFlags struct {
	syncPeriod, downscaleStabilization, cpuInit, readinessDelay time.Duration
	tolerance                                                   float64
}

func (f *hpaFlags) register(fs *flag.FlagSet) {
	fs.DurationVar(&f.syncPeriod, "horizontal-pod-autoscaler-sync-period", podautoscaler.DefaultSyncPeriod, "how often each HorizontalPodAutoscaler is evaluated")
	fs.DurationVar(&f.downscaleStabilization, "horizontal-pod-autoscaler-downscale-stabilization", podautoscaler.DefaultDownscaleStabilization, "scale-down stabilization window of autoscalers without spec.behavior")
	fs.Float64Var(&f.tolerance, "horizontal-pod-autoscaler-tolerance", podautoscaler.DefaultTolerance, "minimum change of the usage ratio from 1.0 that scales")
	fs.DurationVar(&f.cpuInit, "horizontal-pod-autoscaler-cpu-initialization-period", podautoscaler.DefaultCPUInitializationPeriod, "how long after a pod's start its cpu samples need a full window since Ready")
	fs.DurationVar(&f.readinessDelay, "horizontal-pod-autoscaler-initial-readiness-delay", podautoscaler.DefaultInitialReadinessDelay, "how long after its start a not-Ready pod counts as never ready")
}

func (f *hpaFlags) config(log *slog.Logger, rec *events.Recorder) podautoscaler.Config {
	return podautoscaler.Config{SyncPeriod: f.syncPeriod, DownscaleStabilization: f.downscaleStabilization,
		Tolerance: f.tolerance, CPUInitializationPeriod: f.cpuInit, InitialReadinessDelay: f.readinessDelay,
		Logger: log, Recorder: rec}
}
