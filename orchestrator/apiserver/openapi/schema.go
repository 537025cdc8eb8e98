package openapi

import (
	"reflect"
	"sort"
	"strings"

	"k8s.io/kube-openapi/pkg/validation/spec"

	"github.com/keeldb/keel/orchestrator/api"
)

// Definition names of the types Kubernetes keeps in apimachinery, by Go type name.
var metaNames = map[string]string{
	"ObjectMeta":               "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta",
	"OwnerReference":           "io.k8s.apimachinery.pkg.apis.meta.v1.OwnerReference",
	"LabelSelector":            "io.k8s.apimachinery.pkg.apis.meta.v1.LabelSelector",
	"LabelSelectorRequirement": "io.k8s.apimachinery.pkg.apis.meta.v1.LabelSelectorRequirement",
	"Time":                     "io.k8s.apimachinery.pkg.apis.meta.v1.Time",
	"MicroTime":                "io.k8s.apimachinery.pkg.apis.meta.v1.MicroTime",
	"Quantity":                 "io.k8s.apimachinery.pkg.api.resource.Quantity",
	"IntOrString":              "io.k8s.apimachinery.pkg.util.intstr.IntOrString",
	"ManagedFieldsEntry":       "io.k8s.apimachinery.pkg.apis.meta.v1.ManagedFieldsEntry",
	"FieldsV1":                 "io.k8s.apimachinery.pkg.apis.meta.v1.FieldsV1",
}

const (
	listMetaName = "io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta"
	patchName    = "io.k8s.apimachinery.pkg.apis.meta.v1.Patch"
	statusName   = "io.k8s.apimachinery.pkg.apis.meta.v1.Status"
)

// patchMeta is a list field's strategic merge strategy and merge key, as Kubernetes
// declares them (x-kubernetes-patch-strategy, x-kubernetes-patch-merge-key).
type patchMeta struct{ strategy, key string }

// patchFields holds the patch metadata of list (and other) fields, by "GoType.jsonName".
var patchFields = map[string]patchMeta{
	"ObjectMeta.ownerReferences":   {"merge", "uid"},
	"ObjectMeta.finalizers":        {"merge", ""},
	"PodSpec.containers":           {"merge", "name"},
	"PodSpec.initContainers":       {"merge", "name"},
	"PodSpec.volumes":              {"merge,retainKeys", "name"},
	"Container.ports":              {"merge", "containerPort"},
	"Container.env":                {"merge", "name"},
	"Container.volumeMounts":       {"merge", "mountPath"},
	"PodStatus.conditions":         {"merge", "type"},
	"PodStatus.podIPs":             {"merge", "ip"},
	"NodeSpec.podCIDRs":            {"merge", ""},
	"NodeStatus.conditions":        {"merge", "type"},
	"NodeStatus.addresses":         {"merge", "type"},
	"ServiceSpec.ports":            {"merge", "port"},
	"DeploymentSpec.strategy":      {"retainKeys", ""},
	"DeploymentStatus.conditions":  {"merge", "type"},
	"ReplicaSetStatus.conditions":  {"merge", "type"},
	"DaemonSetSpec.updateStrategy": {"retainKeys", ""},
	"DaemonSetStatus.conditions":   {"merge", "type"},
	"StatefulSetStatus.conditions": {"merge", "type"},
	"JobStatus.conditions":         {"merge", "type"},
	"NamespaceStatus.conditions":   {"merge", "type"},
}

// definitions builds the schemas of a set of Go types, with refs under a prefix
// ("#/definitions/" for v2, "#/components/schemas/" for v3).
type definitions struct {
	v3     bool
	names  map[reflect.Type]string       // the definition name of each named struct type
	docs   map[reflect.Type]reflect.Type // the k8s.io/api counterpart of each type, for descriptions
	schema map[string]*spec.Schema
}

func (d *definitions) ref(name string) spec.Schema {
	prefix := "#/definitions/"
	if d.v3 {
		prefix = "#/components/schemas/"
	}
	return spec.Schema{SchemaProps: spec.SchemaProps{Ref: spec.MustCreateRef(prefix + name)}}
}

// groupPrefix is the definition name prefix of an API group version's types
// ("io.k8s.api.apps.v1").
func groupPrefix(apiVersion string) string {
	group, version, ok := strings.Cut(apiVersion, "/")
	if !ok {
		group, version = "core", apiVersion
	}
	if group == "metrics.k8s.io" {
		return "io.k8s.metrics.pkg.apis.metrics." + version
	}
	group, _, _ = strings.Cut(group, ".")
	return "io.k8s.api." + group + "." + version
}

// typeNames names every struct type reachable from resources' kinds: a type takes the
// group of the first kind that reaches it, core kinds first, as Kubernetes keeps PodSpec
// in core/v1 while apps/v1 uses it.
func typeNames(resources []api.Resource) map[reflect.Type]string {
	rs := append([]api.Resource(nil), resources...)
	sort.SliceStable(rs, func(i, j int) bool {
		ci, cj := !strings.Contains(rs[i].APIVersion, "/"), !strings.Contains(rs[j].APIVersion, "/")
		if ci != cj {
			return ci
		}
		return rs[i].APIVersion < rs[j].APIVersion
	})
	names := map[reflect.Type]string{}
	for _, r := range rs {
		t := kindType(r)
		if t == nil {
			continue
		}
		prefix := groupPrefix(r.APIVersion)
		var walk func(t reflect.Type)
		walk = func(t reflect.Type) {
			for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Map || t.Kind() == reflect.Array {
				t = t.Elem()
			}
			if t.Kind() != reflect.Struct || t.Name() == "" {
				return
			}
			if _, seen := names[t]; seen {
				return
			}
			if n, ok := metaNames[t.Name()]; ok && t.PkgPath() == apiPkg {
				names[t] = n
			} else {
				names[t] = prefix + "." + t.Name()
			}
			for i := 0; i < t.NumField(); i++ {
				walk(t.Field(i).Type)
			}
		}
		walk(t)
	}
	return names
}

var apiPkg = reflect.TypeFor[api.Pod]().PkgPath()

// kindType is the Go type of a resource's kind, nil when the orchestrator has none.
func kindType(r api.Resource) reflect.Type {
	obj, err := api.New(r.Kind)
	if err != nil {
		return nil
	}
	return reflect.TypeOf(obj).Elem()
}

// of returns the schema of a value of Go type t: a ref for a named struct (whose
// definition it adds), else an inline schema.
func (d *definitions) of(t reflect.Type) spec.Schema {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.PkgPath() == apiPkg {
		switch t.Name() {
		case "Time", "MicroTime", "Quantity", "IntOrString", "FieldsV1":
			d.special(t.Name())
			return d.ref(metaNames[t.Name()])
		}
	}
	switch t.Kind() {
	case reflect.String:
		return typed("string", "")
	case reflect.Bool:
		return typed("boolean", "")
	case reflect.Int32, reflect.Uint16, reflect.Int16, reflect.Int8, reflect.Uint8:
		return typed("integer", "int32")
	case reflect.Int, reflect.Int64, reflect.Uint32, reflect.Uint64, reflect.Uint:
		return typed("integer", "int64")
	case reflect.Float32, reflect.Float64:
		return typed("number", "double")
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			return typed("string", "byte")
		}
		items := d.of(t.Elem())
		s := typed("array", "")
		s.Items = &spec.SchemaOrArray{Schema: &items}
		return s
	case reflect.Map:
		v := d.of(t.Elem())
		s := typed("object", "")
		s.AdditionalProperties = &spec.SchemaOrBool{Allows: true, Schema: &v}
		return s
	case reflect.Struct:
		if t.Name() == "" {
			return d.object(t) // an anonymous struct has no definition of its own
		}
		name, ok := d.names[t]
		if !ok {
			name = "io.k8s.keel." + t.Name()
			d.names[t] = name
		}
		if _, done := d.schema[name]; !done {
			d.schema[name] = nil // in progress: recursive types refer to it
			s := d.object(t)
			d.schema[name] = &s
		}
		return d.ref(name)
	}
	// Interfaces and the like: any JSON value.
	s := spec.Schema{}
	s.AddExtension("x-kubernetes-preserve-unknown-fields", true)
	return s
}

func typed(typ, format string) spec.Schema {
	return spec.Schema{SchemaProps: spec.SchemaProps{Type: spec.StringOrArray{typ}, Format: format}}
}

// special adds the definition of a type with its own JSON form, as Kubernetes describes it.
func (d *definitions) special(goName string) {
	name := metaNames[goName]
	if _, done := d.schema[name]; done {
		return
	}
	var s spec.Schema
	switch goName {
	case "Time":
		s = typed("string", "date-time")
		s.Description = "Time is a wrapper around time.Time which supports correct marshaling to YAML and JSON."
	case "MicroTime":
		s = typed("string", "date-time")
		s.Description = "MicroTime is version of Time with microsecond level precision."
	case "Quantity":
		s.Description = "Quantity is a fixed-point representation of a number, such as 500m or 1Gi."
		if d.v3 {
			s.OneOf = []spec.Schema{typed("string", ""), typed("number", "")}
		} else {
			s.Type = spec.StringOrArray{"string"}
		}
	case "FieldsV1":
		s = typed("object", "")
		s.Description = "FieldsV1 stores a set of fields in a data structure like a Trie, in JSON format."
	case "IntOrString":
		s.Description = "IntOrString is a type that can hold an int32 or a string."
		s.Format = "int-or-string"
		if d.v3 {
			s.OneOf = []spec.Schema{typed("integer", ""), typed("string", "")}
		} else {
			s.Type = spec.StringOrArray{"string"}
		}
	}
	d.schema[name] = &s
}

// object is the schema of a struct type: its JSON fields, inline embedded structs flattened.
func (d *definitions) object(t reflect.Type) spec.Schema {
	s := typed("object", "")
	s.Description = swaggerDoc(d.docs[t])[""]
	s.Properties = map[string]spec.Schema{}
	d.fields(t, &s)
	sort.Strings(s.Required)
	return s
}

func (d *definitions) fields(t reflect.Type, s *spec.Schema) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" || (!f.IsExported() && !f.Anonymous) {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if f.Anonymous && (name == "" || opts == "inline") {
			ft := f.Type
			for ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				d.fields(ft, s)
				continue
			}
		}
		if name == "" {
			name = f.Name
		}
		p := d.of(f.Type)
		if pm, ok := patchFields[t.Name()+"."+name]; ok {
			p.AddExtension("x-kubernetes-patch-strategy", pm.strategy)
			if pm.key != "" {
				p.AddExtension("x-kubernetes-patch-merge-key", pm.key)
			}
		}
		p.Description = swaggerDoc(d.docs[t])[name]
		if d.v3 && p.Ref.String() != "" && (p.Description != "" || len(p.Extensions) > 0) {
			// Siblings of a $ref are ignored in OpenAPI 3: wrap it, as Kubernetes does.
			p = spec.Schema{SchemaProps: spec.SchemaProps{AllOf: []spec.Schema{{SchemaProps: spec.SchemaProps{Ref: p.Ref}}},
				Description: p.Description}, VendorExtensible: p.VendorExtensible}
		}
		s.Properties[name] = p
		optional := strings.Contains(opts, "omitempty") || strings.Contains(opts, "omitzero")
		if !optional && name != "metadata" && name != "apiVersion" && name != "kind" {
			s.Required = append(s.Required, name)
		}
	}
}

// kind adds the definitions of a resource's kind and its list, with the
// x-kubernetes-group-version-kind extension kubectl finds kinds by.
func (d *definitions) kind(r api.Resource) (kindName, listName string) {
	t := kindType(r)
	if t == nil {
		return "", ""
	}
	d.of(t)
	kindName = d.names[t]
	group, version, ok := strings.Cut(r.APIVersion, "/")
	if !ok {
		group, version = "", r.APIVersion
	}
	gvk := []any{map[string]any{"group": group, "version": version, "kind": r.Kind}}
	ks := d.schema[kindName]
	if ks.Description == "" {
		ks.Description = r.Kind + " is the orchestrator's " + r.APIVersion + " " + r.Kind + "."
	}
	ks.AddExtension("x-kubernetes-group-version-kind", gvk)
	d.listMeta()

	listName = kindName + "List"
	l := typed("object", "")
	l.Description = r.Kind + "List is a list of " + r.Kind + "."
	items := d.ref(kindName)
	arr := typed("array", "")
	arr.Items = &spec.SchemaOrArray{Schema: &items}
	l.Properties = map[string]spec.Schema{
		"apiVersion": typed("string", ""),
		"kind":       typed("string", ""),
		"metadata":   d.ref(listMetaName),
		"items":      arr,
	}
	l.Required = []string{"items"}
	l.AddExtension("x-kubernetes-group-version-kind",
		[]any{map[string]any{"group": group, "version": version, "kind": r.Kind + "List"}})
	d.schema[listName] = &l
	return kindName, listName
}

// listMeta adds the definitions of ListMeta, Patch and Status, which the operations use.
func (d *definitions) listMeta() {
	if _, done := d.schema[listMetaName]; done {
		return
	}
	lm := typed("object", "")
	lm.Description = "ListMeta describes metadata that synthetic resources must have, including lists."
	lm.Properties = map[string]spec.Schema{
		"continue":           typed("string", ""),
		"remainingItemCount": typed("integer", "int64"),
		"resourceVersion":    typed("string", ""),
		"selfLink":           typed("string", ""),
	}
	d.schema[listMetaName] = &lm

	p := typed("object", "")
	p.Description = "Patch is provided to give a concrete name and type to the Kubernetes PATCH request body."
	d.schema[patchName] = &p

	st := typed("object", "")
	st.Description = "Status is a return value for calls that don't return other objects."
	st.Properties = map[string]spec.Schema{
		"apiVersion": typed("string", ""),
		"kind":       typed("string", ""),
		"metadata":   d.ref(listMetaName),
		"status":     typed("string", ""),
		"message":    typed("string", ""),
		"reason":     typed("string", ""),
		"details":    {SchemaProps: spec.SchemaProps{Type: spec.StringOrArray{"object"}}},
		"code":       typed("integer", "int32"),
	}
	st.AddExtension("x-kubernetes-group-version-kind", []any{map[string]any{"group": "", "version": "v1", "kind": "Status"}})
	d.schema[statusName] = &st
}
