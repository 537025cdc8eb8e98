package api

import (
	"fmt"
	"slices"
	"strings"
)

// LimitRange and ResourceQuota (v1): the namespace policies applied where objects are written
// (docs/ORCHESTRATOR.md "LimitRange and ResourceQuota"). The admission functions are in
// limitrange.go and quota.go.

// LimitRange sets defaults and bounds of compute and storage per Container, Pod or
// PersistentVolumeClaim in its namespace (v1).
type LimitRange struct {
	TypeMeta   `json:",inline"`
	ObjectMeta `json:"metadata"`
	Spec       LimitRangeSpec `json:"spec"`
}

// LimitRangeSpec lists the limits.
type LimitRangeSpec struct {
	Limits []LimitRangeItem `json:"limits"`
}

// LimitRangeItem bounds one type of object.
type LimitRangeItem struct {
	// Type is Container, Pod or PersistentVolumeClaim.
	Type                 string       `json:"type"`
	Max                  ResourceList `json:"max,omitempty"`
	Min                  ResourceList `json:"min,omitempty"`
	Default              ResourceList `json:"default,omitempty"`
	DefaultRequest       ResourceList `json:"defaultRequest,omitempty"`
	MaxLimitRequestRatio ResourceList `json:"maxLimitRequestRatio,omitempty"`
}

// LimitRange types.
const (
	LimitTypePod                   = "Pod"
	LimitTypeContainer             = "Container"
	LimitTypePersistentVolumeClaim = "PersistentVolumeClaim"
)

// ResourceQuota caps the aggregate usage of its namespace (v1). The registry enforces
// spec.hard against status.used in the transaction of every create (AdmitQuota); the quota
// controller copies spec.hard to status.hard and recomputes status.used.
type ResourceQuota struct {
	TypeMeta   `json:",inline"`
	ObjectMeta `json:"metadata"`
	Spec       ResourceQuotaSpec   `json:"spec,omitzero"`
	Status     ResourceQuotaStatus `json:"status,omitzero"`
}

// ResourceQuotaSpec is the desired hard limits. Scopes and ScopeSelector are refused by
// validation (not built).
type ResourceQuotaSpec struct {
	Hard          ResourceList   `json:"hard,omitempty"`
	Scopes        []string       `json:"scopes,omitempty"`
	ScopeSelector *ScopeSelector `json:"scopeSelector,omitempty"`
}

// ScopeSelector is Kubernetes' quota scope selector; it is decoded so a manifest with one is
// refused by validation with a clear error, not as an unknown field.
type ScopeSelector struct {
	MatchExpressions []ScopedResourceSelectorRequirement `json:"matchExpressions,omitempty"`
}

// ScopedResourceSelectorRequirement is one scope expression (scopeName PriorityClass, ...).
type ScopedResourceSelectorRequirement struct {
	ScopeName string   `json:"scopeName"`
	Operator  string   `json:"operator"`
	Values    []string `json:"values,omitempty"`
}

// ResourceQuotaStatus is the enforced hard limits and the observed usage.
type ResourceQuotaStatus struct {
	Hard ResourceList `json:"hard,omitempty"`
	Used ResourceList `json:"used,omitempty"`
}

// The resources of this file.
var (
	LimitRangeResource    = Resource{Name: "limitranges", Kind: "LimitRange", APIVersion: "v1", Namespaced: true, ShortNames: []string{"limits"}}
	ResourceQuotaResource = Resource{Name: "resourcequotas", Kind: "ResourceQuota", APIVersion: "v1", Namespaced: true, HasStatus: true, ShortNames: []string{"quota"}}
)

// standardQuotaResources are the quota resource names without a "/" that Kubernetes accepts
// (IsStandardQuotaResourceName), besides count/* and <class>.storageclass.storage.k8s.io/*.
var standardQuotaResources = []string{
	"pods", "services", "replicationcontrollers", "resourcequotas", "secrets", "configmaps",
	"persistentvolumeclaims", "services.nodeports", "services.loadbalancers",
	"cpu", "memory", "ephemeral-storage", "requests.cpu", "requests.memory",
	"requests.ephemeral-storage", "requests.storage", "limits.cpu", "limits.memory",
	"limits.ephemeral-storage",
}

// integerQuotaResources are counted in whole objects.
func integerQuotaResource(name string) bool {
	switch name {
	case "pods", "services", "replicationcontrollers", "resourcequotas", "secrets", "configmaps",
		"persistentvolumeclaims", "services.nodeports", "services.loadbalancers":
		return true
	}
	return strings.HasPrefix(name, "count/") || strings.HasSuffix(name, ".storageclass.storage.k8s.io/persistentvolumeclaims")
}

func validateResourceQuota(q *ResourceQuota) ErrorList {
	var errs ErrorList
	p := Path("spec.hard")
	for _, name := range sortedKeys(q.Spec.Hard) {
		switch {
		case strings.Contains(name, "/"):
			if i := strings.Index(name, "/"); i == 0 || i == len(name)-1 {
				errs = append(errs, invalid(p.Key(name), name, "must be a standard resource for quota"))
			}
		case !slices.Contains(standardQuotaResources, name):
			errs = append(errs, invalid(p.Key(name), name, "must be a standard resource for quota"))
		}
		v, err := ParseQuantity(string(q.Spec.Hard[name]))
		switch {
		case err != nil:
			errs = append(errs, invalid(p.Key(name), string(q.Spec.Hard[name]), "must be a quantity such as 100m, 0.5, 128Mi or 1G"))
		case v < 0:
			errs = append(errs, invalid(p.Key(name), string(q.Spec.Hard[name]), "must be greater than or equal to 0"))
		case integerQuotaResource(name) && v%1000 != 0:
			errs = append(errs, invalid(p.Key(name), string(q.Spec.Hard[name]), "must be an integer"))
		}
	}
	if len(q.Spec.Scopes) > 0 {
		errs = append(errs, forbidden("spec.scopes", "quota scopes are not supported by this server"))
	}
	if q.Spec.ScopeSelector != nil {
		errs = append(errs, forbidden("spec.scopeSelector", "quota scopes are not supported by this server"))
	}
	errs = append(errs, validateResources(q.Status.Hard, "status.hard")...)
	errs = append(errs, validateResources(q.Status.Used, "status.used")...)
	return errs
}

var limitTypes = []string{LimitTypePod, LimitTypeContainer, LimitTypePersistentVolumeClaim}

// validateLimitRange checks the items as Kubernetes' ValidateLimitRange: for each resource,
// min <= defaultRequest <= default <= max, and maxLimitRequestRatio >= 1 and <= max/min.
func validateLimitRange(lr *LimitRange) ErrorList {
	var errs ErrorList
	for i, it := range lr.Spec.Limits {
		p := Path("spec.limits").Index(i)
		if !slices.Contains(limitTypes, it.Type) {
			errs = append(errs, notSupported(p.Child("type"), it.Type, limitTypes...))
		}
		for _, f := range []struct {
			name string
			rl   ResourceList
		}{{"max", it.Max}, {"min", it.Min}, {"default", it.Default}, {"defaultRequest", it.DefaultRequest}, {"maxLimitRequestRatio", it.MaxLimitRequestRatio}} {
			errs = append(errs, validateResources(f.rl, p.Child(f.name))...)
		}
		if it.Type == LimitTypePod {
			if len(it.Default) > 0 {
				errs = append(errs, forbidden(p.Child("default"), "may not be specified when `type` is 'Pod'"))
			}
			if len(it.DefaultRequest) > 0 {
				errs = append(errs, forbidden(p.Child("defaultRequest"), "may not be specified when `type` is 'Pod'"))
			}
		}
		if it.Type == LimitTypePersistentVolumeClaim {
			_, minOK := it.Min["storage"]
			_, maxOK := it.Max["storage"]
			if !minOK && !maxOK {
				errs = append(errs, required(p.Child("limits"), "either minimum or maximum storage value is required, but neither was provided"))
			}
		}
		errs = append(errs, validateLimitItemOrder(it, p)...)
	}
	return errs
}

// validateLimitItemOrder checks min <= defaultRequest <= default <= max and the ratio.
func validateLimitItemOrder(it LimitRangeItem, p Path) ErrorList {
	var errs ErrorList
	names := map[string]bool{}
	for _, rl := range []ResourceList{it.Max, it.Min, it.Default, it.DefaultRequest, it.MaxLimitRequestRatio} {
		for k := range rl {
			names[k] = true
		}
	}
	for _, k := range sortedKeys(names) {
		mn, hasMin := it.Min[k]
		mx, hasMax := it.Max[k]
		df, hasDef := it.Default[k]
		dr, hasDR := it.DefaultRequest[k]
		ratio, hasRatio := it.MaxLimitRequestRatio[k]
		if hasMin && hasMax && mn.MilliValue() > mx.MilliValue() {
			errs = append(errs, invalid(p.Child("min").Key(k), string(mn), fmt.Sprintf("min value %s is greater than max value %s", mn, mx)))
		}
		if hasDR {
			if hasMin && mn.MilliValue() > dr.MilliValue() {
				errs = append(errs, invalid(p.Child("defaultRequest").Key(k), string(dr), fmt.Sprintf("min value %s is greater than default request value %s", mn, dr)))
			}
			if hasMax && dr.MilliValue() > mx.MilliValue() {
				errs = append(errs, invalid(p.Child("defaultRequest").Key(k), string(dr), fmt.Sprintf("default request value %s is greater than max value %s", dr, mx)))
			}
			if hasDef && dr.MilliValue() > df.MilliValue() {
				errs = append(errs, invalid(p.Child("defaultRequest").Key(k), string(dr), fmt.Sprintf("default request value %s is greater than default limit value %s", dr, df)))
			}
		}
		if hasDef {
			if hasMin && mn.MilliValue() > df.MilliValue() {
				errs = append(errs, invalid(p.Child("default").Key(k), string(df), fmt.Sprintf("min value %s is greater than default value %s", mn, df)))
			}
			if hasMax && df.MilliValue() > mx.MilliValue() {
				errs = append(errs, invalid(p.Child("default").Key(k), string(df), fmt.Sprintf("default value %s is greater than max value %s", df, mx)))
			}
		}
		if hasRatio {
			if ratio.MilliValue() < 1000 {
				errs = append(errs, invalid(p.Child("maxLimitRequestRatio").Key(k), string(ratio), fmt.Sprintf("ratio %s is less than 1", ratio)))
			}
			if hasMin && hasMax && mn.MilliValue() > 0 {
				maxRatio := float64(mx.MilliValue()) / float64(mn.MilliValue())
				if float64(ratio.MilliValue())/1000 > maxRatio {
					errs = append(errs, invalid(p.Child("maxLimitRequestRatio").Key(k), string(ratio), fmt.Sprintf("ratio %s is greater than max/min = %f", ratio, maxRatio)))
				}
			}
		}
	}
	return errs
}
