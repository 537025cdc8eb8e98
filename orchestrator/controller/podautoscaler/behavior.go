package podautoscaler

import (
	"math"
	"time"

	"github.com/keeldb/keel/orchestrator/api"
)

// History is what an autoscaler remembers between decisions, as Kubernetes' controller
// keeps it in memory: recent recommendations (for the stabilization windows) and recent
// scale events (for the rate policies). It is lost when the controller restarts, which
// Kubernetes answers, and so does Recommend, by seeding a fresh history with the current
// count for the scale-down window. The zero value is empty.
type History struct {
	Recommendations []Recommendation
	ScaleUps        []ScaleEvent
	ScaleDowns      []ScaleEvent
}

// Recommendation is one unstabilized desired count and when it was made.
type Recommendation struct {
	Replicas int32
	At       time.Time
}

// ScaleEvent is one change of the target's replicas made by the autoscaler.
type ScaleEvent struct {
	Change int32
	At     time.Time
}

// RecordScale remembers a rescale from prev to next replicas at now, dropping events
// older than the longest policy period of their direction.
func (h *History) RecordScale(b *api.HorizontalPodAutoscalerBehavior, prev, next int32, now time.Time) {
	up, down := rules(b)
	switch {
	case next > prev:
		h.ScaleUps = append(pruneEvents(h.ScaleUps, longestPeriod(up), now), ScaleEvent{Change: next - prev, At: now})
	case next < prev:
		h.ScaleDowns = append(pruneEvents(h.ScaleDowns, longestPeriod(down), now), ScaleEvent{Change: prev - next, At: now})
	}
}

func longestPeriod(r *api.HPAScalingRules) time.Duration {
	var p int32
	for _, pol := range r.Policies {
		p = max(p, pol.PeriodSeconds)
	}
	return time.Duration(p) * time.Second
}

func pruneEvents(evs []ScaleEvent, keep time.Duration, now time.Time) []ScaleEvent {
	out := evs[:0]
	for _, e := range evs {
		if e.At.After(now.Add(-keep)) {
			out = append(out, e)
		}
	}
	return out
}

// rules returns the behavior's scale-up and scale-down rules, Kubernetes' defaults where
// unset (the API defaults a given behavior's missing parts; nil uses the defaults too).
func rules(b *api.HorizontalPodAutoscalerBehavior) (up, down *api.HPAScalingRules) {
	up, down = api.DefaultScaleUpRules(), api.DefaultScaleDownRules()
	if b == nil {
		return up, down
	}
	fill := func(r, def *api.HPAScalingRules) *api.HPAScalingRules {
		if r == nil {
			return def
		}
		out := *r
		if out.StabilizationWindowSeconds == nil {
			out.StabilizationWindowSeconds = def.StabilizationWindowSeconds
		}
		if out.SelectPolicy == nil {
			out.SelectPolicy = def.SelectPolicy
		}
		if len(out.Policies) == 0 {
			out.Policies = def.Policies
		}
		return &out
	}
	return fill(b.ScaleUp, up), fill(b.ScaleDown, down)
}

// stabilize is Kubernetes' stabilizeRecommendationWithBehaviors: the result is the current
// count moved towards desired no further than the lowest recommendation within the
// scale-up window and the highest within the scale-down window allow. The unstabilized
// desired count is recorded (replacing one older than both windows).
func (h *History) stabilize(up, down *api.HPAScalingRules, current, desired int32, now time.Time) (int32, string, string) {
	upCutoff := now.Add(-time.Duration(*up.StabilizationWindowSeconds) * time.Second)
	downCutoff := now.Add(-time.Duration(*down.StabilizationWindowSeconds) * time.Second)
	upRec, downRec := desired, desired
	old := -1
	for i, r := range h.Recommendations {
		if r.At.After(upCutoff) {
			upRec = min(upRec, r.Replicas)
		}
		if r.At.After(downCutoff) {
			downRec = max(downRec, r.Replicas)
		}
		if r.At.Before(upCutoff) && r.At.Before(downCutoff) {
			old = i
		}
	}
	rec := max(current, upRec)
	rec = min(rec, downRec)
	if old >= 0 {
		h.Recommendations[old] = Recommendation{Replicas: desired, At: now}
	} else {
		h.Recommendations = append(h.Recommendations, Recommendation{Replicas: desired, At: now})
	}
	if desired >= current {
		return rec, "ScaleUpStabilized", "recent recommendations were lower than current one, applying the lowest recent recommendation"
	}
	return rec, "ScaleDownStabilized", "recent recommendations were higher than current one, applying the highest recent recommendation"
}

// changeInPeriod sums the changes of events within period before now.
func changeInPeriod(evs []ScaleEvent, periodSeconds int32, now time.Time) int32 {
	cutoff := now.Add(-time.Duration(periodSeconds) * time.Second)
	var n int32
	for _, e := range evs {
		if e.At.After(cutoff) {
			n += e.Change
		}
	}
	return n
}

// scaleUpLimit is Kubernetes' calculateScaleUpLimitWithScalingRules: the most replicas the
// policies allow now, from the count at the start of each policy's period.
func (h *History) scaleUpLimit(current int32, r *api.HPAScalingRules, now time.Time) int32 {
	if *r.SelectPolicy == api.DisabledPolicySelect {
		return current
	}
	pick, result := maxInt32, int32(math.MinInt32)
	if *r.SelectPolicy == api.MinChangePolicySelect {
		pick, result = minInt32, math.MaxInt32
	}
	for _, p := range r.Policies {
		start := current - changeInPeriod(h.ScaleUps, p.PeriodSeconds, now) + changeInPeriod(h.ScaleDowns, p.PeriodSeconds, now)
		var proposed int32
		if p.Type == api.PodsScalingPolicy {
			proposed = start + p.Value
		} else {
			proposed = int32(math.Ceil(float64(start) * (1 + float64(p.Value)/100)))
		}
		result = pick(result, proposed)
	}
	return result
}

// scaleDownLimit is Kubernetes' calculateScaleDownLimitWithBehaviors: the fewest replicas
// the policies allow now.
func (h *History) scaleDownLimit(current int32, r *api.HPAScalingRules, now time.Time) int32 {
	if *r.SelectPolicy == api.DisabledPolicySelect {
		return current
	}
	pick, result := minInt32, int32(math.MaxInt32)
	if *r.SelectPolicy == api.MinChangePolicySelect {
		pick, result = maxInt32, math.MinInt32
	}
	for _, p := range r.Policies {
		start := current - changeInPeriod(h.ScaleUps, p.PeriodSeconds, now) + changeInPeriod(h.ScaleDowns, p.PeriodSeconds, now)
		var proposed int32
		if p.Type == api.PodsScalingPolicy {
			proposed = start - p.Value
		} else {
			proposed = int32(float64(start) * (1 - float64(p.Value)/100))
		}
		result = pick(result, proposed)
	}
	return result
}

func maxInt32(a, b int32) int32 { return max(a, b) }
func minInt32(a, b int32) int32 { return min(a, b) }

// limitRate is Kubernetes' convertDesiredReplicasWithBehaviorRate: desired bounded by
// maxReplicas and the scale-up policies, or by minReplicas and the scale-down policies.
func (h *History) limitRate(up, down *api.HPAScalingRules, minR, maxR, current, desired int32, now time.Time) (int32, string, string) {
	switch {
	case desired > current:
		limit := max(h.scaleUpLimit(current, up, now), current)
		allowed, reason, msg := maxR, "TooManyReplicas", "the desired replica count is more than the maximum replica count"
		if allowed > limit {
			allowed, reason, msg = limit, "ScaleUpLimit", "the desired replica count is increasing faster than the maximum scale rate"
		}
		if desired > allowed {
			return allowed, reason, msg
		}
	case desired < current:
		limit := min(h.scaleDownLimit(current, down, now), current)
		allowed, reason, msg := minR, "TooFewReplicas", "the desired replica count is less than the minimum replica count"
		if allowed < limit {
			allowed, reason, msg = limit, "ScaleDownLimit", "the desired replica count is decreasing faster than the maximum scale rate"
		}
		if desired < allowed {
			return allowed, reason, msg
		}
	}
	return desired, "DesiredWithinRange", "the desired count is within the acceptable range"
}
