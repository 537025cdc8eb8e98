package api

import (
	"fmt"
	"regexp"
	"slices"

	"github.com/keeldb/keel/orchestrator/labels"
)

var (
	dnsLabelRe     = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)
	dnsSubdomainRe = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)
	envNameRe      = regexp.MustCompile(`^[-._a-zA-Z][-._a-zA-Z0-9]*$`)
	portNameRe     = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)
)

// Validate checks obj (after Default) and returns every problem found; the result's Err()
// is nil when obj is valid.
func Validate(obj Object) ErrorList {
	res := ResourceOf(obj)
	var errs ErrorList
	errs = append(errs, validateMeta(obj.Meta(), res, "metadata")...)
	errs = append(errs, validateRBAC(obj)...)
	switch o := obj.(type) {
	case *Pod:
		errs = append(errs, validatePodSpec(&o.Spec, "spec")...)
	case *ReplicaSet:
		errs = append(errs, validateReplicas(o.Spec.Replicas, "spec.replicas")...)
		errs = append(errs, validateSelectorTemplate(o.Spec.Selector, &o.Spec.Template, "spec")...)
	case *Deployment:
		errs = append(errs, validateDeployment(&o.Spec, "spec")...)
	case *ReplicationController:
		errs = append(errs, validateReplicationController(&o.Spec, "spec")...)
	case *HorizontalPodAutoscaler:
		errs = append(errs, validateHorizontalPodAutoscaler(&o.Spec, "spec")...)
	case *Service:
		errs = append(errs, validateService(&o.Spec, "spec")...)
	case *Node:
		for i, t := range o.Spec.Taints {
			errs = append(errs, validateTaint(t, Path("spec.taints").Index(i))...)
		}
		errs = append(errs, validateResources(o.Status.Capacity, "status.capacity")...)
		errs = append(errs, validateResources(o.Status.Allocatable, "status.allocatable")...)
	case *Event:
		if o.InvolvedObject.Name == "" {
			errs = append(errs, required("involvedObject.name", ""))
		}
	case *Job:
		errs = append(errs, validateJobSpec(&o.Spec, "spec")...)
	case *CronJob:
		errs = append(errs, validateCronJobName(o.Name, "metadata.name")...)
		errs = append(errs, validateCronJobSpec(&o.Spec, "spec")...)
	case *DaemonSet:
		errs = append(errs, validateDaemonSet(&o.Spec, "spec")...)
	case *StatefulSet:
		errs = append(errs, validateStatefulSet(&o.Spec, "spec")...)
	case *ConfigMap:
		errs = append(errs, validateConfigMap(o)...)
	case *Secret:
		errs = append(errs, validateSecret(o)...)
	case *Ingress:
		errs = append(errs, validateIngress(&o.Spec, "spec")...)
	case *IngressClass:
		errs = append(errs, validateIngressClass(o)...)
	case *PersistentVolume:
		errs = append(errs, validatePersistentVolume(o)...)
	case *PersistentVolumeClaim:
		errs = append(errs, validatePersistentVolumeClaim(o)...)
	case *StorageClass:
		errs = append(errs, validateStorageClass(o)...)
	case *LimitRange:
		errs = append(errs, validateLimitRange(o)...)
	case *ResourceQuota:
		errs = append(errs, validateResourceQuota(o)...)
	case *Lease:
		if d := o.Spec.LeaseDurationSeconds; d != nil && *d <= 0 {
			errs = append(errs, invalid("spec.leaseDurationSeconds", *d, "must be greater than 0"))
		}
	}
	return errs
}

func validateMeta(m *ObjectMeta, res Resource, p Path) ErrorList {
	var errs ErrorList
	name := p.Child("name")
	switch {
	case m.Name == "" && m.GenerateName == "":
		errs = append(errs, required(name, "name or generateName is required"))
	case m.Name != "":
		errs = append(errs, validateName(m.Name, res, name)...)
	}
	if res.Namespaced {
		if m.Namespace == "" {
			errs = append(errs, required(p.Child("namespace"), ""))
		} else if !isDNSLabel(m.Namespace) {
			errs = append(errs, invalid(p.Child("namespace"), m.Namespace, "must be a DNS label (lowercase alphanumerics and '-', at most 63)"))
		}
	} else if m.Namespace != "" {
		errs = append(errs, forbidden(p.Child("namespace"), "not allowed on a cluster-scoped resource"))
	}
	errs = append(errs, validateLabels(m.Labels, p.Child("labels"))...)
	for k := range m.Annotations {
		if err := labels.ValidateKey(k); err != nil {
			errs = append(errs, invalid(p.Child("annotations"), k, err.Error()))
		}
	}
	for i, o := range m.OwnerReferences {
		op := p.Child("ownerReferences").Index(i)
		for _, f := range [][2]string{{"apiVersion", o.APIVersion}, {"kind", o.Kind}, {"name", o.Name}, {"uid", o.UID}} {
			if f[1] == "" {
				errs = append(errs, required(op.Child(f[0]), ""))
			}
		}
	}
	return errs
}

func validateName(n string, res Resource, p Path) ErrorList {
	if isRBACKind(res.Kind) {
		var errs ErrorList
		for _, msg := range rbacNameProblems(n) {
			errs = append(errs, invalid(p, n, msg))
		}
		return errs
	}
	switch res.Kind {
	case "Namespace", "Service":
		if !isDNSLabel(n) {
			return ErrorList{invalid(p, n, "must be a DNS label (lowercase alphanumerics and '-', at most 63)")}
		}
	default:
		if len(n) > 253 || !dnsSubdomainRe.MatchString(n) {
			return ErrorList{invalid(p, n, "must be a DNS subdomain (lowercase alphanumerics, '-' and '.', at most 253)")}
		}
	}
	return nil
}

func isDNSLabel(s string) bool { return len(s) <= 63 && dnsLabelRe.MatchString(s) }

func validateLabels(ls map[string]string, p Path) ErrorList {
	var errs ErrorList
	for _, k := range sortedKeys(ls) {
		if err := labels.ValidateKey(k); err != nil {
			errs = append(errs, invalid(p, k, err.Error()))
		}
		if err := labels.ValidateValue(ls[k]); err != nil {
			errs = append(errs, invalid(p.Key(k), ls[k], err.Error()))
		}
	}
	return errs
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func validateReplicas(r *int32, p Path) ErrorList {
	if r != nil && *r < 0 {
		return ErrorList{invalid(p, *r, "must be greater than or equal to 0")}
	}
	return nil
}

func validateSelectorTemplate(sel *LabelSelector, tmpl *PodTemplateSpec, p Path) ErrorList {
	var errs ErrorList
	sp := p.Child("selector")
	if sel == nil {
		return append(errs, required(sp, ""))
	}
	s, err := sel.Selector()
	switch {
	case err != nil:
		errs = append(errs, invalid(sp, nil, err.Error()))
	case s.Empty():
		errs = append(errs, invalid(sp, nil, "empty selector is invalid for this resource"))
	case !s.Matches(tmpl.Labels):
		errs = append(errs, invalid(p.Child("template.metadata.labels"), nil, "`selector` does not match template `labels`"))
	}
	tp := p.Child("template")
	errs = append(errs, validateLabels(tmpl.Labels, tp.Child("metadata.labels"))...)
	errs = append(errs, validatePodSpec(&tmpl.Spec, tp.Child("spec"))...)
	if rp := tmpl.Spec.RestartPolicy; rp != RestartAlways {
		errs = append(errs, notSupported(tp.Child("spec.restartPolicy"), rp, RestartAlways))
	}
	return errs
}

func validateDeployment(s *DeploymentSpec, p Path) ErrorList {
	errs := validateReplicas(s.Replicas, p.Child("replicas"))
	errs = append(errs, validateSelectorTemplate(s.Selector, &s.Template, p)...)
	sp := p.Child("strategy")
	switch s.Strategy.Type {
	case RecreateStrategy:
		if s.Strategy.RollingUpdate != nil {
			errs = append(errs, forbidden(sp.Child("rollingUpdate"), "may not be specified when strategy `type` is 'Recreate'"))
		}
	case RollingUpdateStrategy:
		if ru := s.Strategy.RollingUpdate; ru != nil {
			rp := sp.Child("rollingUpdate")
			surge, e1 := intOrPercent(ru.MaxSurge, rp.Child("maxSurge"))
			unavail, e2 := intOrPercent(ru.MaxUnavailable, rp.Child("maxUnavailable"))
			errs = append(errs, e1...)
			errs = append(errs, e2...)
			if len(e1)+len(e2) == 0 && surge == 0 && unavail == 0 {
				errs = append(errs, invalid(rp.Child("maxUnavailable"), 0, "may not be 0 when `maxSurge` is 0"))
			}
			if unavail > 100 && ru.MaxUnavailable.IsString {
				errs = append(errs, invalid(rp.Child("maxUnavailable"), ru.MaxUnavailable.String(), "should not be more than 100%"))
			}
		}
	default:
		errs = append(errs, notSupported(sp.Child("type"), s.Strategy.Type, RecreateStrategy, RollingUpdateStrategy))
	}
	if s.MinReadySeconds < 0 {
		errs = append(errs, invalid(p.Child("minReadySeconds"), s.MinReadySeconds, "must be greater than or equal to 0"))
	}
	if r := s.RevisionHistoryLimit; r != nil && *r < 0 {
		errs = append(errs, invalid(p.Child("revisionHistoryLimit"), *r, "must be greater than or equal to 0"))
	}
	if d := s.ProgressDeadlineSeconds; d != nil && *d <= s.MinReadySeconds {
		errs = append(errs, invalid(p.Child("progressDeadlineSeconds"), *d, "must be greater than minReadySeconds"))
	}
	return errs
}

// intOrPercent returns an integer, or a percentage's number, checking it is non-negative.
func intOrPercent(v *IntOrString, p Path) (int, ErrorList) {
	if v == nil {
		return 1, nil
	}
	n, err := v.ScaledValue(100, false)
	if err != nil {
		return 0, ErrorList{invalid(p, v.String(), "must be an integer or percentage (e.g '5%')")}
	}
	if n < 0 {
		return 0, ErrorList{invalid(p, v.String(), "must be greater than or equal to 0")}
	}
	return n, nil
}

func validatePodSpec(s *PodSpec, p Path) ErrorList {
	var errs ErrorList
	if len(s.Containers) == 0 {
		errs = append(errs, required(p.Child("containers"), ""))
	}
	volumes, verrs := validateVolumes(s.Volumes, p.Child("volumes"))
	errs = append(errs, verrs...)
	for i := range s.InitContainers {
		errs = append(errs, validateVolumeMounts(s.InitContainers[i].VolumeMounts, volumes, p.Child("initContainers").Index(i).Child("volumeMounts"))...)
	}
	for i := range s.Containers {
		errs = append(errs, validateVolumeMounts(s.Containers[i].VolumeMounts, volumes, p.Child("containers").Index(i).Child("volumeMounts"))...)
	}
	names := map[string]bool{}
	for i := range s.InitContainers {
		errs = append(errs, validateContainer(&s.InitContainers[i], names, p.Child("initContainers").Index(i), true)...)
		errs = append(errs, validateLifecycle(&s.InitContainers[i], true, s.TerminationGracePeriodSeconds, p.Child("initContainers").Index(i))...)
	}
	for i := range s.Containers {
		errs = append(errs, validateContainer(&s.Containers[i], names, p.Child("containers").Index(i), false)...)
		errs = append(errs, validateLifecycle(&s.Containers[i], false, s.TerminationGracePeriodSeconds, p.Child("containers").Index(i))...)
	}
	if !slices.Contains([]string{RestartAlways, RestartOnFailure, RestartNever}, s.RestartPolicy) {
		errs = append(errs, notSupported(p.Child("restartPolicy"), s.RestartPolicy, RestartAlways, RestartOnFailure, RestartNever))
	}
	if g := s.TerminationGracePeriodSeconds; g != nil && *g < 0 {
		errs = append(errs, invalid(p.Child("terminationGracePeriodSeconds"), *g, "must be greater than or equal to 0"))
	}
	if !slices.Contains([]string{"ClusterFirst", "Default", "None", "ClusterFirstWithHostNet"}, s.DNSPolicy) {
		errs = append(errs, notSupported(p.Child("dnsPolicy"), s.DNSPolicy, "ClusterFirst", "Default", "None", "ClusterFirstWithHostNet"))
	}
	errs = append(errs, validateLabels(s.NodeSelector, p.Child("nodeSelector"))...)
	if s.NodeName != "" && (len(s.NodeName) > 253 || !dnsSubdomainRe.MatchString(s.NodeName)) {
		errs = append(errs, invalid(p.Child("nodeName"), s.NodeName, "must be a DNS subdomain"))
	}
	for i, t := range s.Tolerations {
		errs = append(errs, validateToleration(t, p.Child("tolerations").Index(i))...)
	}
	errs = append(errs, validatePodHostname(s, p)...)
	if s.Affinity != nil && s.Affinity.NodeAffinity != nil {
		errs = append(errs, validateNodeAffinity(s.Affinity.NodeAffinity, p.Child("affinity.nodeAffinity"))...)
	}
	return errs
}

func validateContainer(c *Container, names map[string]bool, p Path, init bool) ErrorList {
	var errs ErrorList
	switch {
	case c.Name == "":
		errs = append(errs, required(p.Child("name"), ""))
	case !isDNSLabel(c.Name):
		errs = append(errs, invalid(p.Child("name"), c.Name, "must be a DNS label"))
	case names[c.Name]:
		errs = append(errs, &FieldError{Field: string(p.Child("name")), Type: ErrorDuplicate, Value: c.Name})
	}
	names[c.Name] = true
	if c.Image == "" {
		errs = append(errs, required(p.Child("image"), ""))
	}
	ports := map[string]bool{}
	for i, cp := range c.Ports {
		pp := p.Child("ports").Index(i)
		if cp.ContainerPort < 1 || cp.ContainerPort > 65535 {
			errs = append(errs, invalid(pp.Child("containerPort"), cp.ContainerPort, "must be between 1 and 65535, inclusive"))
		}
		errs = append(errs, validateProtocol(cp.Protocol, pp.Child("protocol"))...)
		if cp.Name != "" {
			if len(cp.Name) > 15 || !portNameRe.MatchString(cp.Name) {
				errs = append(errs, invalid(pp.Child("name"), cp.Name, "must be an IANA service name (at most 15 lowercase alphanumerics and '-')"))
			} else if ports[cp.Name] {
				errs = append(errs, &FieldError{Field: string(pp.Child("name")), Type: ErrorDuplicate, Value: cp.Name})
			}
			ports[cp.Name] = true
		}
	}
	for i, e := range c.Env {
		ep := p.Child("env").Index(i)
		if !envNameRe.MatchString(e.Name) {
			errs = append(errs, invalid(ep.Child("name"), e.Name, "must be a C identifier-like name"))
		}
		if e.ValueFrom == nil {
			continue
		}
		if e.Value != "" {
			errs = append(errs, invalid(ep.Child("valueFrom"), "", "may not be specified when `value` is not empty"))
			continue
		}
		errs = append(errs, validateEnvSource(e.ValueFrom, ep.Child("valueFrom"))...)
	}
	errs = append(errs, validateEnvFrom(c.EnvFrom, p.Child("envFrom"))...)
	errs = append(errs, validateResources(c.Resources.Requests, p.Child("resources.requests"))...)
	errs = append(errs, validateResources(c.Resources.Limits, p.Child("resources.limits"))...)
	for _, name := range sortedKeys(c.Resources.Requests) {
		lim, ok := c.Resources.Limits[name]
		if ok && c.Resources.Requests[name].MilliValue() > lim.MilliValue() {
			errs = append(errs, invalid(p.Child("resources.requests").Key(name), string(c.Resources.Requests[name]), "must be less than or equal to "+name+" limit"))
		}
	}
	if !slices.Contains([]string{"Always", "IfNotPresent", "Never"}, c.ImagePullPolicy) {
		errs = append(errs, notSupported(p.Child("imagePullPolicy"), c.ImagePullPolicy, "Always", "IfNotPresent", "Never"))
	}
	if c.RestartPolicy != "" && (!init || c.RestartPolicy != RestartAlways) {
		errs = append(errs, forbidden(p.Child("restartPolicy"), "may only be \"Always\", and only on init containers"))
	}
	for _, pr := range []struct {
		name  string
		probe *Probe
	}{{"livenessProbe", c.LivenessProbe}, {"readinessProbe", c.ReadinessProbe}, {"startupProbe", c.StartupProbe}} {
		if pr.probe != nil {
			errs = append(errs, validateProbe(pr.probe, p.Child(pr.name))...)
		}
	}
	return errs
}

func validateProbe(pr *Probe, p Path) ErrorList {
	var errs ErrorList
	n := 0
	if pr.Exec != nil {
		n++
	}
	if pr.HTTPGet != nil {
		n++
	}
	if pr.TCPSocket != nil {
		n++
	}
	if n != 1 {
		errs = append(errs, required(p, "exactly one of exec, httpGet or tcpSocket must be specified"))
	}
	for _, f := range []struct {
		name string
		v    int32
	}{{"initialDelaySeconds", pr.InitialDelaySeconds}, {"timeoutSeconds", pr.TimeoutSeconds}, {"periodSeconds", pr.PeriodSeconds},
		{"successThreshold", pr.SuccessThreshold}, {"failureThreshold", pr.FailureThreshold}} {
		if f.v < 0 {
			errs = append(errs, invalid(p.Child(f.name), f.v, "must be greater than or equal to 0"))
		}
	}
	return errs
}

func validateProtocol(proto string, p Path) ErrorList {
	if !slices.Contains([]string{"TCP", "UDP", "SCTP"}, proto) {
		return ErrorList{notSupported(p, proto, "TCP", "UDP", "SCTP")}
	}
	return nil
}

func validateResources(rl ResourceList, p Path) ErrorList {
	var errs ErrorList
	for _, name := range sortedKeys(rl) {
		v, err := ParseQuantity(string(rl[name]))
		switch {
		case err != nil:
			errs = append(errs, invalid(p.Key(name), string(rl[name]), "must be a quantity such as 100m, 0.5, 128Mi or 1G"))
		case v < 0:
			errs = append(errs, invalid(p.Key(name), string(rl[name]), "must be greater than or equal to 0"))
		}
	}
	return errs
}

var effects = []string{TaintNoSchedule, TaintPreferNoSchedule, TaintNoExecute}

func validateTaint(t Taint, p Path) ErrorList {
	var errs ErrorList
	if err := labels.ValidateKey(t.Key); err != nil {
		errs = append(errs, invalid(p.Child("key"), t.Key, err.Error()))
	}
	if !slices.Contains(effects, t.Effect) {
		errs = append(errs, notSupported(p.Child("effect"), t.Effect, effects...))
	}
	return errs
}

func validateToleration(t Toleration, p Path) ErrorList {
	var errs ErrorList
	if t.Key != "" {
		if err := labels.ValidateKey(t.Key); err != nil {
			errs = append(errs, invalid(p.Child("key"), t.Key, err.Error()))
		}
	}
	switch t.Operator {
	case "Equal":
		if t.Key == "" {
			errs = append(errs, invalid(p.Child("operator"), t.Operator, "operator must be Exists when `key` is empty"))
		}
	case "Exists":
		if t.Value != "" {
			errs = append(errs, invalid(p.Child("value"), t.Value, "value must be empty when `operator` is 'Exists'"))
		}
	default:
		errs = append(errs, notSupported(p.Child("operator"), t.Operator, "Equal", "Exists"))
	}
	if t.Effect != "" && !slices.Contains(effects, t.Effect) {
		errs = append(errs, notSupported(p.Child("effect"), t.Effect, effects...))
	}
	if t.TolerationSeconds != nil && t.Effect != TaintNoExecute {
		errs = append(errs, invalid(p.Child("effect"), t.Effect, "effect must be 'NoExecute' when `tolerationSeconds` is set"))
	}
	return errs
}

func validateNodeAffinity(na *NodeAffinity, p Path) ErrorList {
	var errs ErrorList
	if r := na.RequiredDuringSchedulingIgnoredDuringExecution; r != nil {
		rp := p.Child("requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms")
		if len(r.NodeSelectorTerms) == 0 {
			errs = append(errs, required(rp, "must have at least one node selector term"))
		}
		for i, t := range r.NodeSelectorTerms {
			errs = append(errs, validateNodeSelectorTerm(t, rp.Index(i))...)
		}
	}
	for i, pt := range na.PreferredDuringSchedulingIgnoredDuringExecution {
		pp := p.Child("preferredDuringSchedulingIgnoredDuringExecution").Index(i)
		if pt.Weight < 1 || pt.Weight > 100 {
			errs = append(errs, invalid(pp.Child("weight"), pt.Weight, "must be in the range 1-100"))
		}
		errs = append(errs, validateNodeSelectorTerm(pt.Preference, pp.Child("preference"))...)
	}
	return errs
}

var nodeSelectorOps = map[string]labels.Operator{
	"In": labels.In, "NotIn": labels.NotIn, "Exists": labels.Exists, "DoesNotExist": labels.DoesNotExist,
	"Gt": labels.GreaterThan, "Lt": labels.LessThan,
}

// NodeSelectorTermSelector converts a node selector term to a label selector.
func NodeSelectorTermSelector(t NodeSelectorTerm) (labels.Selector, error) {
	var reqs []labels.Requirement
	for _, e := range t.MatchExpressions {
		op, ok := nodeSelectorOps[e.Operator]
		if !ok {
			return labels.Selector{}, fmt.Errorf("api: unsupported node selector operator %q", e.Operator)
		}
		r, err := labels.NewRequirement(e.Key, op, e.Values)
		if err != nil {
			return labels.Selector{}, err
		}
		reqs = append(reqs, r)
	}
	return labels.NewSelector(reqs...), nil
}

func validateNodeSelectorTerm(t NodeSelectorTerm, p Path) ErrorList {
	var errs ErrorList
	for i, e := range t.MatchExpressions {
		ep := p.Child("matchExpressions").Index(i)
		if _, ok := nodeSelectorOps[e.Operator]; !ok {
			errs = append(errs, notSupported(ep.Child("operator"), e.Operator, "In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt"))
			continue
		}
		if _, err := labels.NewRequirement(e.Key, nodeSelectorOps[e.Operator], e.Values); err != nil {
			errs = append(errs, invalid(ep, nil, err.Error()))
		}
	}
	errs = append(errs, validateMatchFields(t.MatchFields, p.Child("matchFields"))...)
	return errs
}

func validateService(s *ServiceSpec, p Path) ErrorList {
	var errs ErrorList
	errs = append(errs, validateServiceType(s, p)...)
	if !slices.Contains([]string{"None", "ClientIP"}, s.SessionAffinity) {
		errs = append(errs, notSupported(p.Child("sessionAffinity"), s.SessionAffinity, "None", "ClientIP"))
	}
	if len(s.Ports) == 0 && s.ClusterIP != "None" && s.Type != ServiceTypeExternalName {
		errs = append(errs, required(p.Child("ports"), ""))
	}
	names := map[string]bool{}
	for i, sp := range s.Ports {
		pp := p.Child("ports").Index(i)
		if len(s.Ports) > 1 && sp.Name == "" {
			errs = append(errs, required(pp.Child("name"), "must be set when a service has more than one port"))
		}
		if sp.Name != "" {
			if names[sp.Name] {
				errs = append(errs, &FieldError{Field: string(pp.Child("name")), Type: ErrorDuplicate, Value: sp.Name})
			}
			names[sp.Name] = true
		}
		if sp.Port < 1 || sp.Port > 65535 {
			errs = append(errs, invalid(pp.Child("port"), sp.Port, "must be between 1 and 65535, inclusive"))
		}
		errs = append(errs, validateProtocol(sp.Protocol, pp.Child("protocol"))...)
		tp := sp.TargetPort
		if tp.IsString && (len(tp.StrVal) > 15 || !portNameRe.MatchString(tp.StrVal)) {
			errs = append(errs, invalid(pp.Child("targetPort"), tp.StrVal, "must be a port name"))
		}
		if !tp.IsString && (tp.IntVal < 1 || tp.IntVal > 65535) {
			errs = append(errs, invalid(pp.Child("targetPort"), tp.IntVal, "must be between 1 and 65535, inclusive"))
		}
	}
	errs = append(errs, validateLabels(s.Selector, p.Child("selector"))...)
	return errs
}
