package printers_test

import (
	"reflect"
	"testing"
	"time"

	"github.com/keeldb/keel/orchestrator/api"
	"github.com/keeldb/keel/orchestrator/printers"
)

func TestRBACTable(t *testing.T) {
	created := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	now := created.Add(90 * time.Minute)
	rb := &api.RoleBinding{ObjectMeta: api.ObjectMeta{Name: "b", Namespace: "a", CreationTimestamp: api.NewTime(created)},
		RoleRef: api.RoleRef{APIGroup: api.RBACGroup, Kind: "ClusterRole", Name: "view"},
		Subjects: []api.Subject{{Kind: "User", Name: "alice"}, {Kind: "User", Name: "bob"}, {Kind: "Group", Name: "dev"},
			{Kind: "ServiceAccount", Name: "sa", Namespace: "a"}}}
	if got, want := printers.Cells(rb, now), []any{"b", "ClusterRole/view", "90m", "alice, bob", "dev", "a/sa"}; !reflect.DeepEqual(got, want) {
		t.Errorf("cells %v, want %v", got, want)
	}
	if cols := printers.Columns(api.RoleBindingResource); len(cols) != 6 || cols[1].Name != "Role" || cols[3].Priority != 1 {
		t.Errorf("columns %+v", cols)
	}
	cr := &api.ClusterRole{ObjectMeta: api.ObjectMeta{Name: "view", CreationTimestamp: api.NewTime(created)}}
	if got, want := printers.Cells(cr, now), []any{"view", "2026-01-02T03:04:05Z"}; !reflect.DeepEqual(got, want) {
		t.Errorf("cells %v, want %v", got, want)
	}
	if cols := printers.Columns(api.ClusterRoleResource); len(cols) != 2 || cols[1].Name != "Created At" {
		t.Errorf("columns %+v", cols)
	}
}
