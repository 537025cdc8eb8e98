package main

import (
	"encoding/json"
	"fmt"
	"io"
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
			{header: "EXTERNAL-IP", value: func(api.Object, time.Time) string { return "<none>" }},
			{header: "PORT(S)", value: func(o api.Object, _ time.Time) string {
				var ps []string
				for _, p := range o.(*api.Service).Spec.Ports {
					ps = append(ps, fmt.Sprintf("%d/%s", p.Port, p.Protocol))
				}
				return orNone(strings.Join(ps, ","))
			}},
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
		return []column{
			{header: "LAST SEEN", value: func(o api.Object, now time.Time) string {
				return humanDuration(now.Sub(o.(*api.Event).LastTimestamp.Time))
			}},
			{header: "TYPE", value: func(o api.Object, _ time.Time) string { return o.(*api.Event).Type }},
			{header: "REASON", value: func(o api.Object, _ time.Time) string { return o.(*api.Event).Reason }},
			{header: "OBJECT", value: func(o api.Object, _ time.Time) string {
				ref := o.(*api.Event).InvolvedObject
				return strings.ToLower(ref.Kind) + "/" + ref.Name
			}},
			{header: "MESSAGE", value: func(o api.Object, _ time.Time) string { return o.(*api.Event).Message }},
		}
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
	tw := tabwriter.NewWriter(w, 0, 8, 3, ' ', 0)
	var cols []column
	for _, c := range columns(resource) {
		if !c.wide || wide {
			cols = append(cols, c)
		}
	}
	var hdr []string
	if withNamespace {
		hdr = append(hdr, "NAMESPACE")
	}
	for _, c := range cols {
		hdr = append(hdr, c.header)
	}
	fmt.Fprintln(tw, strings.Join(hdr, "\t"))
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
		fmt.Fprintln(tw, strings.Join(row, "\t"))
	}
	return tw.Flush()
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
