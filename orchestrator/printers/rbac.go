package printers

import (
	"strings"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"

	"github.com/keeldb/keel/orchestrator/api"
)

// The RBAC kinds' printers, registered apart from cells.go's so that package rbac's work
// merges without touching the shared table.
func init() {
	register(api.RoleResource.Name, roleColumns, roleCells)
	register(api.ClusterRoleResource.Name, roleColumns, roleCells)
	register(api.RoleBindingResource.Name, roleBindingColumns, typed(func(b *api.RoleBinding, now time.Time) []any {
		return bindingCells(&b.ObjectMeta, b.RoleRef, b.Subjects, now)
	}))
	register(api.ClusterRoleBindingResource.Name, roleBindingColumns, typed(func(b *api.ClusterRoleBinding, now time.Time) []any {
		return bindingCells(&b.ObjectMeta, b.RoleRef, b.Subjects, now)
	}))
}

var (
	roleColumns = cols(def(nameColumn),
		col("Created At", "date", objectMetaDoc["creationTimestamp"]))
	roleBindingColumns = cols(def(nameColumn),
		col("Role", "string", rbacv1.RoleBinding{}.SwaggerDoc()["roleRef"]),
		def(ageColumn),
		col("Users", "string", "Users in the roleBinding").wide(),
		col("Groups", "string", "Groups in the roleBinding").wide(),
		col("ServiceAccounts", "string", "ServiceAccounts in the roleBinding").wide())
)

// roleCells: a Role's or ClusterRole's name and creation time (RFC 3339, as Kubernetes).
func roleCells(obj api.Object, _ time.Time) []any {
	m := obj.Meta()
	return []any{m.Name, m.CreationTimestamp.UTC().Format(time.RFC3339)}
}

// bindingCells: name, Kind/name of the role, age, and the users, groups and service
// accounts (namespace/name) bound.
func bindingCells(m *api.ObjectMeta, ref api.RoleRef, subjects []api.Subject, now time.Time) []any {
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
	return []any{m.Name, ref.Kind + "/" + ref.Name, age(m.CreationTimestamp.Time, now),
		strings.Join(users, ", "), strings.Join(groups, ", "), strings.Join(sas, ", ")}
}
