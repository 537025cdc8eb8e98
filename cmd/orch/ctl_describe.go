package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/keeldb/keel/orchestrator/api"
	"github.com/keeldb/keel/orchestrator/labels"
	"github.com/keeldb/keel/orchestrator/printers"
	"github.com/keeldb/keel/orchestrator/registry"
)

func describeFlags(fs *flag.FlagSet) verbFunc {
	ns := namespaceFlag(fs)
	all := fs.Bool("A", false, "describe across all namespaces")
	fs.BoolVar(all, "all-namespaces", false, "describe across all namespaces")
	sel := fs.String("l", "", "label selector")
	fs.StringVar(sel, "selector", "", "label selector")
	return func(ctx context.Context, c *ctl, pos []string) error {
		if len(pos) == 0 {
			fmt.Fprintln(c.stderr, "usage: orch ctl describe RESOURCE [NAME...] | RESOURCE/NAME... [-n NS | -A] [-l SELECTOR]")
			return errUsage
		}
		selector, err := labels.Parse(*sel)
		if err != nil {
			return err
		}
		ts, err := parseTargets(pos, true)
		if err != nil {
			return err
		}
		d := &describer{c: c, st: registry.NewStores(c.cli, registry.Config{}), now: c.now()}
		var objs []api.Object
		for _, t := range ts {
			rc := c.clients[t.res.Name]
			if t.name != "" {
				obj, err := rc.get(ctx, *ns, t.name)
				if err != nil {
					return err
				}
				objs = append(objs, obj)
				continue
			}
			listNS := *ns
			if *all {
				listNS = ""
			}
			l, err := rc.list(ctx, listNS, selector)
			if err != nil {
				return err
			}
			if len(l) == 0 {
				if listNS == "" || !t.res.Namespaced {
					fmt.Fprintln(c.stderr, "No resources found")
				} else {
					fmt.Fprintf(c.stderr, "No resources found in %s namespace.\n", listNS)
				}
			}
			objs = append(objs, l...)
		}
		for i, obj := range objs {
			if i > 0 {
				fmt.Fprintln(c.stdout)
				fmt.Fprintln(c.stdout)
			}
			if err := d.describe(ctx, obj); err != nil {
				return err
			}
		}
		return nil
	}
}

// describer renders kubectl describe's text for one object, events included.
type describer struct {
	c   *ctl
	st  *registry.Stores
	now time.Time
}

func (d *describer) describe(ctx context.Context, obj api.Object) error {
	w := newDescribeWriter(d.c.stdout)
	var err error
	switch o := obj.(type) {
	case *api.Pod:
		d.pod(w, o)
	case *api.Node:
		err = d.node(ctx, w, o)
	case *api.Deployment:
		err = d.deployment(ctx, w, o)
	case *api.ReplicaSet:
		err = d.replicaSet(ctx, w, o)
	case *api.Service:
		err = d.service(ctx, w, o)
	case *api.Endpoints:
		d.endpoints(w, o)
	case *api.Job:
		err = d.job(ctx, w, o)
	case *api.CronJob:
		d.cronJob(w, o)
	case *api.DaemonSet:
		err = d.daemonSet(ctx, w, o)
	case *api.StatefulSet:
		err = d.statefulSet(ctx, w, o)
	case *api.ReplicationController:
		err = d.replicationController(ctx, w, o)
	case *api.HorizontalPodAutoscaler:
		d.horizontalPodAutoscaler(w, o)
	case *api.ConfigMap:
		d.configMap(w, o)
	case *api.Secret:
		d.secret(w, o)
	case *api.Ingress:
		err = d.ingress(ctx, w, o)
	case *api.Role:
		d.policyRules(w, &o.ObjectMeta, true, o.Rules)
	case *api.ClusterRole:
		d.policyRules(w, &o.ObjectMeta, false, o.Rules)
	case *api.RoleBinding:
		d.binding(w, &o.ObjectMeta, true, o.RoleRef, o.Subjects)
	case *api.ClusterRoleBinding:
		d.binding(w, &o.ObjectMeta, false, o.RoleRef, o.Subjects)
	case *api.ResourceQuota:
		d.resourceQuota(w, o)
	case *api.LimitRange:
		d.limitRange(w, o)
	default:
		d.generic(w, obj)
	}
	if err != nil {
		return err
	}
	evs, err := d.eventsFor(ctx, obj)
	if err != nil {
		return err
	}
	w.events(evs, d.now)
	return w.flush()
}

// eventsFor returns the events about obj: in its namespace (any namespace for cluster-scoped
// objects) whose involvedObject has obj's uid, or its kind and name when no uid is recorded.
func (d *describer) eventsFor(ctx context.Context, obj api.Object) ([]*api.Event, error) {
	m := obj.Meta()
	kind := api.ResourceOf(obj).Kind
	l, err := d.st.Events.List(ctx, registry.ListOptions{Namespace: m.Namespace})
	if err != nil {
		return nil, err
	}
	var out []*api.Event
	for _, e := range l.Items {
		ref := e.InvolvedObject
		if ref.UID != "" && m.UID != "" {
			if ref.UID == m.UID {
				out = append(out, e)
			}
			continue
		}
		if ref.Kind == kind && ref.Name == m.Name && (m.Namespace == "" || ref.Namespace == "" || ref.Namespace == m.Namespace) {
			out = append(out, e)
		}
	}
	return out, nil
}

// meta writes Name, Namespace, Labels and Annotations.
func (d *describer) meta(w *describeWriter, m *api.ObjectMeta, namespaced bool) {
	w.line(0, "Name:\t%s", m.Name)
	if namespaced {
		w.line(0, "Namespace:\t%s", m.Namespace)
	}
	w.labelsMultiline(0, "Labels", m.Labels, "=")
	w.labelsMultiline(0, "Annotations", m.Annotations, ": ")
}

func controlledBy(w *describeWriter, m *api.ObjectMeta) {
	if ref := m.ControllerRef(); ref != nil {
		w.line(0, "Controlled By:\t%s/%s", ref.Kind, ref.Name)
	}
}

func (d *describer) generic(w *describeWriter, obj api.Object) {
	m := obj.Meta()
	d.meta(w, m, api.ResourceOf(obj).Namespaced)
	w.line(0, "CreationTimestamp:\t%s", describeTime(m.CreationTimestamp))
}

func (d *describer) pod(w *describeWriter, p *api.Pod) {
	w.line(0, "Name:\t%s", p.Name)
	w.line(0, "Namespace:\t%s", p.Namespace)
	if p.Spec.Priority != nil {
		w.line(0, "Priority:\t%d", *p.Spec.Priority)
	}
	if p.Spec.ServiceAccountName != "" {
		w.line(0, "Service Account:\t%s", p.Spec.ServiceAccountName)
	}
	if p.Spec.NodeName == "" {
		w.line(0, "Node:\t<none>")
	} else {
		w.line(0, "Node:\t%s/%s", p.Spec.NodeName, p.Status.HostIP)
	}
	if p.Status.StartTime != nil {
		w.line(0, "Start Time:\t%s", describeTime(*p.Status.StartTime))
	}
	w.labelsMultiline(0, "Labels", p.Labels, "=")
	w.labelsMultiline(0, "Annotations", p.Annotations, ": ")
	if p.DeletionTimestamp != nil {
		w.line(0, "Status:\tTerminating (lasts %s)", humanDuration(d.now.Sub(p.DeletionTimestamp.Time)))
		if g := p.DeletionGracePeriodSeconds; g != nil {
			w.line(0, "Termination Grace Period:\t%ds", *g)
		}
	} else {
		w.line(0, "Status:\t%s", orDefault(p.Status.Phase, api.PodPending))
	}
	if p.Status.Reason != "" {
		w.line(0, "Reason:\t%s", p.Status.Reason)
	}
	if p.Status.Message != "" {
		w.line(0, "Message:\t%s", p.Status.Message)
	}
	w.line(0, "IP:\t%s", p.Status.PodIP)
	if len(p.Status.PodIPs) > 0 {
		w.line(0, "IPs:")
		for _, ip := range p.Status.PodIPs {
			w.line(1, "IP:\t%s", ip.IP)
		}
	} else {
		w.line(0, "IPs:\t<none>")
	}
	controlledBy(w, &p.ObjectMeta)
	if len(p.Spec.InitContainers) > 0 {
		w.line(0, "Init Containers:")
		containers(w, 0, p.Spec.InitContainers, p.Status.InitContainerStatuses, true)
	}
	w.line(0, "Containers:")
	containers(w, 0, p.Spec.Containers, p.Status.ContainerStatuses, true)
	if len(p.Status.Conditions) > 0 {
		w.line(0, "Conditions:")
		w.line(1, "Type\tStatus")
		for _, c := range p.Status.Conditions {
			w.line(1, "%s \t%s ", c.Type, c.Status)
		}
	}
	podVolumes(w, p.Spec.Volumes)
	if p.Status.QOSClass != "" {
		w.line(0, "QoS Class:\t%s", p.Status.QOSClass)
	}
	w.labelsMultiline(0, "Node-Selectors", p.Spec.NodeSelector, "=")
	tolerations(w, p.Spec.Tolerations)
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func tolerations(w *describeWriter, ts []api.Toleration) {
	if len(ts) == 0 {
		w.line(0, "Tolerations:\t<none>")
		return
	}
	for i, t := range ts {
		s := t.Key
		if t.Operator == "Exists" {
			if s == "" {
				s = "op=Exists"
			} else {
				s += " op=Exists"
			}
		} else if t.Value != "" {
			s += "=" + t.Value
		}
		if t.Effect != "" {
			s += ":" + t.Effect
		}
		if t.TolerationSeconds != nil {
			s += fmt.Sprintf(" for %ds", *t.TolerationSeconds)
		}
		if i == 0 {
			w.line(0, "Tolerations:\t%s", s)
		} else {
			w.line(0, "\t%s", s)
		}
	}
}

// containers writes the containers of a pod (withStatus) or of a pod template.
func containers(w *describeWriter, level int, cs []api.Container, statuses []api.ContainerStatus, withStatus bool) {
	byName := map[string]api.ContainerStatus{}
	for _, s := range statuses {
		byName[s.Name] = s
	}
	for _, c := range cs {
		w.line(level+1, "%s:", c.Name)
		st, ok := byName[c.Name]
		if withStatus && ok && st.ContainerID != "" {
			w.line(level+2, "Container ID:\t%s", st.ContainerID)
		}
		w.line(level+2, "Image:\t%s", c.Image)
		if withStatus && ok {
			w.line(level+2, "Image ID:\t%s", st.ImageID)
		}
		if len(c.Ports) == 0 {
			w.line(level+2, "Port:\t<none>")
		} else {
			var ps []string
			for _, p := range c.Ports {
				ps = append(ps, fmt.Sprintf("%d/%s", p.ContainerPort, orDefault(p.Protocol, "TCP")))
			}
			w.line(level+2, "Port%s:\t%s", plural(len(ps)), strings.Join(ps, ", "))
		}
		stringList(w, level, "Command", c.Command)
		stringList(w, level, "Args", c.Args)
		if withStatus && ok {
			containerState(w, level, "State", st.State)
			if st.LastState.Waiting != nil || st.LastState.Running != nil || st.LastState.Terminated != nil {
				containerState(w, level, "Last State", st.LastState)
			}
			w.line(level+2, "Ready:\t%s", title(st.Ready))
			w.line(level+2, "Restart Count:\t%d", st.RestartCount)
		}
		resourceList(w, level, "Limits", c.Resources.Limits)
		resourceList(w, level, "Requests", c.Resources.Requests)
		if len(c.Env) == 0 {
			w.line(level+2, "Environment:\t<none>")
		} else {
			w.line(level+2, "Environment:")
			for _, e := range c.Env {
				v := e.Value
				if e.ValueFrom != nil && e.ValueFrom.FieldRef != nil {
					v = fmt.Sprintf(" (%s:%s)", orDefault(e.ValueFrom.FieldRef.APIVersion, "v1"), e.ValueFrom.FieldRef.FieldPath)
				} else if e.ValueFrom != nil {
					v = envRefText(e.ValueFrom)
				}
				w.line(level+3, "%s:\t%s", e.Name, v)
			}
		}
		containerConfigRefs(w, level, c)
	}
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

func title(b bool) string {
	if b {
		return "True"
	}
	return "False"
}

func stringList(w *describeWriter, level int, name string, vs []string) {
	if len(vs) == 0 {
		return
	}
	w.line(level+2, "%s:", name)
	for _, v := range vs {
		w.line(level+3, "%s", v)
	}
}

func resourceList(w *describeWriter, level int, name string, rl api.ResourceList) {
	if len(rl) == 0 {
		return
	}
	w.line(level+2, "%s:", name)
	keys := make([]string, 0, len(rl))
	for k := range rl {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		w.line(level+3, "%s:\t%s", k, rl[k])
	}
}

func containerState(w *describeWriter, level int, name string, s api.ContainerState) {
	switch {
	case s.Running != nil:
		w.line(level+2, "%s:\tRunning", name)
		w.line(level+3, "Started:\t%s", describeTime(s.Running.StartedAt))
	case s.Waiting != nil:
		w.line(level+2, "%s:\tWaiting", name)
		if s.Waiting.Reason != "" {
			w.line(level+3, "Reason:\t%s", s.Waiting.Reason)
		}
		if s.Waiting.Message != "" {
			w.line(level+3, "Message:\t%s", s.Waiting.Message)
		}
	case s.Terminated != nil:
		t := s.Terminated
		w.line(level+2, "%s:\tTerminated", name)
		if t.Reason != "" {
			w.line(level+3, "Reason:\t%s", t.Reason)
		}
		if t.Message != "" {
			w.line(level+3, "Message:\t%s", t.Message)
		}
		w.line(level+3, "Exit Code:\t%d", t.ExitCode)
		if t.Signal != 0 {
			w.line(level+3, "Signal:\t%d", t.Signal)
		}
		w.line(level+3, "Started:\t%s", describeTime(t.StartedAt))
		w.line(level+3, "Finished:\t%s", describeTime(t.FinishedAt))
	default:
		w.line(level+2, "%s:\tWaiting", name)
	}
}

// podTemplate writes a "Pod Template:" section at level.
func (w *describeWriter) podTemplate(level int, t api.PodTemplateSpec) {
	w.line(level, "Pod Template:")
	w.labelsMultiline(level+1, "Labels", t.Labels, "=")
	if len(t.Annotations) > 0 {
		w.labelsMultiline(level+1, "Annotations", t.Annotations, ": ")
	}
	if len(t.Spec.InitContainers) > 0 {
		w.line(level+1, "Init Containers:")
		containers(w, level+1, t.Spec.InitContainers, nil, false)
	}
	w.line(level+1, "Containers:")
	containers(w, level+1, t.Spec.Containers, nil, false)
	if len(t.Spec.NodeSelector) > 0 {
		w.labelsMultiline(level+1, "Node-Selectors", t.Spec.NodeSelector, "=")
	}
}

func selectorString(ls *api.LabelSelector) string {
	if ls == nil {
		return "<none>"
	}
	var parts []string
	keys := make([]string, 0, len(ls.MatchLabels))
	for k := range ls.MatchLabels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		parts = append(parts, k+"="+ls.MatchLabels[k])
	}
	for _, e := range ls.MatchExpressions {
		switch e.Operator {
		case "Exists":
			parts = append(parts, e.Key)
		case "DoesNotExist":
			parts = append(parts, "!"+e.Key)
		default:
			parts = append(parts, fmt.Sprintf("%s %s (%s)", e.Key, strings.ToLower(e.Operator[:1])+e.Operator[1:], strings.Join(e.Values, ",")))
		}
	}
	return orNone(strings.Join(parts, ","))
}

func (d *describer) deployment(ctx context.Context, w *describeWriter, dep *api.Deployment) error {
	w.line(0, "Name:\t%s", dep.Name)
	w.line(0, "Namespace:\t%s", dep.Namespace)
	w.line(0, "CreationTimestamp:\t%s", describeTime(dep.CreationTimestamp))
	w.labelsMultiline(0, "Labels", dep.Labels, "=")
	w.labelsMultiline(0, "Annotations", dep.Annotations, ": ")
	w.line(0, "Selector:\t%s", selectorString(dep.Spec.Selector))
	st := dep.Status
	w.line(0, "Replicas:\t%d desired | %d updated | %d total | %d available | %d unavailable",
		int32Ptr(dep.Spec.Replicas), st.UpdatedReplicas, st.Replicas, st.AvailableReplicas, st.UnavailableReplicas)
	strategy := orDefault(dep.Spec.Strategy.Type, api.RollingUpdateStrategy)
	w.line(0, "StrategyType:\t%s", strategy)
	w.line(0, "MinReadySeconds:\t%d", dep.Spec.MinReadySeconds)
	if ru := dep.Spec.Strategy.RollingUpdate; strategy == api.RollingUpdateStrategy && ru != nil {
		w.line(0, "RollingUpdateStrategy:\t%s max unavailable, %s max surge", intOrStr(ru.MaxUnavailable), intOrStr(ru.MaxSurge))
	}
	if dep.Spec.Paused {
		w.line(0, "Paused:\ttrue")
	}
	w.podTemplate(0, dep.Spec.Template)
	if len(st.Conditions) > 0 {
		w.line(0, "Conditions:")
		w.line(1, "Type\tStatus\tReason")
		w.line(1, "----\t------\t------")
		for _, c := range st.Conditions {
			w.line(1, "%s \t%s\t%s", c.Type, c.Status, c.Reason)
		}
	}
	rss, err := ownedReplicaSets(ctx, d.st, dep)
	if err != nil {
		return err
	}
	var newRS *api.ReplicaSet
	var old []string
	for _, rs := range rss {
		if sameTemplate(rs.Spec.Template, dep.Spec.Template) && newRS == nil {
			newRS = rs
			continue
		}
		if int32Ptr(rs.Spec.Replicas) > 0 || rs.Status.Replicas > 0 {
			old = append(old, rsSummary(rs))
		}
	}
	w.line(0, "OldReplicaSets:\t%s", orNone(strings.Join(old, ", ")))
	if newRS == nil {
		w.line(0, "NewReplicaSet:\t<none>")
	} else {
		w.line(0, "NewReplicaSet:\t%s", rsSummary(newRS))
	}
	return nil
}

func rsSummary(rs *api.ReplicaSet) string {
	return fmt.Sprintf("%s (%d/%d replicas created)", rs.Name, rs.Status.Replicas, int32Ptr(rs.Spec.Replicas))
}

func intOrStr(v *api.IntOrString) string {
	if v == nil {
		return "25%"
	}
	return v.String()
}

func (d *describer) replicaSet(ctx context.Context, w *describeWriter, rs *api.ReplicaSet) error {
	w.line(0, "Name:\t%s", rs.Name)
	w.line(0, "Namespace:\t%s", rs.Namespace)
	w.line(0, "Selector:\t%s", selectorString(rs.Spec.Selector))
	w.labelsMultiline(0, "Labels", rs.Labels, "=")
	w.labelsMultiline(0, "Annotations", rs.Annotations, ": ")
	controlledBy(w, &rs.ObjectMeta)
	w.line(0, "Replicas:\t%d current / %d desired", rs.Status.Replicas, int32Ptr(rs.Spec.Replicas))
	pods, err := podsOf(ctx, d.st, rs.Namespace, rs.Spec.Selector)
	if err != nil {
		return err
	}
	phases := map[string]int{}
	for _, p := range pods {
		if ref := p.ControllerRef(); ref != nil && ref.UID == rs.UID {
			phases[orDefault(p.Status.Phase, api.PodPending)]++
		}
	}
	w.line(0, "Pods Status:\t%d Running / %d Waiting / %d Succeeded / %d Failed",
		phases[api.PodRunning], phases[api.PodPending], phases[api.PodSucceeded], phases[api.PodFailed])
	w.podTemplate(0, rs.Spec.Template)
	if len(rs.Status.Conditions) > 0 {
		w.line(0, "Conditions:")
		w.line(1, "Type\tStatus\tReason")
		w.line(1, "----\t------\t------")
		for _, c := range rs.Status.Conditions {
			w.line(1, "%s \t%s\t%s", c.Type, c.Status, c.Reason)
		}
	}
	return nil
}

func (d *describer) service(ctx context.Context, w *describeWriter, s *api.Service) error {
	d.meta(w, &s.ObjectMeta, true)
	w.labelsMultiline(0, "Selector", s.Spec.Selector, "=")
	w.line(0, "Type:\t%s", orDefault(s.Spec.Type, "ClusterIP"))
	w.line(0, "IP:\t%s", orNone(s.Spec.ClusterIP))
	if len(s.Spec.ClusterIPs) > 0 {
		w.line(0, "IPs:\t%s", strings.Join(s.Spec.ClusterIPs, ","))
	}
	describeServiceExternal(w, s)
	ep, err := d.st.Endpoints.Get(ctx, s.Namespace, s.Name)
	if err != nil && !isNotFound(err) {
		return err
	}
	for _, p := range s.Spec.Ports {
		w.line(0, "Port:\t%s\t%d/%s", orDefault(p.Name, "<unset>"), p.Port, orDefault(p.Protocol, "TCP"))
		tp := p.TargetPort.String()
		if tp == "" || tp == "0" {
			tp = fmt.Sprint(p.Port)
		}
		w.line(0, "TargetPort:\t%s/%s", tp, orDefault(p.Protocol, "TCP"))
		if p.NodePort != 0 {
			w.line(0, "NodePort:\t%s\t%d/%s", orDefault(p.Name, "<unset>"), p.NodePort, orDefault(p.Protocol, "TCP"))
		}
		w.line(0, "Endpoints:\t%s", endpointsForPort(ep, p.Name))
	}
	w.line(0, "Session Affinity:\t%s", orDefault(s.Spec.SessionAffinity, "None"))
	return nil
}

// endpointsForPort lists "ip:port" of the ready addresses serving the named service port.
func endpointsForPort(ep *api.Endpoints, portName string) string {
	if ep == nil {
		return "<none>"
	}
	var out []string
	for _, ss := range ep.Subsets {
		for _, p := range ss.Ports {
			if p.Name != portName {
				continue
			}
			for _, a := range ss.Addresses {
				out = append(out, fmt.Sprintf("%s:%d", a.IP, p.Port))
			}
		}
	}
	return orNone(strings.Join(out, ","))
}

func (d *describer) endpoints(w *describeWriter, ep *api.Endpoints) {
	d.meta(w, &ep.ObjectMeta, true)
	w.line(0, "Subsets:")
	for _, ss := range ep.Subsets {
		ips := func(as []api.EndpointAddress) string {
			var out []string
			for _, a := range as {
				out = append(out, a.IP)
			}
			return orNone(strings.Join(out, ","))
		}
		w.line(1, "Addresses:\t%s", ips(ss.Addresses))
		w.line(1, "NotReadyAddresses:\t%s", ips(ss.NotReadyAddresses))
		w.line(1, "Ports:")
		w.line(2, "Name\tPort\tProtocol")
		w.line(2, "----\t----\t--------")
		for _, p := range ss.Ports {
			w.line(2, "%s\t%d\t%s", orDefault(p.Name, "<unset>"), p.Port, orDefault(p.Protocol, "TCP"))
		}
		w.line(0, "")
	}
}

func (d *describer) node(ctx context.Context, w *describeWriter, n *api.Node) error {
	w.line(0, "Name:\t%s", n.Name)
	w.line(0, "Roles:\t<none>")
	w.labelsMultiline(0, "Labels", n.Labels, "=")
	w.labelsMultiline(0, "Annotations", n.Annotations, ": ")
	w.line(0, "CreationTimestamp:\t%s", describeTime(n.CreationTimestamp))
	if len(n.Spec.Taints) == 0 {
		w.line(0, "Taints:\t<none>")
	}
	for i, t := range n.Spec.Taints {
		s := t.Key
		if t.Value != "" {
			s += "=" + t.Value
		}
		s += ":" + t.Effect
		if i == 0 {
			w.line(0, "Taints:\t%s", s)
		} else {
			w.line(0, "\t%s", s)
		}
	}
	w.line(0, "Unschedulable:\t%t", n.Spec.Unschedulable)
	if len(n.Status.Conditions) > 0 {
		w.line(0, "Conditions:")
		w.line(1, "Type\tStatus\tLastHeartbeatTime\tLastTransitionTime\tReason\tMessage")
		w.line(1, "----\t------\t-----------------\t------------------\t------\t-------")
		for _, c := range n.Status.Conditions {
			w.line(1, "%s \t%s \t%s \t%s \t%s \t%s", c.Type, c.Status, describeTime(c.LastHeartbeatTime),
				describeTime(c.LastTransitionTime), c.Reason, c.Message)
		}
	}
	w.line(0, "Addresses:")
	for _, a := range n.Status.Addresses {
		w.line(1, "%s:\t%s", a.Type, a.Address)
	}
	if p := n.Status.DaemonEndpoints.KubeletEndpoint.Port; p != 0 {
		w.line(0, "Agent Endpoint:\t%d", p)
	}
	for _, sec := range []struct {
		name string
		rl   api.ResourceList
	}{{"Capacity", n.Status.Capacity}, {"Allocatable", n.Status.Allocatable}} {
		if len(sec.rl) == 0 {
			continue
		}
		w.line(0, "%s:", sec.name)
		keys := make([]string, 0, len(sec.rl))
		for k := range sec.rl {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			w.line(1, "%s:\t%s", k, sec.rl[k])
		}
	}
	info := n.Status.NodeInfo
	w.line(0, "System Info:")
	w.line(1, "Operating System:\t%s", info.OperatingSystem)
	w.line(1, "Architecture:\t%s", info.Architecture)
	w.line(1, "Container Runtime Version:\t%s", info.ContainerRuntimeVersion)
	w.line(1, "Kubelet Version:\t%s", info.KubeletVersion)
	return d.nodePods(ctx, w, n)
}

// nodePods writes the node's non-terminated pods with their requests and limits, and the
// totals against allocatable.
func (d *describer) nodePods(ctx context.Context, w *describeWriter, n *api.Node) error {
	all, err := listPods(ctx, d.st, "", labels.Selector{})
	if err != nil {
		return err
	}
	var pods []*api.Pod
	for _, p := range all {
		if p.Spec.NodeName == n.Name && p.Status.Phase != api.PodSucceeded && p.Status.Phase != api.PodFailed {
			pods = append(pods, p)
		}
	}
	alloc := n.Status.Allocatable
	if len(alloc) == 0 {
		alloc = n.Status.Capacity
	}
	pct := func(res string, milli int64) string {
		total := alloc[res].MilliValue()
		if total == 0 {
			return formatQuantity(res, milli) + " (0%)"
		}
		return fmt.Sprintf("%s (%d%%)", formatQuantity(res, milli), int64(float64(milli)/float64(total)*100))
	}
	sum := func(p *api.Pod, limits bool, res string) int64 {
		var t int64
		for _, c := range p.Spec.Containers {
			rl := c.Resources.Requests
			if limits {
				rl = c.Resources.Limits
			}
			t += rl[res].MilliValue()
		}
		return t
	}
	w.line(0, "Non-terminated Pods:\t(%d in total)", len(pods))
	w.line(1, "Namespace\tName\tCPU Requests\tCPU Limits\tMemory Requests\tMemory Limits\tAge")
	w.line(1, "---------\t----\t------------\t----------\t---------------\t-------------\t---")
	var cpuReq, cpuLim, memReq, memLim int64
	for _, p := range pods {
		cr, cl, mr, ml := sum(p, false, "cpu"), sum(p, true, "cpu"), sum(p, false, "memory"), sum(p, true, "memory")
		cpuReq, cpuLim, memReq, memLim = cpuReq+cr, cpuLim+cl, memReq+mr, memLim+ml
		w.line(1, "%s\t%s\t%s\t%s\t%s\t%s\t%s", p.Namespace, p.Name, pct("cpu", cr), pct("cpu", cl),
			pct("memory", mr), pct("memory", ml), printers.Age(p.CreationTimestamp.Time, d.now))
	}
	w.line(0, "Allocated resources:")
	w.line(1, "(Total limits may be over 100 percent, i.e., overcommitted.)")
	w.line(1, "Resource\tRequests\tLimits")
	w.line(1, "--------\t--------\t------")
	w.line(1, "cpu\t%s\t%s", pct("cpu", cpuReq), pct("cpu", cpuLim))
	w.line(1, "memory\t%s\t%s", pct("memory", memReq), pct("memory", memLim))
	return nil
}

func isNotFound(err error) bool { return err != nil && errors.Is(err, registry.ErrNotFound) }
