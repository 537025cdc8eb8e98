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
	"github.com/keeldb/keel/orchestrator/printers"
)

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

func int32Ptr(p *int32) int32 {
	if p == nil {
		return 0
	}
	return *p
}

// tableCells returns the header and the rows of objs' table: the columns and cells of
// the printers package (the apiserver's Table columns), wide ones only with wide.
func tableCells(resource string, objs []api.Object, wide, withNamespace bool, namePrefix string, now time.Time) (hdr []string, rows [][]string) {
	res, _ := api.LookupResource(resource)
	var shown []int
	if withNamespace {
		hdr = append(hdr, "NAMESPACE")
	}
	cols := printers.Columns(res)
	for i, c := range cols {
		if wide || !printers.Wide(c) {
			shown = append(shown, i)
			hdr = append(hdr, strings.ToUpper(c.Name))
		}
	}
	for _, o := range objs {
		var row []string
		if withNamespace {
			row = append(row, o.Meta().Namespace)
		}
		cells := printers.Cells(o, now)
		for _, i := range shown {
			v := fmt.Sprint(cells[i])
			if cols[i].Format == "name" {
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
