package rbac_test

import (
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/keeldb/keel/orchestrator/api"
	"github.com/keeldb/keel/orchestrator/authz"
	"github.com/keeldb/keel/orchestrator/rbac"
)

func TestCheckEscalation(t *testing.T) {
	p := &rbac.StaticPolicy{ClusterRoleList: rbac.BootstrapClusterRoles(), ClusterRoleBindList: rbac.BootstrapClusterRoleBindings()}
	bind := func(ns, role, user string) {
		p.RoleBindingList = append(p.RoleBindingList, &api.RoleBinding{ObjectMeta: api.ObjectMeta{Namespace: ns, Name: role + "-" + user},
			Subjects: []api.Subject{{Kind: api.UserKind, APIGroup: api.RBACGroup, Name: user}},
			RoleRef:  api.RoleRef{APIGroup: api.RBACGroup, Kind: "ClusterRole", Name: role}})
	}
	bind("team", rbac.Admin, "ann") // a namespace administrator
	bind("team", rbac.Edit, "ed")   // an editor
	bind("other", rbac.View, "ann") // only views elsewhere
	p.ClusterRoleList = append(p.ClusterRoleList, &api.ClusterRole{ObjectMeta: api.ObjectMeta{Name: "binder"},
		Rules: []api.PolicyRule{{Verbs: []string{"bind"}, APIGroups: []string{api.RBACGroup}, Resources: []string{"clusterroles"}, ResourceNames: []string{rbac.ClusterAdmin}}}})
	bind("team", "binder", "bea")

	ann := authz.UserInfo{Name: "ann", Groups: []string{authz.AllAuthenticated}}
	role := func(ns string, rules ...api.PolicyRule) *api.Role {
		return &api.Role{ObjectMeta: api.ObjectMeta{Namespace: ns, Name: "r"}, Rules: rules}
	}
	rb := func(ns, kind, name string) *api.RoleBinding {
		return &api.RoleBinding{ObjectMeta: api.ObjectMeta{Namespace: ns, Name: "b"},
			RoleRef: api.RoleRef{APIGroup: api.RBACGroup, Kind: kind, Name: name}}
	}
	podRule := func(verbs ...string) api.PolicyRule {
		return api.PolicyRule{Verbs: verbs, APIGroups: []string{""}, Resources: []string{"pods"}}
	}
	cases := []struct {
		name    string
		user    authz.UserInfo
		obj     api.Object
		missing string // "" = allowed; else a substring of the Forbidden message
	}{
		{"role within held rules", ann, role("team", podRule("get", "delete")), ""},
		{"role with a named object of held rules", ann, role("team", api.PolicyRule{Verbs: []string{"get"}, APIGroups: []string{""}, Resources: []string{"configmaps"}, ResourceNames: []string{"x"}}), ""},
		{"role beyond held rules", ann, role("team", api.PolicyRule{Verbs: []string{"*"}, APIGroups: []string{"*"}, Resources: []string{"*"}}),
			`{APIGroups:["*"], Resources:["*"], Verbs:["*"]}`},
		{"role in a namespace where the user only views", ann, role("other", podRule("delete")),
			`{APIGroups:[""], Resources:["pods"], Verbs:["delete"]}`},
		{"role with nodes", ann, role("team", api.PolicyRule{Verbs: []string{"get"}, APIGroups: []string{""}, Resources: []string{"nodes"}}), `Resources:["nodes"]`},
		{"binding to a held clusterrole", ann, rb("team", "ClusterRole", rbac.Edit), ""},
		{"binding to cluster-admin", ann, rb("team", "ClusterRole", rbac.ClusterAdmin), "is attempting to grant RBAC permissions not currently held"},
		{"bind verb lets a binding through", authz.UserInfo{Name: "bea"}, rb("team", "ClusterRole", rbac.ClusterAdmin), ""},
		{"bind verb is per role name", authz.UserInfo{Name: "bea"}, rb("team", "ClusterRole", rbac.Admin), "not currently held"},
		{"binding to a missing role", ann, rb("team", "Role", "ghost"), `role.rbac.authorization.k8s.io "ghost" not found`},
		{"clusterrole needs cluster-wide rules", ann, &api.ClusterRole{ObjectMeta: api.ObjectMeta{Name: "c"}, Rules: []api.PolicyRule{podRule("get")}},
			`Verbs:["get"]`},
		{"non-resource URLs", authz.UserInfo{Name: "x", Groups: []string{authz.AllAuthenticated}},
			&api.ClusterRole{ObjectMeta: api.ObjectMeta{Name: "c"}, Rules: []api.PolicyRule{{Verbs: []string{"get"}, NonResourceURLs: []string{"/apis/apps"}}}}, ""},
		{"non-resource URLs beyond", authz.UserInfo{Name: "x", Groups: []string{authz.AllAuthenticated}},
			&api.ClusterRole{ObjectMeta: api.ObjectMeta{Name: "c"}, Rules: []api.PolicyRule{{Verbs: []string{"get"}, NonResourceURLs: []string{"/metrics"}}}},
			`{NonResourceURLs:["/metrics"], Verbs:["get"]}`},
		{"system:masters", authz.UserInfo{Name: "root", Groups: []string{authz.SystemPrivilegedGrp}}, rb("team", "ClusterRole", rbac.ClusterAdmin), ""},
		{"only the rules are compared (authorizing the write is Authorize's)", authz.UserInfo{Name: "ed"}, role("team", podRule("get")), ""},
		{"other kinds pass", ann, &api.Pod{}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := rbac.CheckEscalation(p, tc.user, tc.obj)
			if tc.missing == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), tc.missing) {
				t.Fatalf("err = %v, want Forbidden with %q", err, tc.missing)
			}
		})
	}
}
