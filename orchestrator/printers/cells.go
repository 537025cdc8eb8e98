package printers

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/duration"

	"github.com/keeldb/keel/orchestrator/api"
)

func init() {
	register(api.PodResource.Name, podColumns, typed(podCells))
	register(api.ReplicationControllerResource.Name, replicationControllerColumns, typed(replicationControllerCells))
	register(api.ReplicaSetResource.Name, replicaSetColumns, typed(replicaSetCells))
	register(api.DaemonSetResource.Name, daemonSetColumns, typed(daemonSetCells))
	register(api.StatefulSetResource.Name, statefulSetColumns, typed(statefulSetCells))
	register(api.DeploymentResource.Name, deploymentColumns, typed(deploymentCells))
	register(api.JobResource.Name, jobColumns, typed(jobCells))
	register(api.CronJobResource.Name, cronJobColumns, typed(cronJobCells))
	register(api.ServiceResource.Name, serviceColumns, typed(serviceCells))
	register(api.IngressResource.Name, ingressColumns, typed(ingressCells))
	register(api.IngressClassResource.Name, ingressClassColumns, typed(ingressClassCells))
	register(api.EndpointsResource.Name, endpointsColumns, typed(endpointsCells))
	register(api.NodeResource.Name, nodeColumns, typed(nodeCells))
	register(api.EventResource.Name, eventColumns, typed(eventCells))
	register(api.NamespaceResource.Name, namespaceColumns, typed(namespaceCells))
	register(api.SecretResource.Name, secretColumns, typed(secretCells))
	register(api.ConfigMapResource.Name, configMapColumns, typed(configMapCells))
	register(api.PersistentVolumeResource.Name, persistentVolumeColumns, typed(persistentVolumeCells))
	register(api.PersistentVolumeClaimResource.Name, persistentVolumeClaimColumns, typed(persistentVolumeClaimCells))
	register(api.StorageClassResource.Name, storageClassColumns, typed(storageClassCells))
	register(api.HorizontalPodAutoscalerResource.Name, horizontalPodAutoscalerColumns, typed(horizontalPodAutoscalerCells))
	register(api.LeaseResource.Name, leaseColumns, typed(leaseCells))
	register(api.PodMetricsResource.Name, metricsColumns, typed(podMetricsCells))
	register(api.NodeMetricsResource.Name, metricsColumns, typed(nodeMetricsCells))
}

// typed adapts a row function of one Go type.
func typed[T api.Object](f func(T, time.Time) []any) func(api.Object, time.Time) []any {
	return func(o api.Object, now time.Time) []any { return f(o.(T), now) }
}

const none = "<none>"

func orNone(s string) string {
	if s == "" {
		return none
	}
	return s
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

func podCells(p *api.Pod, now time.Time) []any {
	restarts, lastRestart := 0, time.Time{}
	total := len(p.Spec.Containers)
	ready := 0
	reason := p.Status.Phase
	if p.Status.Reason != "" {
		reason = p.Status.Reason
	}
	// lastOf moves last to the end of a container's last termination, when later.
	lastOf := func(cs api.ContainerStatus, last *time.Time) {
		if t := cs.LastState.Terminated; t != nil && t.FinishedAt.After(*last) {
			*last = t.FinishedAt.Time
		}
	}

	// Sidecars (restartable init containers) count among the containers, and their
	// restarts stay counted once the pod is initialized.
	sidecar := map[string]bool{}
	for _, c := range p.Spec.InitContainers {
		if c.RestartPolicy == api.RestartAlways {
			sidecar[c.Name] = true
			total++
		}
	}
	sidecarRestarts, sidecarLastRestart := 0, time.Time{}

	initializing := false
	for i, cs := range p.Status.InitContainerStatuses {
		restarts += int(cs.RestartCount)
		lastOf(cs, &lastRestart)
		if sidecar[cs.Name] {
			sidecarRestarts += int(cs.RestartCount)
			lastOf(cs, &sidecarLastRestart)
		}
		switch {
		case cs.State.Terminated != nil && cs.State.Terminated.ExitCode == 0:
			continue
		case sidecar[cs.Name] && cs.Started != nil && *cs.Started:
			if cs.Ready {
				ready++
			}
			continue
		case cs.State.Terminated != nil:
			t := cs.State.Terminated
			switch {
			case t.Reason != "":
				reason = "Init:" + t.Reason
			case t.Signal != 0:
				reason = fmt.Sprintf("Init:Signal:%d", t.Signal)
			default:
				reason = fmt.Sprintf("Init:ExitCode:%d", t.ExitCode)
			}
		case cs.State.Waiting != nil && cs.State.Waiting.Reason != "" && cs.State.Waiting.Reason != "PodInitializing":
			reason = "Init:" + cs.State.Waiting.Reason
		default:
			reason = fmt.Sprintf("Init:%d/%d", i, len(p.Spec.InitContainers))
		}
		initializing = true
		break
	}

	if !initializing || podCondition(p, "Initialized") {
		// The regular containers' restarts replace the init containers' (but sidecars').
		restarts, lastRestart = sidecarRestarts, sidecarLastRestart
		hasRunning := false
		for i := len(p.Status.ContainerStatuses) - 1; i >= 0; i-- {
			cs := p.Status.ContainerStatuses[i]
			restarts += int(cs.RestartCount)
			lastOf(cs, &lastRestart)
			switch st := cs.State; {
			case st.Waiting != nil && st.Waiting.Reason != "":
				reason = st.Waiting.Reason
			case st.Terminated != nil && st.Terminated.Reason != "":
				reason = st.Terminated.Reason
			case st.Terminated != nil && st.Terminated.Signal != 0:
				reason = fmt.Sprintf("Signal:%d", st.Terminated.Signal)
			case st.Terminated != nil:
				reason = fmt.Sprintf("ExitCode:%d", st.Terminated.ExitCode)
			case cs.Ready && st.Running != nil:
				hasRunning = true
				ready++
			}
		}
		// A pod whose containers completed but one still runs is Running or NotReady.
		if reason == "Completed" && hasRunning {
			if podCondition(p, "Ready") {
				reason = api.PodRunning
			} else {
				reason = "NotReady"
			}
		}
	}

	if p.DeletionTimestamp != nil {
		if p.Status.Reason == "NodeLost" {
			reason = api.PodUnknown
		} else if p.Status.Phase != api.PodSucceeded && p.Status.Phase != api.PodFailed {
			reason = "Terminating"
		}
	}
	if reason == "" {
		reason = api.PodPending
	}

	restartsCell := fmt.Sprint(restarts)
	if restarts != 0 && !lastRestart.IsZero() {
		restartsCell = fmt.Sprintf("%d (%s ago)", restarts, age(lastRestart, now))
	}
	return []any{p.Name, fmt.Sprintf("%d/%d", ready, total), reason, restartsCell, age(p.CreationTimestamp.Time, now),
		orNone(p.Status.PodIP), orNone(p.Spec.NodeName), orNone(p.Status.NominatedNodeName), none}
}

// podCondition tells whether the pod's condition typ is True.
func podCondition(p *api.Pod, typ string) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == typ {
			return c.Status == api.ConditionTrue
		}
	}
	return false
}

// containers returns the CONTAINERS and IMAGES cells of a pod template.
func containers(s api.PodSpec) (names, images string) {
	var ns, is []string
	for _, c := range s.Containers {
		ns = append(ns, c.Name)
		is = append(is, c.Image)
	}
	return strings.Join(ns, ","), strings.Join(is, ",")
}

// selector is a label selector's text as metav1.FormatLabelSelector writes it ("<none>"
// for nil or empty).
func selector(ls *api.LabelSelector) string {
	if ls == nil {
		return none
	}
	m := &metav1.LabelSelector{MatchLabels: ls.MatchLabels}
	for _, e := range ls.MatchExpressions {
		m.MatchExpressions = append(m.MatchExpressions, metav1.LabelSelectorRequirement{
			Key: e.Key, Operator: metav1.LabelSelectorOperator(e.Operator), Values: e.Values})
	}
	return metav1.FormatLabelSelector(m)
}

// labelsText is a map of labels as "k=v,..." sorted by key ("<none>" when empty).
func labelsText(m map[string]string) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, k+"="+m[k])
	}
	return orNone(strings.Join(parts, ","))
}

func replicationControllerCells(rc *api.ReplicationController, now time.Time) []any {
	var names, images string
	if rc.Spec.Template != nil {
		names, images = containers(rc.Spec.Template.Spec)
	}
	return []any{rc.Name, int64(deref(rc.Spec.Replicas)), int64(rc.Status.Replicas), int64(rc.Status.ReadyReplicas),
		age(rc.CreationTimestamp.Time, now), names, images, labelsText(rc.Spec.Selector)}
}

func replicaSetCells(rs *api.ReplicaSet, now time.Time) []any {
	names, images := containers(rs.Spec.Template.Spec)
	return []any{rs.Name, int64(deref(rs.Spec.Replicas)), int64(rs.Status.Replicas), int64(rs.Status.ReadyReplicas),
		age(rs.CreationTimestamp.Time, now), names, images, selector(rs.Spec.Selector)}
}

func daemonSetCells(ds *api.DaemonSet, now time.Time) []any {
	names, images := containers(ds.Spec.Template.Spec)
	s := ds.Status
	return []any{ds.Name, int64(s.DesiredNumberScheduled), int64(s.CurrentNumberScheduled), int64(s.NumberReady),
		int64(s.UpdatedNumberScheduled), int64(s.NumberAvailable), labelsText(ds.Spec.Template.Spec.NodeSelector),
		age(ds.CreationTimestamp.Time, now), names, images, selector(ds.Spec.Selector)}
}

func statefulSetCells(s *api.StatefulSet, now time.Time) []any {
	names, images := containers(s.Spec.Template.Spec)
	return []any{s.Name, fmt.Sprintf("%d/%d", s.Status.ReadyReplicas, deref(s.Spec.Replicas)),
		age(s.CreationTimestamp.Time, now), names, images}
}

func deploymentCells(d *api.Deployment, now time.Time) []any {
	names, images := containers(d.Spec.Template.Spec)
	return []any{d.Name, fmt.Sprintf("%d/%d", d.Status.ReadyReplicas, deref(d.Spec.Replicas)),
		int64(d.Status.UpdatedReplicas), int64(d.Status.AvailableReplicas),
		age(d.CreationTimestamp.Time, now), names, images, selector(d.Spec.Selector)}
}

// JobStatus is the STATUS cell of a Job.
func JobStatus(j *api.Job) string {
	cond := func(typ string) bool {
		c := j.JobCondition(typ)
		return c != nil && c.Status == api.ConditionTrue
	}
	switch {
	case cond(api.JobComplete):
		return "Complete"
	case cond(api.JobFailed):
		return "Failed"
	case j.DeletionTimestamp != nil:
		return "Terminating"
	case cond(api.JobSuspended):
		return "Suspended"
	case cond("FailureTarget"):
		return "FailureTarget"
	case cond("SuccessCriteriaMet"):
		return "SuccessCriteriaMet"
	}
	return "Running"
}

func jobCells(j *api.Job, now time.Time) []any {
	var completions string
	switch {
	case j.Spec.Completions != nil:
		completions = fmt.Sprintf("%d/%d", j.Status.Succeeded, *j.Spec.Completions)
	case deref(j.Spec.Parallelism) > 1:
		completions = fmt.Sprintf("%d/1 of %d", j.Status.Succeeded, *j.Spec.Parallelism)
	default:
		completions = fmt.Sprintf("%d/1", j.Status.Succeeded)
	}
	var took string
	if start := j.Status.StartTime; start != nil {
		end := now
		if c := j.Status.CompletionTime; c != nil {
			end = c.Time
		}
		took = duration.HumanDuration(end.Sub(start.Time))
	}
	names, images := containers(j.Spec.Template.Spec)
	return []any{j.Name, JobStatus(j), completions, took, age(j.CreationTimestamp.Time, now), names, images, selector(j.Spec.Selector)}
}

func cronJobCells(cj *api.CronJob, now time.Time) []any {
	last := none
	if t := cj.Status.LastScheduleTime; t != nil {
		last = age(t.Time, now)
	}
	tmpl := cj.Spec.JobTemplate.Spec
	names, images := containers(tmpl.Template.Spec)
	// SUSPEND is a "boolean" column whose cells Kubernetes writes as text.
	suspend := "False"
	if deref(cj.Spec.Suspend) {
		suspend = "True"
	}
	return []any{cj.Name, cj.Spec.Schedule, orNone(deref(cj.Spec.TimeZone)), suspend, int64(len(cj.Status.Active)),
		last, age(cj.CreationTimestamp.Time, now), names, images, selector(tmpl.Selector)}
}

// ServiceExternalIP is the EXTERNAL-IP cell of a Service: the external name of an
// ExternalName Service, a LoadBalancer's ingress points (<pending> until assigned), else
// <none>.
func ServiceExternalIP(s *api.Service) string {
	switch s.Spec.Type {
	case api.ServiceTypeExternalName:
		return s.Spec.ExternalName
	case api.ServiceTypeLoadBalancer:
		if ips := loadBalancerAddresses(s.Status.LoadBalancer); ips != "" {
			return ips
		}
		return "<pending>"
	}
	return none
}

func loadBalancerAddresses(lb api.LoadBalancerStatus) string {
	var out []string
	for _, in := range lb.Ingress {
		if in.IP != "" {
			out = append(out, in.IP)
		} else if in.Hostname != "" {
			out = append(out, in.Hostname)
		}
	}
	return strings.Join(out, ",")
}

// ServicePorts is the PORT(S) cell of a Service: "80/TCP", "80:30001/TCP" with a node port.
func ServicePorts(s *api.Service) string {
	var ps []string
	for _, p := range s.Spec.Ports {
		proto := p.Protocol
		if proto == "" {
			proto = "TCP"
		}
		if p.NodePort != 0 {
			ps = append(ps, fmt.Sprintf("%d:%d/%s", p.Port, p.NodePort, proto))
		} else {
			ps = append(ps, fmt.Sprintf("%d/%s", p.Port, proto))
		}
	}
	return orNone(strings.Join(ps, ","))
}

func serviceCells(s *api.Service, now time.Time) []any {
	return []any{s.Name, s.Spec.Type, orNone(s.Spec.ClusterIP), ServiceExternalIP(s), ServicePorts(s),
		age(s.CreationTimestamp.Time, now), labelsText(s.Spec.Selector)}
}

func ingressCells(i *api.Ingress, now time.Time) []any {
	class := none
	if i.Spec.IngressClassName != nil {
		class = *i.Spec.IngressClassName
	}
	var hosts []string
	for _, r := range i.Spec.Rules {
		if r.Host != "" {
			hosts = append(hosts, r.Host)
		}
	}
	h := "*"
	if len(hosts) > 0 {
		h = strings.Join(hosts, ",")
	}
	ports := "80"
	if len(i.Spec.TLS) > 0 {
		ports = "80, 443"
	}
	return []any{i.Name, class, h, loadBalancerAddresses(i.Status.LoadBalancer), ports, age(i.CreationTimestamp.Time, now)}
}

func ingressClassCells(c *api.IngressClass, now time.Time) []any {
	return []any{c.Name, c.Spec.Controller, none, age(c.CreationTimestamp.Time, now)}
}

func endpointsCells(e *api.Endpoints, now time.Time) []any {
	var eps []string
	n := 0
	for _, s := range e.Subsets {
		for _, a := range s.Addresses {
			if len(s.Ports) == 0 {
				n++
				if len(eps) < 3 {
					eps = append(eps, a.IP)
				}
				continue
			}
			for _, p := range s.Ports {
				n++
				if len(eps) < 3 {
					eps = append(eps, fmt.Sprintf("%s:%d", a.IP, p.Port))
				}
			}
		}
	}
	text := strings.Join(eps, ",")
	if n > 3 {
		text += fmt.Sprintf(" + %d more...", n-3)
	}
	return []any{e.Name, orNone(text), age(e.CreationTimestamp.Time, now)}
}

// NodeStatus is the STATUS cell of a Node: Ready, NotReady or Unknown, with
// ",SchedulingDisabled" when cordoned.
func NodeStatus(n *api.Node) string {
	status := "Unknown"
	for _, c := range n.Status.Conditions {
		if c.Type == "Ready" {
			if c.Status == api.ConditionTrue {
				status = "Ready"
			} else {
				status = "NotReady"
			}
		}
	}
	if n.Spec.Unschedulable {
		status += ",SchedulingDisabled"
	}
	return status
}

// NodeRoles is the ROLES cell of a Node: the roles its node-role.kubernetes.io/ROLE labels
// and kubernetes.io/role label name, sorted, or <none>.
func NodeRoles(n *api.Node) string {
	roles := map[string]bool{}
	for k, v := range n.Labels {
		switch {
		case strings.HasPrefix(k, "node-role.kubernetes.io/"):
			if r := strings.TrimPrefix(k, "node-role.kubernetes.io/"); r != "" {
				roles[r] = true
			}
		case k == "kubernetes.io/role" && v != "":
			roles[v] = true
		}
	}
	return orNone(strings.Join(slices.Sorted(maps.Keys(roles)), ","))
}

func nodeCells(n *api.Node, now time.Time) []any {
	addr := func(typ string) string {
		for _, a := range n.Status.Addresses {
			if a.Type == typ {
				return a.Address
			}
		}
		return none
	}
	info := n.Status.NodeInfo
	return []any{n.Name, NodeStatus(n), NodeRoles(n), age(n.CreationTimestamp.Time, now), orNone(info.KubeletVersion),
		addr("InternalIP"), addr("ExternalIP"), "<unknown>", "<unknown>", cmp.Or(info.ContainerRuntimeVersion, "<unknown>")}
}

func eventCells(e *api.Event, now time.Time) []any {
	first := e.FirstTimestamp.Time
	if first.IsZero() {
		first = e.CreationTimestamp.Time
	}
	last := e.LastTimestamp.Time
	if last.IsZero() {
		last = first
	}
	target := strings.ToLower(e.InvolvedObject.Kind)
	if e.InvolvedObject.Name != "" {
		target += "/" + e.InvolvedObject.Name
	}
	source := e.Source.Component
	if e.Source.Host != "" {
		source += ", " + e.Source.Host
	}
	return []any{age(last, now), e.Type, e.Reason, target, e.InvolvedObject.FieldPath, source,
		strings.TrimSpace(e.Message), age(first, now), int64(max(e.Count, 1)), e.Name}
}

func namespaceCells(n *api.Namespace, now time.Time) []any {
	return []any{n.Name, n.Status.Phase, age(n.CreationTimestamp.Time, now)}
}

func secretCells(s *api.Secret, now time.Time) []any {
	return []any{s.Name, s.Type, int64(len(s.Data)), age(s.CreationTimestamp.Time, now)}
}

func configMapCells(c *api.ConfigMap, now time.Time) []any {
	return []any{c.Name, int64(len(c.Data) + len(c.BinaryData)), age(c.CreationTimestamp.Time, now)}
}

// AccessModes abbreviates access modes as Kubernetes (RWO, ROX, RWX, RWOP).
func AccessModes(ms []string) string {
	short := map[string]string{"ReadWriteOnce": "RWO", "ReadOnlyMany": "ROX", "ReadWriteMany": "RWX", "ReadWriteOncePod": "RWOP"}
	var out []string
	for _, m := range ms {
		if s, ok := short[m]; ok && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return strings.Join(out, ",")
}

func persistentVolumeCells(pv *api.PersistentVolume, now time.Time) []any {
	claim := ""
	if r := pv.Spec.ClaimRef; r != nil {
		claim = r.Namespace + "/" + r.Name
	}
	mode := cmp.Or(pv.Spec.VolumeMode, "<unset>")
	return []any{pv.Name, string(pv.Spec.Capacity["storage"]), AccessModes(pv.Spec.AccessModes),
		pv.Spec.PersistentVolumeReclaimPolicy, pv.Status.Phase, claim, pv.Spec.StorageClassName, "<unset>",
		"", age(pv.CreationTimestamp.Time, now), mode}
}

func persistentVolumeClaimCells(c *api.PersistentVolumeClaim, now time.Time) []any {
	class := "<unset>"
	if c.Spec.StorageClassName != nil {
		class = *c.Spec.StorageClassName
	}
	var capacity, modes string
	if c.Spec.VolumeName != "" {
		capacity, modes = string(c.Status.Capacity["storage"]), AccessModes(c.Status.AccessModes)
	}
	mode := cmp.Or(c.Spec.VolumeMode, "<unset>")
	return []any{c.Name, c.Status.Phase, c.Spec.VolumeName, capacity, modes, class, "<unset>",
		age(c.CreationTimestamp.Time, now), mode}
}

func storageClassCells(sc *api.StorageClass, now time.Time) []any {
	name := sc.Name
	if sc.Annotations[api.IsDefaultClassAnnotation] == "true" {
		name += " (default)"
	}
	reclaim, binding := "Delete", "Immediate"
	if sc.ReclaimPolicy != nil {
		reclaim = *sc.ReclaimPolicy
	}
	if sc.VolumeBindingMode != nil {
		binding = *sc.VolumeBindingMode
	}
	return []any{name, sc.Provisioner, reclaim, binding, deref(sc.AllowVolumeExpansion), age(sc.CreationTimestamp.Time, now)}
}

// HPATargets is the TARGETS cell of a HorizontalPodAutoscaler: "cpu: 40%/50%", with
// <unknown> before a measure.
func HPATargets(h *api.HorizontalPodAutoscaler) string {
	var parts []string
	for i, m := range h.Spec.Metrics {
		if m.Resource == nil {
			continue
		}
		var cur *api.MetricValueStatus
		if i < len(h.Status.CurrentMetrics) {
			if r := h.Status.CurrentMetrics[i].Resource; r != nil && r.Name == m.Resource.Name {
				cur = &r.Current
			}
		}
		current, target := "<unknown>", ""
		t := m.Resource.Target
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
		parts = append(parts, fmt.Sprintf("%s: %s/%s", m.Resource.Name, current, target))
	}
	if len(parts) == 0 {
		return none
	}
	return strings.Join(parts, ", ")
}

func horizontalPodAutoscalerCells(h *api.HorizontalPodAutoscaler, now time.Time) []any {
	r := h.Spec.ScaleTargetRef
	min := "<unset>"
	if h.Spec.MinReplicas != nil {
		min = fmt.Sprint(*h.Spec.MinReplicas)
	}
	return []any{h.Name, r.Kind + "/" + r.Name, HPATargets(h), min, int64(h.Spec.MaxReplicas),
		int64(h.Status.CurrentReplicas), age(h.CreationTimestamp.Time, now)}
}

func leaseCells(l *api.Lease, now time.Time) []any {
	return []any{l.Name, deref(l.Spec.HolderIdentity), age(l.CreationTimestamp.Time, now)}
}

// usage returns the cpu and memory cells of a resource list summed over lists.
func usage(lists ...api.ResourceList) (cpu, memory string) {
	sum := func(name string, f resource.Format) string {
		total := resource.NewQuantity(0, f)
		for _, l := range lists {
			if q, err := resource.ParseQuantity(string(l[name])); err == nil && l[name] != "" {
				total.Add(q)
			}
		}
		return total.String()
	}
	return sum("cpu", resource.DecimalSI), sum("memory", resource.BinarySI)
}

func podMetricsCells(m *api.PodMetrics, _ time.Time) []any {
	var lists []api.ResourceList
	for _, c := range m.Containers {
		lists = append(lists, c.Usage)
	}
	cpu, mem := usage(lists...)
	return []any{m.Name, cpu, mem, m.Window}
}

func nodeMetricsCells(m *api.NodeMetrics, _ time.Time) []any {
	cpu, mem := usage(m.Usage)
	return []any{m.Name, cpu, mem, m.Window}
}
