package api

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// LimitRangerAnnotation records on a pod which defaults its namespace's LimitRanges set.
const LimitRangerAnnotation = "kubernetes.io/limit-ranger"

// defaultLimitRange fills a Container item's missing defaults as Kubernetes' v1 defaulting:
// default from max, then defaultRequest from default.
func defaultLimitRange(lr *LimitRange) {
	for i := range lr.Spec.Limits {
		it := &lr.Spec.Limits[i]
		if it.Type != LimitTypeContainer {
			continue
		}
		for k, v := range it.Max {
			if _, ok := it.Default[k]; !ok {
				if it.Default == nil {
					it.Default = ResourceList{}
				}
				it.Default[k] = v
			}
		}
		for k, v := range it.Default {
			if _, ok := it.DefaultRequest[k]; !ok {
				if it.DefaultRequest == nil {
					it.DefaultRequest = ResourceList{}
				}
				it.DefaultRequest[k] = v
			}
		}
	}
}

// AdmitPodLimits is Kubernetes' LimitRanger admission of a pod being created in the
// namespace of lrs. For each LimitRange in turn it injects the Container items' default
// limits and default requests into the containers (init containers too) that lack them,
// annotating the pod (LimitRangerAnnotation), then checks the Container items' min, max and
// maxLimitRequestRatio on every container and the Pod items' on the pod's total (the sum of
// its containers, or its largest init container when larger). The pod's QoS class must be
// recomputed afterwards. The error carries Kubernetes' messages ("Maximum memory usage per
// Container is 1Gi, but limit is 2Gi."), several in brackets as its aggregate prints them;
// wrap it in a ForbiddenError.
func AdmitPodLimits(lrs []*LimitRange, pod *Pod) error {
	var errs []error
	for _, lr := range lrs {
		defaultPodLimits(lr, pod)
		for _, it := range lr.Spec.Limits {
			switch it.Type {
			case LimitTypeContainer:
				for _, cs := range [][]Container{pod.Spec.InitContainers, pod.Spec.Containers} {
					for _, c := range cs {
						errs = append(errs, checkLimitItem(it, c.Resources.Requests, c.Resources.Limits)...)
					}
				}
			case LimitTypePod:
				req, lim := PodResources(&pod.Spec)
				errs = append(errs, checkLimitItem(it, stated(pod, req, true), stated(pod, lim, false))...)
			}
		}
	}
	return aggregate(errs)
}

// AdmitClaimLimits checks a PersistentVolumeClaim's storage request against the
// PersistentVolumeClaim items' min and max of lrs, with Kubernetes' messages.
func AdmitClaimLimits(lrs []*LimitRange, pvc *PersistentVolumeClaim) error {
	var errs []error
	req := pvc.Spec.Resources.Requests
	for _, lr := range lrs {
		for _, it := range lr.Spec.Limits {
			if it.Type != LimitTypePersistentVolumeClaim {
				continue
			}
			for _, k := range sortedKeys(it.Min) {
				if err := minConstraint(it.Type, k, it.Min[k], req, nil); err != nil {
					errs = append(errs, err)
				}
			}
			for _, k := range sortedKeys(it.Max) {
				r, ok := req[k]
				switch {
				case !ok:
					errs = append(errs, fmt.Errorf("Maximum %s usage per %s is %s.  No request is specified.", k, it.Type, it.Max[k]))
				case r.MilliValue() > it.Max[k].MilliValue():
					errs = append(errs, fmt.Errorf("Maximum %s usage per %s is %s, but request is %s.", k, it.Type, it.Max[k], r))
				}
			}
		}
	}
	return aggregate(errs)
}

// stated keeps the resources of total that every container of pod states, in its requests
// (or its limits): a Pod item checks a total only when it is known, as Kubernetes'.
func stated(pod *Pod, total ResourceList, requests bool) ResourceList {
	out := ResourceList{}
	for k, v := range total {
		all := true
		for _, cs := range [][]Container{pod.Spec.InitContainers, pod.Spec.Containers} {
			for _, c := range cs {
				rl := c.Resources.Limits
				if requests {
					rl = c.Resources.Requests
				}
				if _, ok := rl[k]; !ok {
					all = false
				}
			}
		}
		if all {
			out[k] = v
		}
	}
	return out
}

// aggregate renders errors as Kubernetes' utilerrors aggregate: one as itself, several
// as "[a, b]".
func aggregate(errs []error) error {
	switch len(errs) {
	case 0:
		return nil
	case 1:
		return errs[0]
	}
	msgs := make([]string, len(errs))
	for i, e := range errs {
		msgs[i] = e.Error()
	}
	return errors.New("[" + strings.Join(msgs, ", ") + "]")
}

// defaultPodLimits injects lr's Container defaults into pod's containers.
func defaultPodLimits(lr *LimitRange, pod *Pod) {
	defLim, defReq := ResourceList{}, ResourceList{}
	for _, it := range lr.Spec.Limits {
		if it.Type == LimitTypeContainer {
			for k, v := range it.Default {
				defLim[k] = v
			}
			for k, v := range it.DefaultRequest {
				defReq[k] = v
			}
		}
	}
	var notes []string
	for _, cs := range [][]Container{pod.Spec.Containers, pod.Spec.InitContainers} {
		for i := range cs {
			r := &cs[i].Resources
			setLim, setReq := fillMissing(&r.Limits, defLim), fillMissing(&r.Requests, defReq)
			if len(setReq) > 0 {
				notes = append(notes, strings.Join(setReq, ", ")+" request for container "+cs[i].Name)
			}
			if len(setLim) > 0 {
				notes = append(notes, strings.Join(setLim, ", ")+" limit for container "+cs[i].Name)
			}
		}
	}
	if len(notes) > 0 {
		if pod.Annotations == nil {
			pod.Annotations = map[string]string{}
		}
		pod.Annotations[LimitRangerAnnotation] = "LimitRanger plugin set: " + strings.Join(notes, "; ")
	}
}

// fillMissing copies defaults absent from *rl into it and returns their sorted names.
func fillMissing(rl *ResourceList, defaults ResourceList) []string {
	var set []string
	for _, k := range sortedKeys(defaults) {
		if _, ok := (*rl)[k]; ok {
			continue
		}
		if *rl == nil {
			*rl = ResourceList{}
		}
		(*rl)[k] = defaults[k]
		set = append(set, k)
	}
	return set
}

// checkLimitItem checks one item's min, max and ratio against requests and limits.
func checkLimitItem(it LimitRangeItem, req, lim ResourceList) []error {
	var errs []error
	for _, k := range sortedKeys(it.Min) {
		if err := minConstraint(it.Type, k, it.Min[k], req, lim); err != nil {
			errs = append(errs, err)
		}
	}
	for _, k := range sortedKeys(it.Max) {
		if err := maxConstraint(it.Type, k, it.Max[k], req, lim); err != nil {
			errs = append(errs, err)
		}
	}
	for _, k := range sortedKeys(it.MaxLimitRequestRatio) {
		if err := ratioConstraint(it.Type, k, it.MaxLimitRequestRatio[k], req, lim); err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}

// The texts of the three constraints are Kubernetes' (plugin/pkg/admission/limitranger),
// capitalised and ending in a period as the apiserver writes them.

func minConstraint(typ, k string, enforced Quantity, req, lim ResourceList) error {
	r, hasReq := req[k]
	l, hasLim := lim[k]
	switch {
	case !hasReq:
		return fmt.Errorf("Minimum %s usage per %s is %s.  No request is specified.", k, typ, enforced)
	case r.MilliValue() < enforced.MilliValue():
		return fmt.Errorf("Minimum %s usage per %s is %s, but request is %s.", k, typ, enforced, r)
	case hasLim && l.MilliValue() < enforced.MilliValue():
		return fmt.Errorf("Minimum %s usage per %s is %s, but limit is %s.", k, typ, enforced, l)
	}
	return nil
}

func maxConstraint(typ, k string, enforced Quantity, req, lim ResourceList) error {
	r, hasReq := req[k]
	l, hasLim := lim[k]
	switch {
	case !hasLim:
		return fmt.Errorf("Maximum %s usage per %s is %s.  No limit is specified.", k, typ, enforced)
	case l.MilliValue() > enforced.MilliValue():
		return fmt.Errorf("Maximum %s usage per %s is %s, but limit is %s.", k, typ, enforced, l)
	case hasReq && r.MilliValue() > enforced.MilliValue():
		return fmt.Errorf("Maximum %s usage per %s is %s, but request is %s.", k, typ, enforced, r)
	}
	return nil
}

func ratioConstraint(typ, k string, enforced Quantity, req, lim ResourceList) error {
	r, l := req[k].MilliValue(), lim[k].MilliValue()
	switch {
	case r == 0:
		return fmt.Errorf("%s max limit to request ratio per %s is %s, but no request is specified or request is 0.", k, typ, enforced)
	case l == 0:
		return fmt.Errorf("%s max limit to request ratio per %s is %s, but no limit is specified or limit is 0.", k, typ, enforced)
	}
	ratio := float64(l) / float64(r)
	if ratio*1000 > float64(enforced.MilliValue()) {
		return fmt.Errorf("%s max limit to request ratio per %s is %s, but provided ratio is %f.", k, typ, enforced, ratio)
	}
	return nil
}

// PodResources returns a pod's effective requests and limits, as Kubernetes' resource
// helpers compute them: per resource, the sum over its containers or the largest init
// container's value, whichever is larger. A resource only some containers state is summed
// over those. Values are canonical quantities (FormatQuantity).
func PodResources(s *PodSpec) (requests, limits ResourceList) {
	sum := func(pick func(c *Container) ResourceList) ResourceList {
		total, binary := map[string]int64{}, map[string]bool{}
		for i := range s.Containers {
			for k, q := range pick(&s.Containers[i]) {
				total[k] += q.MilliValue()
				binary[k] = binary[k] || isBinary(q)
			}
		}
		for i := range s.InitContainers {
			for k, q := range pick(&s.InitContainers[i]) {
				if v := q.MilliValue(); v > total[k] {
					total[k] = v
				}
				binary[k] = binary[k] || isBinary(q)
			}
		}
		if len(total) == 0 {
			return nil
		}
		out := ResourceList{}
		for k, v := range total {
			out[k] = FormatQuantity(v, binary[k])
		}
		return out
	}
	return sum(func(c *Container) ResourceList { return c.Resources.Requests }),
		sum(func(c *Container) ResourceList { return c.Resources.Limits })
}

func isBinary(q Quantity) bool {
	return slices.ContainsFunc([]string{"Ki", "Mi", "Gi", "Ti", "Pi", "Ei"}, func(s string) bool { return strings.HasSuffix(string(q), s) })
}

// FormatQuantity renders a value in thousandths canonically, as resource.Quantity prints:
// "500m", "2", and for whole values the largest exact suffix, binary ("1Gi") when binary is
// set, else decimal ("2k").
func FormatQuantity(milli int64, binary bool) Quantity {
	if milli%1000 != 0 {
		return Quantity(fmt.Sprintf("%dm", milli))
	}
	v := milli / 1000
	if v == 0 {
		return "0"
	}
	if binary {
		for _, s := range []struct {
			suffix string
			n      int64
		}{{"Ei", 1 << 60}, {"Pi", 1 << 50}, {"Ti", 1 << 40}, {"Gi", 1 << 30}, {"Mi", 1 << 20}, {"Ki", 1 << 10}} {
			if v%s.n == 0 {
				return Quantity(fmt.Sprintf("%d%s", v/s.n, s.suffix))
			}
		}
		return Quantity(fmt.Sprint(v))
	}
	for _, s := range []struct {
		suffix string
		n      int64
	}{{"E", 1e18}, {"P", 1e15}, {"T", 1e12}, {"G", 1e9}, {"M", 1e6}, {"k", 1e3}} {
		if v%s.n == 0 {
			return Quantity(fmt.Sprintf("%d%s", v/s.n, s.suffix))
		}
	}
	return Quantity(fmt.Sprint(v))
}
