// Package printers gives the columns Kubernetes prints for each kind, as the apiserver's
// Table responses (`kubectl get`) carry them.
//
// The columns and cells follow Kubernetes' server-side printers (the Table handlers of
// pkg/printers/internalversion) for the same kinds; the descriptions are the field
// documentation k8s.io/api carries. Cells are computed as the server computes them for a
// Table, that is with every column, wide ones included: a client hides Priority 1 columns
// unless asked for -o wide.
package printers

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/duration"

	"github.com/keeldb/keel/orchestrator/api"
)

// printer is the column definitions and the row function of one kind.
type printer struct {
	columns []metav1.TableColumnDefinition
	cells   func(obj api.Object, now time.Time) []any
}

// printers holds the printer of each resource by name; resources without one get
// NAME and AGE.
var printers = map[string]printer{}

// register adds the printer of resource name; a kind registers once.
func register(name string, columns []metav1.TableColumnDefinition, cells func(api.Object, time.Time) []any) {
	if _, dup := printers[name]; dup {
		panic("printers: " + name + " registered twice")
	}
	printers[name] = printer{columns: columns, cells: cells}
}

// Columns returns the Table column definitions of res, in order; a column of Priority 1 is
// shown only with -o wide.
func Columns(res api.Resource) []metav1.TableColumnDefinition {
	if p, ok := printers[res.Name]; ok {
		return p.columns
	}
	return cols(nameColumn, ageColumn)
}

// Cells returns obj's cells in the order of Columns of its resource.
func Cells(obj api.Object, now time.Time) []any {
	if p, ok := printers[api.ResourceOf(obj).Name]; ok {
		return p.cells(obj, now)
	}
	m := obj.Meta()
	return []any{m.Name, age(m.CreationTimestamp.Time, now)}
}

// Wide tells whether a column is shown only with -o wide.
func Wide(c metav1.TableColumnDefinition) bool { return c.Priority > 0 }

// age is kubectl's short duration of now-t ("5m", "3d"), "<unknown>" for a zero t.
func age(t, now time.Time) string {
	if t.IsZero() {
		return "<unknown>"
	}
	return duration.HumanDuration(now.Sub(t))
}

// Age is the AGE cell of an object created at t (also the LAST SEEN of events and
// the like): "<unknown>" for a zero time.
func Age(t, now time.Time) string { return age(t, now) }
