package apiserver

import (
	"encoding/json"
	"mime"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/keeldb/keel/orchestrator/api"
	"github.com/keeldb/keel/orchestrator/printers"
)

// tableRequested tells whether the Accept header asks for a meta.k8s.io Table (kubectl get).
func (h *handler) tableRequested() bool {
	for _, part := range strings.Split(h.r.Header.Get("Accept"), ",") {
		mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil || mt != "application/json" {
			continue
		}
		if params["as"] == "Table" && params["g"] == "meta.k8s.io" && (params["v"] == "v1" || params["v"] == "v1beta1") {
			return true
		}
		if params["as"] == "" {
			return false // plain JSON preferred
		}
	}
	return false
}

// table builds a Table of objs with the kind's columns; each row carries the object's
// metadata (includeObject=Metadata, the default), the whole object (Object) or nothing (None).
func (h *handler) table(objs []api.Object, meta metav1.ListMeta) (*metav1.Table, error) {
	include := h.q.Get("includeObject")
	switch include {
	case "", "Metadata", "Object", "None":
	default:
		return nil, errBadRequest("includeObject: Unsupported value: %q: supported values: \"Metadata\", \"None\", \"Object\"", include)
	}
	t := &metav1.Table{TypeMeta: metav1.TypeMeta{Kind: "Table", APIVersion: "meta.k8s.io/v1"}, ListMeta: meta,
		ColumnDefinitions: printers.Columns(h.g.Resource()), Rows: []metav1.TableRow{}}
	now := h.s.cfg.Now()
	for _, obj := range objs {
		api.SetTypeMeta(obj)
		row := metav1.TableRow{Cells: printers.Cells(obj, now)}
		switch include {
		case "Object":
			b, err := json.Marshal(obj)
			if err != nil {
				return nil, err
			}
			row.Object = runtime.RawExtension{Raw: b}
		case "", "Metadata":
			b, err := json.Marshal(struct {
				metav1.TypeMeta `json:",inline"`
				Metadata        *api.ObjectMeta `json:"metadata"`
			}{metav1.TypeMeta{Kind: "PartialObjectMetadata", APIVersion: "meta.k8s.io/v1"}, obj.Meta()})
			if err != nil {
				return nil, err
			}
			row.Object = runtime.RawExtension{Raw: b}
		}
		t.Rows = append(t.Rows, row)
	}
	return t, nil
}
