package api

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Quota evaluation, as Kubernetes' quota evaluators (pkg/quota/v1/evaluator/core) and its
// ResourceQuota admission: what an object counts against a quota, and whether creating it
// fits. Pure functions: the registry applies them in the create transaction, the quota
// controller to recompute status.used.

// storageClassQuotaSuffix is the infix of the per-class claim quotas
// ("gold.storageclass.storage.k8s.io/requests.storage").
const storageClassQuotaSuffix = ".storageclass.storage.k8s.io/"

// CountResourceName is the object-count quota name of a resource, "count/<resource>.<group>"
// ("count/deployments.apps", "count/pods").
func CountResourceName(r Resource) string {
	if group, _, ok := strings.Cut(r.APIVersion, "/"); ok {
		return "count/" + r.Name + "." + group
	}
	return "count/" + r.Name
}

// legacyCountName is the quota name that counts r's objects without "count/" ("pods"), or "".
func legacyCountName(r Resource) string {
	switch r.Name {
	case "pods", "services", "replicationcontrollers", "resourcequotas", "secrets", "configmaps", "persistentvolumeclaims":
		return r.Name
	}
	return ""
}

var podComputeResources = []string{
	"cpu", "memory", "ephemeral-storage", "requests.cpu", "requests.memory", "requests.ephemeral-storage",
	"limits.cpu", "limits.memory", "limits.ephemeral-storage",
}

// quotaMatches tells whether the quota resource name counts objects of kind r
// (Kubernetes' evaluator MatchingResources).
func quotaMatches(r Resource, name string) bool {
	if name == CountResourceName(r) || name != "" && name == legacyCountName(r) {
		return true
	}
	switch r.Kind {
	case "Pod":
		return slices.Contains(podComputeResources, name)
	case "Service":
		return name == "services.nodeports" || name == "services.loadbalancers"
	case "PersistentVolumeClaim":
		return name == "requests.storage" || strings.Contains(name, storageClassQuotaSuffix)
	}
	return false
}

// PodCountsForQuota tells whether a pod counts against quota at now: not when Succeeded or
// Failed, nor once its graceful deletion's grace period has passed (Kubernetes' QuotaV1Pod).
func PodCountsForQuota(p *Pod, now time.Time) bool {
	if p.Status.Phase == "Succeeded" || p.Status.Phase == "Failed" {
		return false
	}
	if p.DeletionTimestamp != nil && p.DeletionGracePeriodSeconds != nil {
		end := p.DeletionTimestamp.Add(time.Duration(*p.DeletionGracePeriodSeconds) * time.Second)
		if now.After(end) {
			return false
		}
	}
	return true
}

// QuotaUsage returns what obj counts against a quota in its namespace, by quota resource
// name: 1 for its object counts; for a pod its requests (also as the "cpu"/"memory"
// aliases) and limits, nothing once terminal; for a Service its node ports and load
// balancers; for a claim its storage request, also per storage class.
func QuotaUsage(obj Object, now time.Time) ResourceList {
	r := ResourceOf(obj)
	one := Quantity("1")
	out := ResourceList{CountResourceName(r): one}
	if n := legacyCountName(r); n != "" {
		out[n] = one
	}
	switch o := obj.(type) {
	case *Pod:
		if !PodCountsForQuota(o, now) {
			return ResourceList{}
		}
		req, lim := PodResources(&o.Spec)
		for _, k := range []string{"cpu", "memory", "ephemeral-storage"} {
			if v, ok := req[k]; ok {
				out[k], out["requests."+k] = v, v
			}
			if v, ok := lim[k]; ok {
				out["limits."+k] = v
			}
		}
	case *Service:
		ports := 0
		if o.Spec.NeedsNodePorts() {
			ports = len(o.Spec.Ports)
		}
		out["services.nodeports"] = FormatQuantity(int64(ports)*1000, false)
		lb := int64(0)
		if o.Spec.Type == ServiceTypeLoadBalancer {
			lb = 1
		}
		out["services.loadbalancers"] = FormatQuantity(lb*1000, false)
	case *PersistentVolumeClaim:
		storage, ok := o.Spec.Resources.Requests["storage"]
		if ok {
			out["requests.storage"] = storage
		}
		if c := o.Spec.StorageClassName; c != nil && *c != "" {
			out[*c+storageClassQuotaSuffix+"persistentvolumeclaims"] = one
			if ok {
				out[*c+storageClassQuotaSuffix+"requests.storage"] = storage
			}
		}
	}
	return out
}

// quotaValidationSet are the resources a pod's every container must state when a quota
// limits them (Kubernetes' backward-compatible pod constraint).
var quotaValidationSet = []string{"cpu", "memory", "requests.cpu", "requests.memory", "limits.cpu", "limits.memory"}

// QuotaConstraints checks that every container of a pod states the compute resources of
// required that a quota limits, with Kubernetes' message ("must specify limits.cpu for: app;
// requests.memory for: app,side"). Other kinds have no constraint.
func QuotaConstraints(obj Object, required []string) error {
	pod, ok := obj.(*Pod)
	if !ok {
		return nil
	}
	missing := map[string][]string{}
	for _, cs := range [][]Container{pod.Spec.Containers, pod.Spec.InitContainers} {
		for _, c := range cs {
			for _, name := range required {
				if !slices.Contains(quotaValidationSet, name) {
					continue
				}
				res, rl := name, c.Resources.Requests
				if k, ok := strings.CutPrefix(name, "requests."); ok {
					res = k
				} else if k, ok := strings.CutPrefix(name, "limits."); ok {
					res, rl = k, c.Resources.Limits
				}
				if _, ok := rl[res]; !ok && !slices.Contains(missing[name], c.Name) {
					missing[name] = append(missing[name], c.Name)
				}
			}
		}
	}
	if len(missing) == 0 {
		return nil
	}
	var msgs []string
	for _, name := range sortedKeys(missing) {
		slices.Sort(missing[name])
		msgs = append(msgs, name+" for: "+strings.Join(missing[name], ","))
	}
	return fmt.Errorf("must specify %s", strings.Join(msgs, "; "))
}

// AdmitQuota checks the creation of obj against one quota of its namespace, as Kubernetes'
// ResourceQuota admission does, against spec.hard (Kubernetes enforces status.hard, which
// its controller copies from spec.hard: enforcing spec.hard applies a new or lowered limit
// at once) and status.used. It returns the quota's
// new status.used, or nil when obj does not count against the quota (nothing to update).
// The error is Kubernetes' message: "failed quota: NAME: must specify ...", "status unknown
// for quota: NAME, resource: ..." (the quota controller has not computed its usage yet), or
// "exceeded quota: NAME, requested: pods=1, used: pods=10, limited: pods=10"; wrap it in a
// ForbiddenError.
func AdmitQuota(q *ResourceQuota, obj Object, now time.Time) (ResourceList, error) {
	r := ResourceOf(obj)
	var matching []string
	for _, name := range sortedKeys(q.Spec.Hard) {
		if quotaMatches(r, name) {
			matching = append(matching, name)
		}
	}
	if len(matching) == 0 {
		return nil, nil
	}
	if err := QuotaConstraints(obj, matching); err != nil {
		return nil, fmt.Errorf("failed quota: %s: %w", q.Name, err)
	}
	for _, name := range matching {
		if _, ok := q.Status.Used[name]; !ok {
			return nil, fmt.Errorf("status unknown for quota: %s, resource: %s", q.Name, strings.Join(matching, ","))
		}
	}
	usage := QuotaUsage(obj, now)
	requested := ResourceList{}
	for _, name := range matching {
		if v, ok := usage[name]; ok && v.MilliValue() != 0 {
			requested[name] = v
		}
	}
	if len(requested) == 0 {
		return nil, nil
	}
	used := ResourceList{}
	for k, v := range q.Status.Used {
		used[k] = v
	}
	var exceeded []string
	for _, name := range sortedKeys(requested) {
		used[name] = AddQuantities(used[name], requested[name])
		if used[name].MilliValue() > q.Spec.Hard[name].MilliValue() {
			exceeded = append(exceeded, name)
		}
	}
	if len(exceeded) > 0 {
		return nil, fmt.Errorf("exceeded quota: %s, requested: %s, used: %s, limited: %s", q.Name,
			printMasked(requested, exceeded), printMasked(q.Status.Used, exceeded), printMasked(q.Spec.Hard, exceeded))
	}
	return used, nil
}

// printMasked prints rl's names (sorted) as "a=1,b=2Gi".
func printMasked(rl ResourceList, names []string) string {
	parts := make([]string, 0, len(names))
	for _, n := range names {
		parts = append(parts, n+"="+string(rl[n].Canonical()))
	}
	return strings.Join(parts, ",")
}

// AddQuantities returns a+b in canonical form, binary when either is written in binary.
func AddQuantities(a, b Quantity) Quantity {
	return FormatQuantity(a.MilliValue()+b.MilliValue(), isBinary(a) || isBinary(b))
}

// QuotaUsed returns status.used for the resources of hard, summed over objs (the
// namespace's objects of every kind hard counts; each hard resource gets a value, "0"
// when nothing counts), as the quota controller recomputes it. counts gives, for count
// resources of kinds not in objs, the number of objects ("count/deployments.apps": 3).
func QuotaUsed(hard ResourceList, objs []Object, counts map[string]int64, now time.Time) ResourceList {
	milli, binary := map[string]int64{}, map[string]bool{}
	for name := range hard {
		milli[name] += counts[name] * 1000
	}
	for _, o := range objs {
		for name, v := range QuotaUsage(o, now) {
			if _, ok := hard[name]; ok {
				milli[name] += v.MilliValue()
				binary[name] = binary[name] || isBinary(v)
			}
		}
	}
	out := ResourceList{}
	for name := range hard {
		out[name] = FormatQuantity(milli[name], binary[name] || isBinary(hard[name]))
	}
	return out
}
