// Package podautoscaler is the horizontal pod autoscaler controller (autoscaling/v2), as
// Kubernetes' pkg/controller/podautoscaler: every SyncPeriod (default 15 s) it sets the
// spec.replicas of each HorizontalPodAutoscaler's target (Deployment, ReplicaSet,
// ReplicationController; target.go holds the table, one line per kind) from the target's
// pods' usage as the agents report it in PodMetrics.
//
// The decision is the pure function Recommend (recommend.go) of the autoscaler, the
// target's replicas, its pods, their metrics, the autoscaler's History and the time:
//   - a target at zero replicas is left alone (ScalingActive False, ScalingDisabled); one
//     outside [minReplicas, maxReplicas] is brought to the nearest bound;
//   - each Resource metric (cpu or memory; Utilization of the pods' requests, or
//     AverageValue) proposes ceil(ready pods × usage / target), nothing outside a 10%
//     tolerance; pods without metrics count as 100% of their request on a scale-down and
//     0 on a scale-up, unready pods (Pending, not Ready, or within the 5 min cpu
//     initialization period without a full window of samples since Ready) as 0 on a
//     scale-up and not at all otherwise; a proposal that this reverses keeps the count
//     (calculator.go, Kubernetes' replica_calculator.go);
//   - the largest proposal wins; it is stabilized (the lowest recommendation of the
//     scale-up window, the highest of the scale-down window: default 0 s and 300 s) and
//     limited by the behavior's policies (Pods or Percent per periodSeconds, from the
//     count at the period's start; selectPolicy Max, Min or Disabled; defaults +100% or
//     +4 pods per 15 s up, -100% per 15 s down) and by min/maxReplicas (behavior.go).
//
// An autoscaler without spec.behavior uses these defaults with Config.DownscaleStabilization
// as its scale-down window (Kubernetes' --horizontal-pod-autoscaler-downscale-stabilization);
// Kubernetes instead limits such an autoscaler's scale-up to max(2 × current, 4) per sync.
//
// Status: currentReplicas (the target's spec.replicas), desiredReplicas, currentMetrics
// (averageUtilization and averageValue), lastScaleTime, and the conditions AbleToScale
// (ReadyForNewScale, ScaleUpStabilized, ScaleDownStabilized, SucceededRescale,
// FailedGetScale, FailedUpdateScale), ScalingActive (ValidMetricFound, ScalingDisabled,
// FailedGetResourceMetric) and ScalingLimited (DesiredWithinRange, TooManyReplicas,
// TooFewReplicas, ScaleUpLimit, ScaleDownLimit) with Kubernetes' reasons and messages;
// events SuccessfulRescale, FailedRescale, FailedGetScale, FailedComputeMetricsReplicas.
//
// History (recommendations and scale events) lives in memory, as in Kubernetes: a new
// leader starts with none, seeded with the current count so that it does not scale down
// before a full window.
//
// Concurrency: Run owns the autoscaler and pod informers, the queue and Workers workers;
// a key is synced by one worker at a time, and each sync queues the next one SyncPeriod
// later. Spec changes sync at once; status writes do not trigger a sync.
//
// Not here: Pods, Object, External and ContainerResource metrics (refused by validation),
// scale to zero, the configurable tolerance per direction (Kubernetes 1.33 alpha).
package podautoscaler
