package printers

import (
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/keeldb/keel/orchestrator/api"
)

// RBACColumns returns Kubernetes' Table columns of the RBAC kinds (roles and clusterroles:
// Name, Created At; bindings: Name, Role, Age and, with -o wide, Users, Groups,
// ServiceAccounts), or nil for another resource.
func RBACColumns(res api.Resource) []metav1.TableColumnDefinition {
	name := metav1.TableColumnDefinition{Name: "Name", Type: "string", Format: "name", Description: "Name must be unique within a namespace."}
	switch res.Kind {
	case "Role", "ClusterRole":
		return []metav1.TableColumnDefinition{name,
			{Name: "Created At", Type: "date", Description: "Time the object was created."}}
	case "RoleBinding", "ClusterRoleBinding":
		return []metav1.TableColumnDefinition{name,
			{Name: "Role", Type: "string", Description: "RoleRef: the role the binding grants."},
			{Name: "Age", Type: "string", Description: "Time since the object was created."},
			{Name: "Users", Type: "string", Priority: 1, Description: "Users in the binding."},
			{Name: "Groups", Type: "string", Priority: 1, Description: "Groups in the binding."},
			{Name: "ServiceAccounts", Type: "string", Priority: 1, Description: "ServiceAccounts in the binding."}}
	}
	return nil
}

// RBACCells returns obj's cells in the order of RBACColumns, or nil for another kind.
func RBACCells(obj api.Object, now time.Time) []any {
	var ref api.RoleRef
	var subjects []api.Subject
	switch o := obj.(type) {
	case *api.Role, *api.ClusterRole:
		return []any{o.Meta().Name, o.Meta().CreationTimestamp.UTC().Format(time.RFC3339)}
	case *api.RoleBinding:
		ref, subjects = o.RoleRef, o.Subjects
	case *api.ClusterRoleBinding:
		ref, subjects = o.RoleRef, o.Subjects
	default:
		return nil
	}
	var users, groups, sas []string
	for _, s := range subjects {
		switch s.Kind {
		case api.UserKind:
			users = append(users, s.Name)
		case api.GroupKind:
			groups = append(groups, s.Name)
		case api.ServiceAccountKind:
			sas = append(sas, s.Namespace+"/"+s.Name)
		}
	}
	m := obj.Meta()
	return []any{m.Name, ref.Kind + "/" + ref.Name, age(m.CreationTimestamp.Time, now),
		strings.Join(users, ", "), strings.Join(groups, ", "), strings.Join(sas, ", ")}
}
