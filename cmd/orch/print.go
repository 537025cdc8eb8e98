package main

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/keeldb/keel/orchestrator/api"
)

// column is one column of a resource's table.
type column struct {
	header string
	wide   bool // only with -o wide
	value  func(obj api.Object, now time.Time) string
}

func age(obj api.Object, now time.Time) string {
	ts := obj.Meta().CreationTimestamp
	if ts.IsZero() {
		return "<unknown>"
	}
	return humanDuration(now.Sub(ts.Time))
}

// humanDuration renders d as kubectl does: 45s, 5m10s, 3h, 4d.
func humanDuration(d time.Duration) string {
	switch {
	case d < 0:
		return "0s"
	case d < 2*time.Minute:
		return strconv.Itoa(int(d.Seconds())) + "s"
	case d < 10*time.Minute:
		m := int(d.Minutes())
		if s := int(d.Seconds()) % 60; s != 0 {
			return fmt.Sprintf("%dm%ds", m, s)
		}
		return fmt.Sprintf("%dm", m)
	case d < 3*time.Hour:
		return strconv.Itoa(int(d.Minutes())) + "m"
	case d < 48*time.Hour:
		return strconv.Itoa(int(d.Hours())) + "h"
	}
	return strconv.Itoa(int(d.Hours()/24)) + "d"
}

func nameColumn() column {
	return column{header: "NAME", value: func(o api.Object, _ time.Time) string { return o.Meta().Name }}
}

func ageColumn() column { return column{header: "AGE", value: age} }

func int32Ptr(p *int32) int32 {
	if p == nil {
		return 0
	}
	return *p
}

// columns returns the table columns of a resource.
func columns(resource string) []column {
	n, a := nameColumn(), ageColumn()
	if cs := setColumns(resource); cs != nil {
		return cs
	}
	if cs := configColumns(resource); cs != nil {
		return cs
	}
	if cs := ingressColumns(resource); cs != nil {
		return cs
	}
	if cs := storageColumns(resource); cs != nil {
		return cs
	}
	if cs := policyColumns(resource); cs != nil {
		return cs
	}
	switch resource {
	case "pods":
		return []column{n,
			{header: "READY", value: func(o api.Object, _ time.Time) string {
				p := o.(*api.Pod)
				ready := 0
				for _, c := range p.Status.ContainerStatuses {
					if c.Ready {
						ready++
					}
				}
				return fmt.Sprintf("%d/%d", ready, len(p.Spec.Containers))
			}},
			{header: "STATUS", value: func(o api.Object, _ time.Time) string { return podStatus(o.(*api.Pod)) }},
			{header: "RESTARTS", value: func(o api.Object, _ time.Time) string {
				var r int32
				for _, c := range o.(*api.Pod).Status.ContainerStatuses {
					r += c.RestartCount
				}
				return strconv.Itoa(int(r))
			}},
			a,
			{header: "IP", wide: true, value: func(o api.Object, _ time.Time) string { return orNone(o.(*api.Pod).Status.PodIP) }},
			{header: "NODE", wide: true, value: func(o api.Object, _ time.Time) string { return orNone(o.(*api.Pod).Spec.NodeName) }},
		}
	case "nodes":
		return []column{n,
			{header: "STATUS", value: func(o api.Object, _ time.Time) string { return nodeStatus(o.(*api.Node)) }},
			{header: "ROLES", value: func(api.Object, time.Time) string { return "<none>" }},
			a,
			{header: "VERSION", value: func(o api.Object, _ time.Time) string { return orNone(o.(*api.Node).Status.NodeInfo.KubeletVersion) }},
			{header: "INTERNAL-IP", wide: true, value: func(o api.Object, _ time.Time) string {
				for _, ad := range o.(*api.Node).Status.Addresses {
					if ad.Type == "InternalIP" {
						return ad.Address
					}
				}
				return "<none>"
			}},
		}
	case "deployments":
		return []column{n,
			{header: "READY", value: func(o api.Object, _ time.Time) string {
				d := o.(*api.Deployment)
				return fmt.Sprintf("%d/%d", d.Status.ReadyReplicas, int32Ptr(d.Spec.Replicas))
			}},
			{header: "UP-TO-DATE", value: func(o api.Object, _ time.Time) string {
				return strconv.Itoa(int(o.(*api.Deployment).Status.UpdatedReplicas))
			}},
			{header: "AVAILABLE", value: func(o api.Object, _ time.Time) string {
				return strconv.Itoa(int(o.(*api.Deployment).Status.AvailableReplicas))
			}},
			a,
		}
	case "replicasets":
		return []column{n,
			{header: "DESIRED", value: func(o api.Object, _ time.Time) string {
				return strconv.Itoa(int(int32Ptr(o.(*api.ReplicaSet).Spec.Replicas)))
			}},
			{header: "CURRENT", value: func(o api.Object, _ time.Time) string { return strconv.Itoa(int(o.(*api.ReplicaSet).Status.Replicas)) }},
			{header: "READY", value: func(o api.Object, _ time.Time) string {
				return strconv.Itoa(int(o.(*api.ReplicaSet).Status.ReadyReplicas))
			}},
			a,
		}
	case "services":
		return []column{n,
			{header: "TYPE", value: func(o api.Object, _ time.Time) string { return o.(*api.Service).Spec.Type }},
			{header: "CLUSTER-IP", value: func(o api.Object, _ time.Time) string { return orNone(o.(*api.Service).Spec.ClusterIP) }},
			{header: "EXTERNAL-IP", value: func(o api.Object, _ time.Time) string { return serviceExternalIP(o.(*api.Service)) }},
			{header: "PORT(S)", value: func(o api.Object, _ time.Time) string { return servicePorts(o.(*api.Service)) }},
			a,
		}
	case "endpoints":
		return []column{n,
			{header: "ENDPOINTS", value: func(o api.Object, _ time.Time) string {
				var eps []string
				for _, s := range o.(*api.Endpoints).Subsets {
					for _, ad := range s.Addresses {
						for _, p := range s.Ports {
							eps = append(eps, fmt.Sprintf("%s:%d", ad.IP, p.Port))
						}
					}
				}
				if len(eps) > 3 {
					eps = append(eps[:3], fmt.Sprintf("+ %d more...", len(eps)-3))
				}
				return orNone(strings.Join(eps, ","))
			}},
			a,
		}
	case "namespaces":
		return []column{n, {header: "STATUS", value: func(o api.Object, _ time.Time) string { return o.(*api.Namespace).Status.Phase }}, a}
	case "events":
		ev := func(o api.Object) *api.Event { return o.(*api.Event) }
		return []column{
			{header: "LAST SEEN", value: func(o api.Object, now time.Time) string { return sinceOrUnknown(eventLastTime(ev(o)), now) }},
			{header: "TYPE", value: func(o api.Object, _ time.Time) string { return ev(o).Type }},
			{header: "REASON", value: func(o api.Object, _ time.Time) string { return ev(o).Reason }},
			{header: "OBJECT", value: func(o api.Object, _ time.Time) string {
				ref := ev(o).InvolvedObject
				return strings.ToLower(ref.Kind) + "/" + ref.Name
			}},
			{header: "SUBOBJECT", wide: true, value: func(o api.Object, _ time.Time) string { return ev(o).InvolvedObject.FieldPath }},
			{header: "SOURCE", wide: true, value: func(o api.Object, _ time.Time) string { return eventSource(ev(o).Source) }},
			{header: "MESSAGE", value: func(o api.Object, _ time.Time) string { return strings.TrimSpace(ev(o).Message) }},
			{header: "FIRST SEEN", wide: true, value: func(o api.Object, now time.Time) string {
				t := ev(o).FirstTimestamp.Time
				if t.IsZero() {
					t = o.Meta().CreationTimestamp.Time
				}
				return sinceOrUnknown(t, now)
			}},
			{header: "COUNT", wide: true, value: func(o api.Object, _ time.Time) string { return strconv.Itoa(int(max(ev(o).Count, 1))) }},
			{header: "NAME", wide: true, value: func(o api.Object, _ time.Time) string { return o.Meta().Name }},
		}
	case "jobs":
		return jobColumns()
	case "cronjobs":
		return cronJobColumns()
	case "replicationcontrollers", "horizontalpodautoscalers":
		return autoscalingColumns(resource)
	case "leases":
		return []column{n,
			{header: "HOLDER", value: func(o api.Object, _ time.Time) string {
				if h := o.(*api.Lease).Spec.HolderIdentity; h != nil {
					return *h
				}
				return ""
			}},
			a,
		}
	}
	return []column{n, a}
}

// eventLastTime is when an event was last seen: lastTimestamp, else firstTimestamp, else
// its creation.
func eventLastTime(e *api.Event) time.Time {
	for _, t := range []api.Time{e.LastTimestamp, e.FirstTimestamp, e.CreationTimestamp} {
		if !t.IsZero() {
			return t.Time
		}
	}
	return time.Time{}
}

// eventSource renders an event's source as kubectl does: "component, host".
func eventSource(s api.EventSource) string {
	if s.Host != "" {
		return s.Component + ", " + s.Host
	}
	return s.Component
}

func sinceOrUnknown(t, now time.Time) string {
	if t.IsZero() {
		return "<unknown>"
	}
	return humanDuration(now.Sub(t))
}

func orNone(s string) string {
	if s == "" {
		return "<none>"
	}
	return s
}

func podStatus(p *api.Pod) string {
	if p.DeletionTimestamp != nil {
		return "Terminating"
	}
	for _, c := range p.Status.ContainerStatuses {
		if w := c.State.Waiting; w != nil && w.Reason != "" {
			return w.Reason
		}
	}
	if p.Status.Reason != "" {
		return p.Status.Reason
	}
	if p.Status.Phase == "" {
		return api.PodPending
	}
	return p.Status.Phase
}

func nodeStatus(n *api.Node) string {
	s := "Unknown"
	for _, c := range n.Status.Conditions {
		if c.Type == "Ready" {
			switch c.Status {
			case api.ConditionTrue:
				s = "Ready"
			case api.ConditionFalse:
				s = "NotReady"
			}
		}
	}
	if n.Spec.Unschedulable {
		s += ",SchedulingDisabled"
	}
	return s
}

// printTable writes objs as a kubectl table. withNamespace adds a NAMESPACE column;
// namePrefix ("pod/") is put before every name (for get all).
func printTable(w io.Writer, resource string, objs []api.Object, wide, withNamespace bool, namePrefix string, now time.Time) error {
	return writeTable(w, resource, objs, wide, withNamespace, namePrefix, true, now)
}

// writeTable is printTable, with the header line only when header is set.
func writeTable(w io.Writer, resource string, objs []api.Object, wide, withNamespace bool, namePrefix string, header bool, now time.Time) error {
	tw := tabwriter.NewWriter(w, 0, 8, 3, ' ', 0)
	hdr, rows := tableCells(resource, objs, wide, withNamespace, namePrefix, now)
	if header {
		fmt.Fprintln(tw, strings.Join(hdr, "\t"))
	}
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	return tw.Flush()
}

// tableCells returns the header and the rows of objs' table.
func tableCells(resource string, objs []api.Object, wide, withNamespace bool, namePrefix string, now time.Time) (hdr []string, rows [][]string) {
	var cols []column
	for _, c := range columns(resource) {
		if !c.wide || wide {
			cols = append(cols, c)
		}
	}
	if withNamespace {
		hdr = append(hdr, "NAMESPACE")
	}
	for _, c := range cols {
		hdr = append(hdr, c.header)
	}
	for _, o := range objs {
		var row []string
		if withNamespace {
			row = append(row, o.Meta().Namespace)
		}
		for _, c := range cols {
			v := c.value(o, now)
			if c.header == "NAME" {
				v = namePrefix + v
			}
			row = append(row, v)
		}
		rows = append(rows, row)
	}
	return hdr, rows
}

// kubeList is kubectl's List of items.
type kubeList struct {
	APIVersion string         `json:"apiVersion"`
	Kind       string         `json:"kind"`
	Items      []api.Object   `json:"items"`
	Metadata   map[string]any `json:"metadata"`
}

func newList(objs []api.Object) kubeList {
	if objs == nil {
		objs = []api.Object{}
	}
	for _, o := range objs {
		api.SetTypeMeta(o)
	}
	return kubeList{APIVersion: "v1", Kind: "List", Items: objs, Metadata: map[string]any{"resourceVersion": ""}}
}

// printStructured writes v as indented JSON or YAML.
func printStructured(w io.Writer, format string, v any) error {
	b, err := json.MarshalIndent(v, "", "    ")
	if err != nil {
		return err
	}
	if format == "yaml" {
		if b, err = yaml.JSONToYAML(b); err != nil {
			return err
		}
		_, err = w.Write(b)
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

// describeWriter writes kubectl describe's layout: "Key:\tvalue" lines indented two spaces
// per level, aligned by one tabwriter over the whole output.
type describeWriter struct{ tw *tabwriter.Writer }

func newDescribeWriter(w io.Writer) *describeWriter {
	return &describeWriter{tw: tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)}
}

// line writes one line at an indentation level.
func (w *describeWriter) line(level int, format string, a ...any) {
	fmt.Fprintf(w.tw, strings.Repeat("  ", level)+format+"\n", a...)
}

func (w *describeWriter) flush() error { return w.tw.Flush() }

// describeTime is kubectl describe's timestamp format.
func describeTime(t api.Time) string {
	if t.IsZero() {
		return "<unknown>"
	}
	return t.Format(time.RFC1123Z)
}

// labelsMultiline writes "title:\tk=v" with one label a line, sorted, or <none>.
func (w *describeWriter) labelsMultiline(level int, title string, m map[string]string, sep string) {
	if len(m) == 0 {
		w.line(level, "%s:\t<none>", title)
		return
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for i, k := range keys {
		if i == 0 {
			w.line(level, "%s:\t%s%s%s", title, k, sep, m[k])
		} else {
			w.line(level, "\t%s%s%s", k, sep, m[k])
		}
	}
}

// events writes the Events table (Type, Reason, Age, From, Message), oldest first, or
// "Events: <none>".
func (w *describeWriter) events(evs []*api.Event, now time.Time) {
	if len(evs) == 0 {
		w.line(0, "Events:\t<none>")
		return
	}
	sort.SliceStable(evs, func(i, j int) bool { return eventLastTime(evs[i]).Before(eventLastTime(evs[j])) })
	w.line(0, "Events:")
	w.line(1, "Type\tReason\tAge\tFrom\tMessage")
	w.line(1, "----\t------\t----\t----\t-------")
	for _, e := range evs {
		ageStr := sinceOrUnknown(eventLastTime(e), now)
		if e.Count > 1 && !e.FirstTimestamp.IsZero() {
			ageStr = fmt.Sprintf("%s (x%d over %s)", ageStr, e.Count, humanDuration(now.Sub(e.FirstTimestamp.Time)))
		}
		w.line(1, "%s\t%s\t%s\t%s\t%s", e.Type, e.Reason, ageStr, eventSource(e.Source), strings.TrimSpace(e.Message))
	}
}

// formatQuantity renders a summed amount in thousandths as kubectl would: cpu in m or
// cores, memory in the largest exact binary unit.
func formatQuantity(resource string, milli int64) string {
	if resource == "cpu" {
		if milli%1000 == 0 {
			return strconv.FormatInt(milli/1000, 10)
		}
		return strconv.FormatInt(milli, 10) + "m"
	}
	v := milli / 1000
	if v == 0 {
		return "0"
	}
	for _, u := range []struct {
		suffix string
		size   int64
	}{{"Gi", 1 << 30}, {"Mi", 1 << 20}, {"Ki", 1 << 10}} {
		if v%u.size == 0 {
			return strconv.FormatInt(v/u.size, 10) + u.suffix
		}
	}
	return strconv.FormatInt(v, 10)
}

// containerNames and containerImages are the CONTAINERS and IMAGES columns of kubectl -o wide.
func containerNames(s api.PodSpec) string {
	var out []string
	for _, c := range s.Containers {
		out = append(out, c.Name)
	}
	return strings.Join(out, ",")
}

func containerImages(s api.PodSpec) string {
	var out []string
	for _, c := range s.Containers {
		out = append(out, c.Image)
	}
	return strings.Join(out, ",")
}
