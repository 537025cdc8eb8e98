package api

// HorizontalPodAutoscaler scales a workload's spec.replicas on its pods' resource usage
// (autoscaling/v2, short name hpa).
type HorizontalPodAutoscaler struct {
	TypeMeta   `json:",inline"`
	ObjectMeta `json:"metadata"`
	Spec       HorizontalPodAutoscalerSpec   `json:"spec,omitzero"`
	Status     HorizontalPodAutoscalerStatus `json:"status,omitzero"`
}

// HorizontalPodAutoscalerSpec is the autoscaler's desired state. MinReplicas defaults to
// 1 and Metrics to cpu at 80% average utilization, as in Kubernetes.
type HorizontalPodAutoscalerSpec struct {
	ScaleTargetRef CrossVersionObjectReference      `json:"scaleTargetRef"`
	MinReplicas    *int32                           `json:"minReplicas,omitempty"`
	MaxReplicas    int32                            `json:"maxReplicas"`
	Metrics        []MetricSpec                     `json:"metrics,omitempty"`
	Behavior       *HorizontalPodAutoscalerBehavior `json:"behavior,omitempty"`
}

// CrossVersionObjectReference names the scaled object.
type CrossVersionObjectReference struct {
	Kind       string `json:"kind"`
	Name       string `json:"name"`
	APIVersion string `json:"apiVersion,omitempty"`
}

// Metric source and target types. Only Resource metrics are supported.
const (
	ResourceMetricSourceType = "Resource"

	UtilizationMetricType  = "Utilization"
	AverageValueMetricType = "AverageValue"
	ValueMetricType        = "Value"
)

// MetricSpec is one metric the autoscaler scales on.
type MetricSpec struct {
	Type     string                `json:"type"`
	Resource *ResourceMetricSource `json:"resource,omitempty"`
}

// ResourceMetricSource is a resource (cpu, memory) averaged over the target's pods.
type ResourceMetricSource struct {
	Name   string       `json:"name"`
	Target MetricTarget `json:"target"`
}

// MetricTarget is a metric's target value: AverageUtilization is a percentage of the
// pods' requests; AverageValue an absolute quantity per pod.
type MetricTarget struct {
	Type               string    `json:"type"`
	Value              *Quantity `json:"value,omitempty"`
	AverageValue       *Quantity `json:"averageValue,omitempty"`
	AverageUtilization *int32    `json:"averageUtilization,omitempty"`
}

// HorizontalPodAutoscalerBehavior configures scaling up and down separately.
type HorizontalPodAutoscalerBehavior struct {
	ScaleUp   *HPAScalingRules `json:"scaleUp,omitempty"`
	ScaleDown *HPAScalingRules `json:"scaleDown,omitempty"`
}

// Scaling policy types and select policies.
const (
	PodsScalingPolicy    = "Pods"
	PercentScalingPolicy = "Percent"

	MaxChangePolicySelect = "Max"
	MinChangePolicySelect = "Min"
	DisabledPolicySelect  = "Disabled"
)

// HPAScalingRules is one direction's stabilization window and rate policies.
type HPAScalingRules struct {
	StabilizationWindowSeconds *int32             `json:"stabilizationWindowSeconds,omitempty"`
	SelectPolicy               *string            `json:"selectPolicy,omitempty"`
	Policies                   []HPAScalingPolicy `json:"policies,omitempty"`
}

// HPAScalingPolicy allows a change of Value pods (or Value percent of the replicas)
// within PeriodSeconds.
type HPAScalingPolicy struct {
	Type          string `json:"type"`
	Value         int32  `json:"value"`
	PeriodSeconds int32  `json:"periodSeconds"`
}

// HorizontalPodAutoscalerStatus is the autoscaler's observed state.
type HorizontalPodAutoscalerStatus struct {
	ObservedGeneration *int64                             `json:"observedGeneration,omitempty"`
	LastScaleTime      *Time                              `json:"lastScaleTime,omitempty"`
	CurrentReplicas    int32                              `json:"currentReplicas,omitempty"`
	DesiredReplicas    int32                              `json:"desiredReplicas"`
	CurrentMetrics     []MetricStatus                     `json:"currentMetrics,omitempty"`
	Conditions         []HorizontalPodAutoscalerCondition `json:"conditions,omitempty"`
}

// MetricStatus is one metric's last observed value.
type MetricStatus struct {
	Type     string                `json:"type"`
	Resource *ResourceMetricStatus `json:"resource,omitempty"`
}

// ResourceMetricStatus is a resource metric's observed value.
type ResourceMetricStatus struct {
	Name    string            `json:"name"`
	Current MetricValueStatus `json:"current"`
}

// MetricValueStatus is an observed metric value.
type MetricValueStatus struct {
	Value              *Quantity `json:"value,omitempty"`
	AverageValue       *Quantity `json:"averageValue,omitempty"`
	AverageUtilization *int32    `json:"averageUtilization,omitempty"`
}

// Autoscaler condition types.
const (
	AbleToScale    = "AbleToScale"
	ScalingActive  = "ScalingActive"
	ScalingLimited = "ScalingLimited"
)

// HorizontalPodAutoscalerCondition is one autoscaler condition.
type HorizontalPodAutoscalerCondition struct {
	Type               string `json:"type"`
	Status             string `json:"status"`
	LastTransitionTime Time   `json:"lastTransitionTime,omitzero"`
	Reason             string `json:"reason,omitempty"`
	Message            string `json:"message,omitempty"`
}

// DefaultScaleUpRules and DefaultScaleDownRules are Kubernetes' behavior defaults: up by
// the larger of 100% or 4 pods per 15 s with no stabilization; down by up to 100% per
// 15 s after a 300 s stabilization window.
func DefaultScaleUpRules() *HPAScalingRules {
	return &HPAScalingRules{StabilizationWindowSeconds: ptr(int32(0)), SelectPolicy: ptr(MaxChangePolicySelect),
		Policies: []HPAScalingPolicy{{Type: PercentScalingPolicy, Value: 100, PeriodSeconds: 15},
			{Type: PodsScalingPolicy, Value: 4, PeriodSeconds: 15}}}
}

// DefaultScaleDownRules: see DefaultScaleUpRules.
func DefaultScaleDownRules() *HPAScalingRules {
	return &HPAScalingRules{StabilizationWindowSeconds: ptr(int32(300)), SelectPolicy: ptr(MaxChangePolicySelect),
		Policies: []HPAScalingPolicy{{Type: PercentScalingPolicy, Value: 100, PeriodSeconds: 15}}}
}

func defaultHorizontalPodAutoscaler(s *HorizontalPodAutoscalerSpec) {
	if s.MinReplicas == nil {
		s.MinReplicas = ptr(int32(1))
	}
	if len(s.Metrics) == 0 {
		s.Metrics = []MetricSpec{{Type: ResourceMetricSourceType, Resource: &ResourceMetricSource{Name: "cpu",
			Target: MetricTarget{Type: UtilizationMetricType, AverageUtilization: ptr(int32(80))}}}}
	}
	if b := s.Behavior; b != nil {
		b.ScaleUp = defaultRules(b.ScaleUp, DefaultScaleUpRules())
		b.ScaleDown = defaultRules(b.ScaleDown, DefaultScaleDownRules())
	}
}

// defaultRules fills r's unset fields from def, as Kubernetes defaults a behavior that is
// only partly given.
func defaultRules(r, def *HPAScalingRules) *HPAScalingRules {
	if r == nil {
		return def
	}
	if r.StabilizationWindowSeconds == nil {
		r.StabilizationWindowSeconds = def.StabilizationWindowSeconds
	}
	if r.SelectPolicy == nil {
		r.SelectPolicy = def.SelectPolicy
	}
	if len(r.Policies) == 0 {
		r.Policies = def.Policies
	}
	return r
}

func validateHorizontalPodAutoscaler(s *HorizontalPodAutoscalerSpec, p Path) ErrorList {
	var errs ErrorList
	rp := p.Child("scaleTargetRef")
	if s.ScaleTargetRef.Kind == "" {
		errs = append(errs, required(rp.Child("kind"), ""))
	}
	if s.ScaleTargetRef.Name == "" {
		errs = append(errs, required(rp.Child("name"), ""))
	} else if !dnsSubdomainRe.MatchString(s.ScaleTargetRef.Name) {
		errs = append(errs, invalid(rp.Child("name"), s.ScaleTargetRef.Name, "must be a DNS subdomain (lowercase alphanumerics, '-' and '.', at most 253)"))
	}
	minR := int32(1)
	if s.MinReplicas != nil {
		minR = *s.MinReplicas
		if minR < 1 {
			errs = append(errs, invalid(p.Child("minReplicas"), minR, "must be greater than or equal to 1"))
		}
	}
	if s.MaxReplicas < minR {
		errs = append(errs, invalid(p.Child("maxReplicas"), s.MaxReplicas, "must be greater than or equal to `minReplicas`"))
	}
	for i, m := range s.Metrics {
		errs = append(errs, validateMetricSpec(m, p.Child("metrics").Index(i))...)
	}
	if b := s.Behavior; b != nil {
		bp := p.Child("behavior")
		errs = append(errs, validateScalingRules(b.ScaleUp, bp.Child("scaleUp"))...)
		errs = append(errs, validateScalingRules(b.ScaleDown, bp.Child("scaleDown"))...)
	}
	return errs
}

func validateMetricSpec(m MetricSpec, p Path) ErrorList {
	if m.Type != ResourceMetricSourceType {
		return ErrorList{notSupported(p.Child("type"), m.Type, ResourceMetricSourceType)}
	}
	rp := p.Child("resource")
	if m.Resource == nil {
		return ErrorList{required(rp, "must populate information for the given metric source")}
	}
	var errs ErrorList
	if n := m.Resource.Name; n != "cpu" && n != "memory" {
		errs = append(errs, notSupported(rp.Child("name"), n, "cpu", "memory"))
	}
	t, tp := m.Resource.Target, rp.Child("target")
	switch t.Type {
	case UtilizationMetricType:
		if t.AverageUtilization == nil {
			errs = append(errs, required(tp.Child("averageUtilization"), "must set a target utilization for target type Utilization"))
		} else if *t.AverageUtilization < 1 {
			errs = append(errs, invalid(tp.Child("averageUtilization"), *t.AverageUtilization, "must be greater than 0"))
		}
	case AverageValueMetricType:
		if t.AverageValue == nil {
			errs = append(errs, required(tp.Child("averageValue"), "must set a target average value for target type AverageValue"))
		} else if v, err := ParseQuantity(string(*t.AverageValue)); err != nil {
			errs = append(errs, invalid(tp.Child("averageValue"), *t.AverageValue, err.Error()))
		} else if v <= 0 {
			errs = append(errs, invalid(tp.Child("averageValue"), *t.AverageValue, "must be positive"))
		}
	default:
		errs = append(errs, notSupported(tp.Child("type"), t.Type, UtilizationMetricType, AverageValueMetricType))
	}
	return errs
}

func validateScalingRules(r *HPAScalingRules, p Path) ErrorList {
	if r == nil {
		return nil
	}
	var errs ErrorList
	if w := r.StabilizationWindowSeconds; w != nil && (*w < 0 || *w > 3600) {
		errs = append(errs, invalid(p.Child("stabilizationWindowSeconds"), *w, "must be between 0 and 3600 seconds"))
	}
	if sp := r.SelectPolicy; sp != nil && *sp != MaxChangePolicySelect && *sp != MinChangePolicySelect && *sp != DisabledPolicySelect {
		errs = append(errs, notSupported(p.Child("selectPolicy"), *sp, MaxChangePolicySelect, MinChangePolicySelect, DisabledPolicySelect))
	}
	if len(r.Policies) == 0 {
		errs = append(errs, required(p.Child("policies"), "must specify at least one Policy"))
	}
	for i, pol := range r.Policies {
		pp := p.Child("policies").Index(i)
		if pol.Type != PodsScalingPolicy && pol.Type != PercentScalingPolicy {
			errs = append(errs, notSupported(pp.Child("type"), pol.Type, PodsScalingPolicy, PercentScalingPolicy))
		}
		if pol.Value <= 0 {
			errs = append(errs, invalid(pp.Child("value"), pol.Value, "must be greater than zero"))
		}
		if pol.PeriodSeconds <= 0 || pol.PeriodSeconds > 1800 {
			errs = append(errs, invalid(pp.Child("periodSeconds"), pol.PeriodSeconds, "must be greater than zero and less than or equal to 1800"))
		}
	}
	return errs
}
