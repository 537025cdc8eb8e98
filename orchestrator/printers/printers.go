// Package printers gives the columns Kubernetes prints for each kind, as the apiserver's
// Table responses (`kubectl get`) carry them.
package printers

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/duration"

	"github.com/keeldb/keel/orchestrator/api"
)

// Columns returns the Table column definitions of res, in order; a column of Priority 1 is
// shown only with -o wide.
func Columns(res api.Resource) []metav1.TableColumnDefinition {
	if cs := RBACColumns(res); cs != nil {
		return cs
	}
	return []metav1.TableColumnDefinition{
		{Name: "Name", Type: "string", Format: "name", Description: "Name must be unique within a namespace."},
		{Name: "Age", Type: "string", Description: "Time since the object was created."},
	}
}

// Cells returns obj's cells in the order of Columns of its resource.
func Cells(obj api.Object, now time.Time) []any {
	if cs := RBACCells(obj, now); cs != nil {
		return cs
	}
	m := obj.Meta()
	return []any{m.Name, age(m.CreationTimestamp.Time, now)}
}

// age is kubectl's short duration of now-t ("5m", "3d"), "<unknown>" for a zero t.
func age(t, now time.Time) string {
	if t.IsZero() {
		return "<unknown>"
	}
	return duration.HumanDuration(now.Sub(t))
}
