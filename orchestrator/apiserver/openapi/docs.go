package openapi

import (
	"reflect"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/keeldb/keel/orchestrator/api"
)

// The orchestrator's types carry their documentation as Go comments, which reflection
// cannot read. Their Kubernetes counterparts in k8s.io/api carry it at run time
// (SwaggerDoc), so the documents describe a type and its fields with the text of the
// k8s.io/api type found at the same place under the same kind: the fields the
// orchestrator has mean what Kubernetes' mean.

var k8sScheme = func() *runtime.Scheme {
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{corev1.AddToScheme, appsv1.AddToScheme, batchv1.AddToScheme,
		networkingv1.AddToScheme, storagev1.AddToScheme, coordinationv1.AddToScheme, autoscalingv2.AddToScheme} {
		if err := add(s); err != nil {
			panic(err)
		}
	}
	return s
}()

// counterparts maps each orchestrator struct type reachable from resources' kinds to the
// k8s.io/api type at the same place, where Kubernetes has one.
func counterparts(resources []api.Resource) map[reflect.Type]reflect.Type {
	out := map[reflect.Type]reflect.Type{}
	var pair func(ours, theirs reflect.Type)
	pair = func(ours, theirs reflect.Type) {
		ours, theirs = elem(ours), elem(theirs)
		if ours.Kind() != reflect.Struct || theirs.Kind() != reflect.Struct {
			return
		}
		if _, done := out[ours]; done {
			return
		}
		out[ours] = theirs
		k := jsonFields(theirs)
		for name, f := range jsonFields(ours) {
			if g, ok := k[name]; ok {
				pair(f.Type, g.Type)
			}
		}
	}
	for _, r := range resources {
		gv, err := schema.ParseGroupVersion(r.APIVersion)
		if err != nil {
			continue
		}
		obj, err := k8sScheme.New(gv.WithKind(r.Kind))
		if err != nil {
			continue // no k8s.io/api type (metrics.k8s.io)
		}
		if t := kindType(r); t != nil {
			pair(t, reflect.TypeOf(obj))
		}
	}
	return out
}

// elem strips pointers, slices and maps down to the element type.
func elem(t reflect.Type) reflect.Type {
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Map || t.Kind() == reflect.Array {
		t = t.Elem()
	}
	return t
}

// jsonFields returns a struct's fields by JSON name, inline embedded structs flattened.
func jsonFields(t reflect.Type) map[string]reflect.StructField {
	out := map[string]reflect.StructField{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" || (!f.IsExported() && !f.Anonymous) {
			continue
		}
		if f.Anonymous && (name == "" || opts == "inline") && elem(f.Type).Kind() == reflect.Struct {
			for n, g := range jsonFields(elem(f.Type)) {
				out[n] = g
			}
			continue
		}
		if name == "" {
			name = f.Name
		}
		out[name] = f
	}
	return out
}

// swaggerDoc returns the documentation of a k8s.io/api type ("" keys the type itself), nil
// when it has none.
func swaggerDoc(t reflect.Type) map[string]string {
	if t == nil {
		return nil
	}
	m := reflect.New(t).Elem().MethodByName("SwaggerDoc")
	if !m.IsValid() {
		return nil
	}
	doc, _ := m.Call(nil)[0].Interface().(map[string]string)
	return doc
}
