package api

import (
	"slices"
	"strconv"
)

// PodFailurePolicy decides what a failed pod of a Job means, before backoffLimit counts it:
// the first rule matching the pod's exit codes or conditions applies its action.
type PodFailurePolicy struct {
	Rules []PodFailurePolicyRule `json:"rules"`
}

// PodFailurePolicyRule is one rule: exactly one of onExitCodes and onPodConditions.
type PodFailurePolicyRule struct {
	Action          string                                   `json:"action"`
	OnExitCodes     *PodFailurePolicyOnExitCodesRequirement  `json:"onExitCodes,omitempty"`
	OnPodConditions []PodFailurePolicyOnPodConditionsPattern `json:"onPodConditions,omitempty"`
}

// Pod failure policy actions (FailIndex needs backoffLimitPerIndex, which Keel lacks).
const (
	PodFailurePolicyFailJob = "FailJob"
	PodFailurePolicyIgnore  = "Ignore"
	PodFailurePolicyCount   = "Count"
)

// PodFailurePolicyOnExitCodesRequirement matches a failed pod by its containers' non-zero
// exit codes: In or NotIn values, for one container or any.
type PodFailurePolicyOnExitCodesRequirement struct {
	ContainerName *string `json:"containerName,omitempty"`
	Operator      string  `json:"operator"`
	Values        []int32 `json:"values"`
}

// PodFailurePolicyOnPodConditionsPattern matches a failed pod by a condition (type and
// status, default True).
type PodFailurePolicyOnPodConditionsPattern struct {
	Type   string `json:"type"`
	Status string `json:"status,omitempty"`
}

// JobReasonPodFailurePolicy is the reason of the Failed condition a FailJob rule gives.
const JobReasonPodFailurePolicy = "PodFailurePolicy"

func defaultPodFailurePolicy(pfp *PodFailurePolicy) {
	if pfp == nil {
		return
	}
	for i := range pfp.Rules {
		for j := range pfp.Rules[i].OnPodConditions {
			if c := &pfp.Rules[i].OnPodConditions[j]; c.Status == "" {
				c.Status = ConditionTrue
			}
		}
	}
}

// validatePodFailurePolicy applies Kubernetes' rules (pkg/apis/batch/validation).
func validatePodFailurePolicy(s *JobSpec, spec Path) ErrorList {
	pfp := s.PodFailurePolicy
	if pfp == nil {
		return nil
	}
	var errs ErrorList
	if rp := s.Template.Spec.RestartPolicy; rp != RestartNever {
		errs = append(errs, invalid(spec.Child("template.spec.restartPolicy"), rp, `only "Never" is supported when podFailurePolicy is specified`))
	}
	rp := spec.Child("podFailurePolicy.rules")
	if len(pfp.Rules) > 20 {
		errs = append(errs, &FieldError{Field: string(rp), Type: ErrorTooLong, Detail: "must have at most 20 items"})
	}
	actions := []string{PodFailurePolicyCount, PodFailurePolicyFailJob, PodFailurePolicyIgnore}
	for i, r := range pfp.Rules {
		ip := rp.Index(i)
		if !slices.Contains(actions, r.Action) {
			errs = append(errs, notSupported(ip.Child("action"), r.Action, actions...))
		}
		switch {
		case r.OnExitCodes != nil && len(r.OnPodConditions) > 0:
			errs = append(errs, invalid(ip, nil, "specifying both OnExitCodes and OnPodConditions is not supported"))
		case r.OnExitCodes == nil && len(r.OnPodConditions) == 0:
			errs = append(errs, invalid(ip, nil, "specifying one of OnExitCodes and OnPodConditions is required"))
		case r.OnExitCodes != nil:
			errs = append(errs, validateOnExitCodes(r.OnExitCodes, ip.Child("onExitCodes"))...)
		}
		for j, c := range r.OnPodConditions {
			cp := ip.Child("onPodConditions").Index(j)
			if c.Type == "" {
				errs = append(errs, required(cp.Child("type"), ""))
			}
			if !slices.Contains([]string{ConditionTrue, ConditionFalse, ConditionUnknown}, c.Status) {
				errs = append(errs, notSupported(cp.Child("status"), c.Status, ConditionTrue, ConditionFalse, ConditionUnknown))
			}
		}
	}
	return errs
}

func validateOnExitCodes(r *PodFailurePolicyOnExitCodesRequirement, p Path) ErrorList {
	var errs ErrorList
	if r.Operator != "In" && r.Operator != "NotIn" {
		errs = append(errs, notSupported(p.Child("operator"), r.Operator, "In", "NotIn"))
	}
	vp := p.Child("values")
	switch {
	case len(r.Values) == 0:
		errs = append(errs, invalid(vp, nil, "at least one value is required"))
	case len(r.Values) > 255:
		errs = append(errs, &FieldError{Field: string(vp), Type: ErrorTooLong, Detail: "must have at most 255 items"})
	}
	for i, v := range r.Values {
		if r.Operator == "In" && v == 0 {
			errs = append(errs, invalid(vp.Index(i), strconv.Itoa(int(v)), "must not be 0 for the In operator"))
		}
		if i > 0 && r.Values[i-1] == v {
			errs = append(errs, &FieldError{Field: string(vp.Index(i)), Type: ErrorDuplicate, Value: v})
		} else if i > 0 && r.Values[i-1] > v {
			errs = append(errs, invalid(vp.Index(i), v, "must be ordered"))
		}
	}
	return errs
}
