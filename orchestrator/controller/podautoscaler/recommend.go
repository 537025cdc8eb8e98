package podautoscaler

import (
	"errors"
	"fmt"
	"time"

	"github.com/keeldb/keel/orchestrator/api"
)

// Input is everything one autoscaling decision depends on.
type Input struct {
	HPA *api.HorizontalPodAutoscaler
	// Replicas is the target's spec.replicas.
	Replicas int32
	// Pods are the pods the target's selector selects.
	Pods []*api.Pod
	// Metrics are the pods' last reported metrics, by pod name.
	Metrics map[string]*api.PodMetrics
	// Now is the decision's time.
	Now time.Time
}

// Condition is an autoscaler condition to set (its transition time is the caller's).
type Condition struct {
	Type, Status, Reason, Message string
}

// Decision is Recommend's answer.
type Decision struct {
	// Desired is the replica count to set; Rescale tells whether it differs from the
	// current count.
	Desired int32
	Rescale bool
	// Reason explains a rescale ("cpu resource utilization (percentage of request) above
	// target"), for the SuccessfulRescale event.
	Reason string
	// Metrics are the metrics' current values, for status.currentMetrics.
	Metrics []api.MetricStatus
	// Conditions are the conditions to set.
	Conditions []Condition
	// Err is why no count could be computed from the metrics (then Rescale is false).
	Err error
}

// Recommend is the horizontal pod autoscaler's decision, as Kubernetes'
// reconcileAutoscaler makes it: a target scaled to zero is left alone (scaling disabled);
// one outside [minReplicas, maxReplicas] is brought to the nearest bound; otherwise each
// metric proposes a count (replicasFor), the largest wins, and the proposal is stabilized
// (stabilize) and rate-limited (limitRate) by the behavior. h records the proposal and
// may be empty; Recommend does not record the scale itself (History.RecordScale, once the
// target is updated).
func Recommend(in Input, h *History, cfg Config) Decision {
	cfg.setDefaults()
	spec := in.HPA.Spec
	minR := int32(1)
	if spec.MinReplicas != nil {
		minR = *spec.MinReplicas
	}
	current := in.Replicas
	up, down := rules(spec.Behavior)
	if spec.Behavior == nil {
		w := int32(cfg.DownscaleStabilization / time.Second)
		down.StabilizationWindowSeconds = &w
	}
	if len(h.Recommendations) == 0 && *down.StabilizationWindowSeconds > 0 {
		// A fresh history (a new autoscaler, or a restarted controller) must not scale down
		// at once: Kubernetes' maybeInitScaleDownStabilizationWindow.
		h.Recommendations = []Recommendation{{Replicas: current, At: in.Now}}
	}
	var d Decision
	switch {
	case current == 0 && minR != 0:
		d.Conditions = append(d.Conditions, Condition{api.ScalingActive, api.ConditionFalse, "ScalingDisabled",
			"scaling is disabled since the replica count of the target is zero"})
		return d
	case current > spec.MaxReplicas:
		d.Desired, d.Reason = spec.MaxReplicas, "Current number of replicas above Spec.MaxReplicas"
	case current < minR:
		d.Desired, d.Reason = minR, "Current number of replicas below Spec.MinReplicas"
	default:
		proposed, name, statuses, err := proposeFromMetrics(in, cfg)
		d.Metrics = statuses
		if proposed < 0 {
			d.Err = err
			d.Conditions = append(d.Conditions, Condition{api.ScalingActive, api.ConditionFalse, "FailedGetResourceMetric",
				"the HPA was unable to compute the replica count: " + err.Error()})
			d.Desired = current
			return d
		}
		d.Conditions = append(d.Conditions, Condition{api.ScalingActive, api.ConditionTrue, "ValidMetricFound",
			"the HPA was able to successfully calculate a replica count from " + name})
		switch {
		case proposed > current:
			d.Reason = name + " above target"
		case proposed < current:
			d.Reason = "All metrics below target"
		}
		stable, reason, msg := h.stabilize(up, down, current, proposed, in.Now)
		if stable != proposed {
			d.Conditions = append(d.Conditions, Condition{api.AbleToScale, api.ConditionTrue, reason, msg})
		} else {
			d.Conditions = append(d.Conditions, Condition{api.AbleToScale, api.ConditionTrue, "ReadyForNewScale",
				"recommended size matches current size"})
		}
		limited, reason, msg := h.limitRate(up, down, minR, spec.MaxReplicas, current, stable, in.Now)
		status := api.ConditionFalse
		if limited != stable {
			status = api.ConditionTrue
		}
		d.Conditions = append(d.Conditions, Condition{api.ScalingLimited, status, reason, msg})
		d.Desired = limited
	}
	d.Rescale = d.Desired != current
	return d
}

// proposeFromMetrics is Kubernetes' computeReplicasForMetrics: the largest count proposed
// by a valid metric, or -1 with the first error when every metric failed, or when some
// failed and the others propose a scale-down.
func proposeFromMetrics(in Input, cfg Config) (int32, string, []api.MetricStatus, error) {
	proposed, name := int32(-1), ""
	var statuses []api.MetricStatus
	var firstErr error
	invalid := 0
	for _, m := range in.HPA.Spec.Metrics {
		if m.Type != api.ResourceMetricSourceType || m.Resource == nil {
			invalid++
			firstErr = errors.Join(firstErr, fmt.Errorf("unsupported metric source type %q", m.Type))
			statuses = append(statuses, api.MetricStatus{})
			continue
		}
		n, st, err := resourceReplicas(m.Resource, in.Pods, in.Metrics, in.Replicas, cfg, in.Now)
		statuses = append(statuses, st)
		if err != nil {
			invalid++
			if firstErr == nil {
				firstErr = fmt.Errorf("failed to get %s utilization: %w", m.Resource.Name, err)
			}
			continue
		}
		if n > proposed {
			proposed, name = n, metricName(m.Resource)
		}
	}
	if invalid >= len(in.HPA.Spec.Metrics) || (invalid > 0 && proposed < in.Replicas) {
		if firstErr == nil {
			firstErr = errors.New("no metrics")
		}
		return -1, "", statuses, firstErr
	}
	return proposed, name, statuses, nil
}

func metricName(m *api.ResourceMetricSource) string {
	if m.Target.AverageUtilization != nil {
		return m.Name + " resource utilization (percentage of request)"
	}
	return m.Name + " resource"
}
