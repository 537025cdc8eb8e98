package apiserver

import (
	"encoding/json"
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/keeldb/keel/orchestrator/api"
)

// selectableFields are the field selectors each kind supports beyond metadata.name and
// metadata.namespace, as Kubernetes' field label conversions allow them.
var selectableFields = map[string][]string{
	"Pod": {"spec.nodeName", "spec.restartPolicy", "spec.schedulerName", "spec.serviceAccountName",
		"spec.hostNetwork", "status.phase", "status.podIP", "status.nominatedNodeName"},
	"Event": {"involvedObject.kind", "involvedObject.namespace", "involvedObject.name", "involvedObject.uid",
		"involvedObject.apiVersion", "involvedObject.resourceVersion", "involvedObject.fieldPath",
		"reason", "reportingComponent", "source", "type"},
	"Secret":                {"type"},
	"Node":                  {"spec.unschedulable"},
	"Namespace":             {"status.phase"},
	"ReplicaSet":            {"status.replicas"},
	"ReplicationController": {"status.replicas"},
	"Job":                   {"status.successful"},
}

// filter is a request's label and field selectors.
type filter struct {
	labels labels.Selector
	fields fields.Selector
}

func (h *handler) filter() (filter, error) {
	f := filter{labels: labels.Everything(), fields: fields.Everything()}
	if s := h.q.Get("labelSelector"); s != "" {
		sel, err := labels.Parse(s)
		if err != nil {
			return f, errBadRequest("unable to parse requirement: %v", err)
		}
		f.labels = sel
	}
	if s := h.q.Get("fieldSelector"); s != "" {
		sel, err := fields.ParseSelector(s)
		if err != nil {
			return f, errBadRequest("invalid field selector: %v", err)
		}
		allowed := append([]string{"metadata.name", "metadata.namespace"}, selectableFields[h.res.Kind]...)
		for _, r := range sel.Requirements() {
			ok := false
			for _, a := range allowed {
				ok = ok || a == r.Field
			}
			if !ok {
				return f, errBadRequest("field label not supported: %s", r.Field)
			}
		}
		f.fields = sel
	}
	return f, nil
}

func (f filter) matches(obj api.Object) bool {
	if !f.labels.Matches(labels.Set(obj.Meta().Labels)) {
		return false
	}
	if f.fields.Empty() {
		return true
	}
	return f.fields.Matches(fieldSet(obj, f.fields))
}

// fieldSet returns the values of the fields sel names, read from obj's JSON form.
func fieldSet(obj api.Object, sel fields.Selector) fields.Set {
	set := fields.Set{"metadata.name": obj.Meta().Name, "metadata.namespace": obj.Meta().Namespace}
	var doc map[string]any
	for _, r := range sel.Requirements() {
		if _, ok := set[r.Field]; ok {
			continue
		}
		if doc == nil {
			b, _ := json.Marshal(obj)
			_ = json.Unmarshal(b, &doc)
		}
		set[r.Field] = lookup(doc, r.Field)
	}
	return set
}

// lookup returns the value at a dotted path as a field selector compares it ("" if absent).
func lookup(doc map[string]any, path string) string {
	var v any = doc
	for _, p := range strings.Split(path, ".") {
		m, ok := v.(map[string]any)
		if !ok {
			return ""
		}
		v = m[p]
	}
	switch x := v.(type) {
	case nil:
		if strings.HasSuffix(path, "unschedulable") || strings.HasSuffix(path, "hostNetwork") {
			return "false"
		}
		return ""
	case string:
		return x
	case map[string]any:
		if c, ok := x["component"].(string); ok { // event source
			return c
		}
		return ""
	default:
		return fmt.Sprint(x)
	}
}
