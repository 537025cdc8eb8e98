package rbac_test

import (
	"fmt"
	"testing"

	"github.com/keeldb/keel/orchestrator/api"
	"github.com/keeldb/keel/orchestrator/authz"
	"github.com/keeldb/keel/orchestrator/rbac"
)

// BenchmarkEvaluate: a denied request (the worst case: every binding visited) against the
// bootstrap policy plus 100 namespaces of 5 RoleBindings each.
func BenchmarkEvaluate(b *testing.B) {
	p := &rbac.StaticPolicy{ClusterRoleList: rbac.BootstrapClusterRoles(), ClusterRoleBindList: rbac.BootstrapClusterRoleBindings()}
	for n := range 100 {
		for i := range 5 {
			p.RoleBindingList = append(p.RoleBindingList, &api.RoleBinding{
				ObjectMeta: api.ObjectMeta{Namespace: fmt.Sprintf("ns%d", n), Name: fmt.Sprintf("b%d", i)},
				Subjects:   []api.Subject{{Kind: api.UserKind, APIGroup: api.RBACGroup, Name: fmt.Sprintf("u%d", i)}},
				RoleRef:    api.RoleRef{APIGroup: api.RBACGroup, Kind: "ClusterRole", Name: rbac.Edit}})
		}
	}
	a := authz.Attributes{User: authz.UserInfo{Name: "u1", Groups: []string{authz.AllAuthenticated}}, Verb: "create",
		ResourceRequest: true, APIGroup: api.RBACGroup, Resource: "rolebindings", Namespace: "ns7"}
	for b.Loop() {
		if rbac.Evaluate(p, a).Allowed {
			b.Fatal("allowed")
		}
	}
}
