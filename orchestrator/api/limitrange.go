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
// recomputed afterwards. The error carries Kubernetes' messages ("maximum memory usage per
// Container is 1Gi, but limit is 2Gi"), several in brackets as its aggregate prints them;
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
				errs = append(errs, checkLimitItem(it, req, lim)...)
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
					errs = append(errs, fmt.Errorf("maximum %s usage per %s is %s.  No request is specified", k, it.Type, it.Max[k].Canonical()))
				case r.MilliValue() > it.Max[k].MilliValue():
					errs = append(errs, fmt.Errorf("maximum %s usage per %s is %s, but request is %s", k, it.Type, it.Max[k].Canonical(), r.Canonical()))
				}
			}
		}
	}
	return aggregate(errs)
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
	for _, group := range []struct {
		cs   []Container
		what string
	}{{pod.Spec.Containers, "container"}, {pod.Spec.InitContainers, "init container"}} {
		for i := range group.cs {
			c := &group.cs[i]
			setLim, setReq := fillMissing(&c.Resources.Limits, defLim), fillMissing(&c.Resources.Requests, defReq)
			if len(setReq) > 0 {
				notes = append(notes, strings.Join(setReq, ", ")+" request for "+group.what+" "+c.Name)
			}
			if len(setLim) > 0 {
				notes = append(notes, strings.Join(setLim, ", ")+" limit for "+group.what+" "+c.Name)
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

// The texts of the three constraints are Kubernetes' (plugin/pkg/admission/limitranger);
// quantities print
// canonically ("1024Mi" as "1Gi"), as resource.Quantity's String.

func minConstraint(typ, k string, enforced Quantity, req, lim ResourceList) error {
	r, hasReq := req[k]
	l, hasLim := lim[k]
	switch {
	case !hasReq:
		return fmt.Errorf("minimum %s usage per %s is %s.  No request is specified", k, typ, enforced.Canonical())
	case r.MilliValue() < enforced.MilliValue():
		return fmt.Errorf("minimum %s usage per %s is %s, but request is %s", k, typ, enforced.Canonical(), r.Canonical())
	case hasLim && l.MilliValue() < enforced.MilliValue():
		return fmt.Errorf("minimum %s usage per %s is %s, but limit is %s", k, typ, enforced.Canonical(), l.Canonical())
	}
	return nil
}

func maxConstraint(typ, k string, enforced Quantity, req, lim ResourceList) error {
	r, hasReq := req[k]
	l, hasLim := lim[k]
	switch {
	case !hasLim:
		return fmt.Errorf("maximum %s usage per %s is %s.  No limit is specified", k, typ, enforced.Canonical())
	case l.MilliValue() > enforced.MilliValue():
		return fmt.Errorf("maximum %s usage per %s is %s, but limit is %s", k, typ, enforced.Canonical(), l.Canonical())
	case hasReq && r.MilliValue() > enforced.MilliValue():
		return fmt.Errorf("maximum %s usage per %s is %s, but request is %s", k, typ, enforced.Canonical(), r.Canonical())
	}
	return nil
}

func ratioConstraint(typ, k string, enforced Quantity, req, lim ResourceList) error {
	r, l := req[k].MilliValue(), lim[k].MilliValue()
	switch {
	case r == 0:
		return fmt.Errorf("%s max limit to request ratio per %s is %s, but no request is specified or request is 0", k, typ, enforced.Canonical())
	case l == 0:
		return fmt.Errorf("%s max limit to request ratio per %s is %s, but no limit is specified or limit is 0", k, typ, enforced.Canonical())
	}
	ratio := float64(l) / float64(r)
	if ratio*1000 > float64(enforced.MilliValue()) {
		return fmt.Errorf("%s max limit to request ratio per %s is %s, but provided ratio is %f", k, typ, enforced.Canonical(), ratio)
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

// Canonical returns q as resource.Quantity prints it: "1024Mi" as "1Gi", "0.5" as "500m",
// "1000m" as "1" (FormatQuantity of its value).
func (q Quantity) Canonical() Quantity { return FormatQuantity(q.MilliValue(), isBinary(q)) }

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
