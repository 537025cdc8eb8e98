package main

import (
	"context"
	"flag"
	"fmt"
	"strings"

	"github.com/keeldb/keel/orchestrator/api"
	"github.com/keeldb/keel/orchestrator/registry"
)

func scaleReplicationController(ctx context.Context, c *ctl, ns, name string, n int32) error {
	s := registry.New[api.ReplicationController](c.cli, registry.Config{})
	_, err := s.GuaranteedUpdate(ctx, ns, name, func(rc *api.ReplicationController) (*api.ReplicationController, error) {
		rc.Spec.Replicas = &n
		return rc, nil
	})
	return err
}

// metricPair formats a resource metric's current value and target as kubectl does.
func metricPair(t api.MetricTarget, cur *api.MetricValueStatus) (current, target string) {
	current = "<unknown>"
	switch {
	case t.AverageUtilization != nil:
		target = fmt.Sprintf("%d%%", *t.AverageUtilization)
		if cur != nil && cur.AverageUtilization != nil {
			current = fmt.Sprintf("%d%%", *cur.AverageUtilization)
		}
	case t.AverageValue != nil:
		target = string(*t.AverageValue)
		if cur != nil && cur.AverageValue != nil {
			current = string(*cur.AverageValue)
		}
	}
	return current, target
}

// replicationController writes kubectl describe rc's text.
func (d *describer) replicationController(ctx context.Context, w *describeWriter, rc *api.ReplicationController) error {
	w.line(0, "Name:\t%s", rc.Name)
	w.line(0, "Namespace:\t%s", rc.Namespace)
	sel := rc.Spec.LabelSelector()
	w.line(0, "Selector:\t%s", selectorString(sel))
	w.labelsMultiline(0, "Labels", rc.Labels, "=")
	w.labelsMultiline(0, "Annotations", rc.Annotations, ": ")
	w.line(0, "Replicas:\t%d current / %d desired", rc.Status.Replicas, int32Ptr(rc.Spec.Replicas))
	phases := map[string]int{}
	if sel != nil {
		pods, err := podsOf(ctx, d.st, rc.Namespace, sel)
		if err != nil {
			return err
		}
		for _, p := range pods {
			if ref := p.ControllerRef(); ref != nil && ref.UID == rc.UID {
				phases[orDefault(p.Status.Phase, api.PodPending)]++
			}
		}
	}
	w.line(0, "Pods Status:\t%d Running / %d Waiting / %d Succeeded / %d Failed",
		phases[api.PodRunning], phases[api.PodPending], phases[api.PodSucceeded], phases[api.PodFailed])
	if rc.Spec.Template != nil {
		w.podTemplate(0, *rc.Spec.Template)
	}
	return nil
}

// horizontalPodAutoscaler writes kubectl describe hpa's text.
func (d *describer) horizontalPodAutoscaler(w *describeWriter, h *api.HorizontalPodAutoscaler) {
	d.meta(w, &h.ObjectMeta, true)
	w.line(0, "CreationTimestamp:\t%s", describeTime(h.CreationTimestamp))
	ref := h.Spec.ScaleTargetRef
	w.line(0, "Reference:\t%s/%s", ref.Kind, ref.Name)
	w.line(0, "Metrics:\t( current / target )")
	for i, m := range h.Spec.Metrics {
		if m.Resource == nil {
			continue
		}
		var cur *api.MetricValueStatus
		if i < len(h.Status.CurrentMetrics) && h.Status.CurrentMetrics[i].Resource != nil {
			cur = &h.Status.CurrentMetrics[i].Resource.Current
		}
		current, target := metricPair(m.Resource.Target, cur)
		if m.Resource.Target.AverageUtilization != nil {
			if cur != nil && cur.AverageValue != nil {
				current += " (" + string(*cur.AverageValue) + ")"
			}
			w.line(1, "resource %s on pods  (as a percentage of request):\t%s / %s", m.Resource.Name, current, target)
		} else {
			w.line(1, "resource %s on pods:\t%s / %s", m.Resource.Name, current, target)
		}
	}
	w.line(0, "Min replicas:\t%d", int32Ptr(h.Spec.MinReplicas))
	w.line(0, "Max replicas:\t%d", h.Spec.MaxReplicas)
	if b := h.Spec.Behavior; b != nil {
		w.line(0, "Behavior:")
		for _, dir := range []struct {
			name  string
			rules *api.HPAScalingRules
		}{{"Scale Up", b.ScaleUp}, {"Scale Down", b.ScaleDown}} {
			if dir.rules == nil {
				continue
			}
			w.line(1, "%s:", dir.name)
			if s := dir.rules.StabilizationWindowSeconds; s != nil {
				w.line(2, "Stabilization Window:\t%d seconds", *s)
			}
			if s := dir.rules.SelectPolicy; s != nil {
				w.line(2, "Select Policy:\t%s", *s)
			}
			w.line(2, "Policies:")
			for _, p := range dir.rules.Policies {
				w.line(3, "- Type=%s  Value=%d  Period=%d seconds", p.Type, p.Value, p.PeriodSeconds)
			}
		}
	}
	w.line(0, "%s pods:\t%d current / %d desired", ref.Kind, h.Status.CurrentReplicas, h.Status.DesiredReplicas)
	if len(h.Status.Conditions) > 0 {
		w.line(0, "Conditions:")
		w.line(1, "Type\tStatus\tReason\tMessage")
		w.line(1, "----\t------\t------\t-------")
		for _, c := range h.Status.Conditions {
			w.line(1, "%s\t%s\t%s\t%s", c.Type, c.Status, c.Reason, c.Message)
		}
	}
}

// autoscaleFlags is `orch ctl autoscale deployment|rs|rc NAME --max N [--min N]
// [--cpu-percent P] [--name HPA]`: it creates an autoscaling/v2 HorizontalPodAutoscaler
// as kubectl autoscale does (no --cpu-percent: Kubernetes' default of 80%).
func autoscaleFlags(fs *flag.FlagSet) verbFunc {
	ns := namespaceFlag(fs)
	minR := fs.Int("min", -1, "lower limit of the number of pods (default 1)")
	maxR := fs.Int("max", -1, "upper limit of the number of pods (required)")
	cpu := fs.Int("cpu-percent", -1, "target average CPU utilization, as a percentage of requests (default 80)")
	name := fs.String("name", "", "the autoscaler's name (default: the target's)")
	return func(ctx context.Context, c *ctl, pos []string) error {
		if len(pos) == 1 {
			if kind, n, ok := strings.Cut(pos[0], "/"); ok {
				pos = []string{kind, n}
			}
		}
		if len(pos) != 2 || *maxR < 1 {
			fmt.Fprintln(c.stderr, "usage: orch ctl autoscale deployment|replicaset|rc NAME --max N [--min N] [--cpu-percent P] [--name NAME] [-n NS]")
			return errUsage
		}
		r, ok := api.LookupResource(pos[0])
		if !ok {
			return fmt.Errorf("the server doesn't have a resource type %q", pos[0])
		}
		if !autoscalable(r.Kind) {
			return fmt.Errorf("cannot autoscale a %s", r.Kind)
		}
		if _, err := c.clients[r.Name].get(ctx, *ns, pos[1]); err != nil {
			return err
		}
		h := &api.HorizontalPodAutoscaler{ObjectMeta: api.ObjectMeta{Namespace: *ns, Name: *name},
			Spec: api.HorizontalPodAutoscalerSpec{MaxReplicas: int32(*maxR),
				ScaleTargetRef: api.CrossVersionObjectReference{APIVersion: r.APIVersion, Kind: r.Kind, Name: pos[1]}}}
		if h.Name == "" {
			h.Name = pos[1]
		}
		if *minR >= 0 {
			m := int32(*minR)
			h.Spec.MinReplicas = &m
		}
		if *cpu >= 0 {
			p := int32(*cpu)
			h.Spec.Metrics = []api.MetricSpec{{Type: api.ResourceMetricSourceType, Resource: &api.ResourceMetricSource{
				Name: "cpu", Target: api.MetricTarget{Type: api.UtilizationMetricType, AverageUtilization: &p}}}}
		}
		if _, err := registry.New[api.HorizontalPodAutoscaler](c.cli, registry.Config{}).Create(ctx, h); err != nil {
			return err
		}
		fmt.Fprintf(c.stdout, "horizontalpodautoscaler.autoscaling/%s autoscaled\n", h.Name)
		return nil
	}
}

// autoscalable tells the kinds `autoscale` accepts: those the autoscaler can scale.
func autoscalable(kind string) bool {
	switch kind {
	case "Deployment", "ReplicaSet", "ReplicationController", "StatefulSet":
		return true
	}
	return false
}
