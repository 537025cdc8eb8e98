package podautoscaler

import (
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/keeldb/keel/orchestrator/api"
)

// podSample is one pod's usage of a resource, summed over its containers: cpu in
// millicores, memory in bytes, as measured over window ending at timestamp.
type podSample struct {
	value     int64
	timestamp time.Time
	window    time.Duration
}

// samples maps a pod's name to its sample.
type samples map[string]podSample

// resourceSamples extracts resource's usage from the pods' metrics.
func resourceSamples(metrics map[string]*api.PodMetrics, resource string) samples {
	out := samples{}
	for name, m := range metrics {
		var total int64
		for _, c := range m.Containers {
			if v, ok := quantityValue(resource, c.Usage[resource]); ok {
				total += v
			}
		}
		win, err := time.ParseDuration(m.Window)
		if err != nil {
			win = 0
		}
		out[name] = podSample{value: total, timestamp: m.Timestamp.Time, window: win}
	}
	return out
}

// quantityValue is q in the unit used for resource: millicores for cpu, bytes otherwise.
func quantityValue(resource string, q api.Quantity) (int64, bool) {
	if q == "" {
		return 0, false
	}
	v, err := api.ParseQuantity(string(q))
	if err != nil {
		return 0, false
	}
	if resource != "cpu" {
		v /= 1000
	}
	return v, true
}

// podGroups is the classification of a target's pods for one resource metric.
type podGroups struct {
	ready                     int
	unready, missing, ignored map[string]bool
}

// groupPods sorts pods as Kubernetes' replica calculator does: deleted and Failed pods are
// ignored; Pending pods are unready; pods without a sample are missing; for cpu, a pod
// without a Ready condition or start time is unready, and so is one still within
// cpuInit of its start that is not Ready or whose sample does not cover a full window
// since it became Ready, or one past cpuInit that is not Ready and never was (its Ready
// condition last changed within readinessDelay of its start).
func groupPods(pods []*api.Pod, s samples, resource string, cfg Config, now time.Time) podGroups {
	g := podGroups{unready: map[string]bool{}, missing: map[string]bool{}, ignored: map[string]bool{}}
	for _, p := range pods {
		if p.DeletionTimestamp != nil || p.Status.Phase == api.PodFailed {
			g.ignored[p.Name] = true
			continue
		}
		if p.Status.Phase == api.PodPending || p.Status.Phase == "" {
			g.unready[p.Name] = true
			continue
		}
		sample, ok := s[p.Name]
		if !ok {
			g.missing[p.Name] = true
			continue
		}
		if resource == "cpu" {
			cond := readyCondition(p)
			var unready bool
			if cond == nil || p.Status.StartTime == nil {
				unready = true
			} else if start := p.Status.StartTime.Time; start.Add(cfg.CPUInitializationPeriod).After(now) {
				unready = cond.Status == api.ConditionFalse || sample.timestamp.Before(cond.LastTransitionTime.Add(sample.window))
			} else {
				unready = cond.Status == api.ConditionFalse && start.Add(cfg.InitialReadinessDelay).After(cond.LastTransitionTime.Time)
			}
			if unready {
				g.unready[p.Name] = true
				continue
			}
		}
		g.ready++
	}
	return g
}

func readyCondition(p *api.Pod) *api.PodCondition {
	for i := range p.Status.Conditions {
		if p.Status.Conditions[i].Type == "Ready" {
			return &p.Status.Conditions[i]
		}
	}
	return nil
}

// podRequests sums each pod's containers' requests of resource; a container without one
// is an error, as in Kubernetes.
func podRequests(pods []*api.Pod, resource string) (map[string]int64, error) {
	out := make(map[string]int64, len(pods))
	for _, p := range pods {
		var total int64
		for _, c := range p.Spec.Containers {
			v, ok := quantityValue(resource, c.Resources.Requests[resource])
			if !ok {
				return nil, fmt.Errorf("missing request for %s in container %s of Pod %s", resource, c.Name, p.Name)
			}
			total += v
		}
		out[p.Name] = total
	}
	return out, nil
}

// errNoPods and errNoMetrics are the replica calculator's errors about the pods.
var (
	errNoPods    = errors.New("no pods returned by selector while calculating replica count")
	errNoMetrics = errors.New("did not receive metrics for targeted pods (pods might be unready)")
)

// usageFunc returns the usage ratio (usage / target) of the samples, and the current
// value reported in status (a utilization percentage, or an average).
type usageFunc func(s samples) (ratio float64, current int64, err error)

// utilizationRatio is Kubernetes' GetResourceUtilizationRatio: total usage over total
// requests of the sampled pods that have requests, against target percent.
func utilizationRatio(requests map[string]int64, target int32) usageFunc {
	return func(s samples) (float64, int64, error) {
		var used, requested int64
		for name, sm := range s {
			r, ok := requests[name]
			if !ok {
				continue
			}
			used += sm.value
			requested += r
		}
		if requested == 0 {
			return 0, 0, errors.New("no metrics returned matched known pods")
		}
		util := used * 100 / requested
		return float64(util) / float64(target), util, nil
	}
}

// averageRatio is Kubernetes' GetMetricUsageRatio: the average usage against target.
func averageRatio(target int64) usageFunc {
	return func(s samples) (float64, int64, error) {
		if len(s) == 0 {
			return 0, 0, errNoMetrics
		}
		var total int64
		for _, sm := range s {
			total += sm.value
		}
		avg := total / int64(len(s))
		return float64(avg) / float64(target), avg, nil
	}
}

// replicasFor is Kubernetes' replica calculation for one resource metric (GetResourceReplicas
// and calcPlainMetricReplicas): desired = ceil(ready pods × usage ratio) outside the
// tolerance; when pods are missing metrics, they count as using 100% of their request
// (utilization) or the target (average value) on a scale-down and 0 on a scale-up, and
// when scaling up with unready pods those count as using 0; a scale whose direction that
// reverses, or that falls within the tolerance, keeps the current count. fallback gives a
// missing pod's assumed usage on a scale-down. It returns the desired count and the
// current value to report.
func replicasFor(pods []*api.Pod, s samples, resource string, current int32, ratio usageFunc,
	fallback func(pod string) int64, cfg Config, now time.Time) (int32, int64, error) {
	if len(pods) == 0 {
		return 0, 0, errNoPods
	}
	g := groupPods(pods, s, resource, cfg, now)
	s = cloneSamples(s)
	for name := range s {
		if g.ignored[name] || g.unready[name] {
			delete(s, name)
		}
	}
	known := map[string]bool{}
	for _, p := range pods {
		known[p.Name] = true
	}
	for name := range s {
		if !known[name] {
			delete(s, name) // metrics of pods the selector does not select
		}
	}
	if len(s) == 0 {
		return 0, 0, errNoMetrics
	}
	usage, reported, err := ratio(s)
	if err != nil {
		return 0, 0, err
	}
	scaleUpWithUnready := len(g.unready) > 0 && usage > 1.0
	if !scaleUpWithUnready && len(g.missing) == 0 {
		if math.Abs(1.0-usage) <= cfg.Tolerance {
			return current, reported, nil
		}
		return int32(math.Ceil(usage * float64(g.ready))), reported, nil
	}
	if len(g.missing) > 0 {
		for name := range g.missing {
			switch {
			case usage < 1.0:
				s[name] = podSample{value: fallback(name)}
			case usage > 1.0:
				s[name] = podSample{value: 0}
			}
		}
	}
	if scaleUpWithUnready {
		for name := range g.unready {
			s[name] = podSample{value: 0}
		}
	}
	newUsage, _, err := ratio(s)
	if err != nil {
		return 0, 0, err
	}
	if math.Abs(1.0-newUsage) <= cfg.Tolerance || (usage < 1.0 && newUsage > 1.0) || (usage > 1.0 && newUsage < 1.0) {
		return current, reported, nil
	}
	desired := int32(math.Ceil(newUsage * float64(len(s))))
	if (newUsage < 1.0 && desired > current) || (newUsage > 1.0 && desired < current) {
		return current, reported, nil
	}
	return desired, reported, nil
}

func cloneSamples(s samples) samples {
	out := make(samples, len(s))
	for k, v := range s {
		out[k] = v
	}
	return out
}

// resourceReplicas computes one Resource metric's proposal and its status.
func resourceReplicas(m *api.ResourceMetricSource, pods []*api.Pod, metrics map[string]*api.PodMetrics,
	current int32, cfg Config, now time.Time) (int32, api.MetricStatus, error) {
	s := resourceSamples(metrics, m.Name)
	st := api.MetricStatus{Type: api.ResourceMetricSourceType, Resource: &api.ResourceMetricStatus{Name: m.Name}}
	if m.Target.AverageUtilization != nil {
		requests, err := podRequests(pods, m.Name)
		if err != nil {
			return 0, st, err
		}
		target := *m.Target.AverageUtilization
		fallback := func(pod string) int64 { return requests[pod] * int64(max(100, target)) / 100 }
		n, util, err := replicasFor(pods, s, m.Name, current, utilizationRatio(requests, target), fallback, cfg, now)
		if err != nil {
			return 0, st, err
		}
		u := int32(util)
		st.Resource.Current.AverageUtilization = &u
		// The average usage, as Kubernetes reports alongside utilization.
		if _, avg, err := averageRatio(1)(readySamples(s, pods)); err == nil {
			q := formatValue(m.Name, avg)
			st.Resource.Current.AverageValue = &q
		}
		return n, st, nil
	}
	if m.Target.AverageValue == nil {
		return 0, st, fmt.Errorf("invalid resource metric source: neither a utilization target nor a value target was set")
	}
	target, ok := quantityValue(m.Name, *m.Target.AverageValue)
	if !ok || target <= 0 {
		return 0, st, fmt.Errorf("invalid target average value %q", *m.Target.AverageValue)
	}
	n, avg, err := replicasFor(pods, s, m.Name, current, averageRatio(target), func(string) int64 { return target }, cfg, now)
	if err != nil {
		return 0, st, err
	}
	q := formatValue(m.Name, avg)
	st.Resource.Current.AverageValue = &q
	return n, st, nil
}

// readySamples keeps the samples of the given pods.
func readySamples(s samples, pods []*api.Pod) samples {
	out := samples{}
	for _, p := range pods {
		if sm, ok := s[p.Name]; ok {
			out[p.Name] = sm
		}
	}
	return out
}

// formatValue renders a value as a quantity: millicores for cpu, bytes otherwise.
func formatValue(resource string, v int64) api.Quantity {
	if resource == "cpu" {
		return api.Quantity(fmt.Sprintf("%dm", v))
	}
	return api.Quantity(fmt.Sprintf("%d", v))
}
