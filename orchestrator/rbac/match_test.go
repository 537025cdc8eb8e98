package rbac_test

import (
	"strings"
	"testing"

	"github.com/keeldb/keel/orchestrator/api"
	"github.com/keeldb/keel/orchestrator/authz"
	"github.com/keeldb/keel/orchestrator/rbac"
)

func res(verb, group, resource, sub, ns, name string) authz.Attributes {
	return authz.Attributes{Verb: verb, ResourceRequest: true, APIGroup: group, Resource: resource, Subresource: sub, Namespace: ns, Name: name}
}

func path(verb, p string) authz.Attributes { return authz.Attributes{Verb: verb, Path: p} }

func TestRuleAllows(t *testing.T) {
	all := []string{"*"}
	podsGet := api.PolicyRule{Verbs: []string{"get", "list"}, APIGroups: []string{""}, Resources: []string{"pods"}}
	cases := []struct {
		name string
		rule api.PolicyRule
		req  authz.Attributes
		want bool
	}{
		{"exact", podsGet, res("get", "", "pods", "", "a", "x"), true},
		{"other verb", podsGet, res("delete", "", "pods", "", "a", "x"), false},
		{"other group", podsGet, res("get", "apps", "pods", "", "a", "x"), false},
		{"other resource", podsGet, res("get", "", "services", "", "a", "x"), false},
		{"bare resource does not cover subresource", podsGet, res("get", "", "pods", "log", "a", "x"), false},
		{"resource/subresource", api.PolicyRule{Verbs: []string{"get"}, APIGroups: []string{""}, Resources: []string{"pods/log"}},
			res("get", "", "pods", "log", "a", "x"), true},
		{"resource/subresource does not cover the resource", api.PolicyRule{Verbs: []string{"get"}, APIGroups: []string{""}, Resources: []string{"pods/log"}},
			res("get", "", "pods", "", "a", "x"), false},
		{"*/subresource", api.PolicyRule{Verbs: []string{"update"}, APIGroups: all, Resources: []string{"*/status"}},
			res("update", "apps", "deployments", "status", "a", "d"), true},
		{"*/subresource not the resource", api.PolicyRule{Verbs: []string{"update"}, APIGroups: all, Resources: []string{"*/status"}},
			res("update", "apps", "deployments", "", "a", "d"), false},
		{"*/subresource other subresource", api.PolicyRule{Verbs: []string{"update"}, APIGroups: all, Resources: []string{"*/status"}},
			res("update", "apps", "deployments", "scale", "a", "d"), false},
		{"wildcards cover subresources", api.PolicyRule{Verbs: all, APIGroups: all, Resources: all},
			res("create", "", "pods", "eviction", "a", "x"), true},
		{"wildcard verb", api.PolicyRule{Verbs: all, APIGroups: []string{"apps"}, Resources: []string{"deployments"}},
			res("deletecollection", "apps", "deployments", "", "a", ""), true},
		{"resourceNames match", api.PolicyRule{Verbs: []string{"get"}, APIGroups: []string{""}, Resources: []string{"configmaps"}, ResourceNames: []string{"cfg"}},
			res("get", "", "configmaps", "", "a", "cfg"), true},
		{"resourceNames other name", api.PolicyRule{Verbs: []string{"get"}, APIGroups: []string{""}, Resources: []string{"configmaps"}, ResourceNames: []string{"cfg"}},
			res("get", "", "configmaps", "", "a", "other"), false},
		{"resourceNames never cover list", api.PolicyRule{Verbs: []string{"list"}, APIGroups: []string{""}, Resources: []string{"configmaps"}, ResourceNames: []string{"cfg"}},
			res("list", "", "configmaps", "", "a", ""), false},
		{"nonResource exact", api.PolicyRule{Verbs: []string{"get"}, NonResourceURLs: []string{"/healthz"}}, path("get", "/healthz"), true},
		{"nonResource other path", api.PolicyRule{Verbs: []string{"get"}, NonResourceURLs: []string{"/healthz"}}, path("get", "/healthz/etcd"), false},
		{"nonResource trailing star", api.PolicyRule{Verbs: []string{"get"}, NonResourceURLs: []string{"/apis/*"}}, path("get", "/apis/apps/v1"), true},
		{"nonResource trailing star not the parent", api.PolicyRule{Verbs: []string{"get"}, NonResourceURLs: []string{"/apis/*"}}, path("get", "/apis"), false},
		{"nonResource star", api.PolicyRule{Verbs: all, NonResourceURLs: all}, path("post", "/anything"), true},
		{"nonResource verb", api.PolicyRule{Verbs: []string{"get"}, NonResourceURLs: all}, path("post", "/healthz"), false},
		{"resource rule does not cover a path", api.PolicyRule{Verbs: all, APIGroups: all, Resources: all}, path("get", "/healthz"), false},
		{"url rule does not cover a resource", api.PolicyRule{Verbs: all, NonResourceURLs: all}, res("get", "", "pods", "", "a", ""), false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := rbac.RuleAllows(tc.req, &tc.rule); got != tc.want {
				t.Fatalf("RuleAllows(%+v, %+v) = %v, want %v", tc.req, tc.rule, got, tc.want)
			}
		})
	}
}

func TestAppliesTo(t *testing.T) {
	alice := authz.UserInfo{Name: "alice", Groups: []string{"dev", authz.AllAuthenticated}}
	sa := authz.UserInfo{Name: "system:serviceaccount:team:builder"}
	user := func(n string) api.Subject { return api.Subject{Kind: api.UserKind, APIGroup: api.RBACGroup, Name: n} }
	group := func(n string) api.Subject { return api.Subject{Kind: api.GroupKind, APIGroup: api.RBACGroup, Name: n} }
	cases := []struct {
		name     string
		u        authz.UserInfo
		subjects []api.Subject
		ns       string
		want     bool
	}{
		{"no subjects", alice, nil, "", false},
		{"user", alice, []api.Subject{user("bob"), user("alice")}, "", true},
		{"other user", alice, []api.Subject{user("bob")}, "", false},
		{"group", alice, []api.Subject{group("dev")}, "", true},
		{"user named like a group", alice, []api.Subject{user("dev")}, "", false},
		{"other group", alice, []api.Subject{group("ops")}, "", false},
		{"service account", sa, []api.Subject{{Kind: api.ServiceAccountKind, Name: "builder", Namespace: "team"}}, "", true},
		{"service account other namespace", sa, []api.Subject{{Kind: api.ServiceAccountKind, Name: "builder", Namespace: "other"}}, "", false},
		{"service account binding namespace", sa, []api.Subject{{Kind: api.ServiceAccountKind, Name: "builder"}}, "team", true},
		{"service account no namespace at all", sa, []api.Subject{{Kind: api.ServiceAccountKind, Name: "builder"}}, "", false},
		{"service account subject is not a user name", authz.UserInfo{Name: "builder"}, []api.Subject{{Kind: api.ServiceAccountKind, Name: "builder", Namespace: "team"}}, "", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := rbac.AppliesTo(tc.u, tc.subjects, tc.ns) != nil; got != tc.want {
				t.Fatalf("AppliesTo = %v, want %v", got, tc.want)
			}
		})
	}
}

func testPolicy() *rbac.StaticPolicy {
	ref := func(kind, name string) api.RoleRef {
		return api.RoleRef{APIGroup: api.RBACGroup, Kind: kind, Name: name}
	}
	user := func(n string) api.Subject { return api.Subject{Kind: api.UserKind, APIGroup: api.RBACGroup, Name: n} }
	meta := func(ns, name string) api.ObjectMeta { return api.ObjectMeta{Namespace: ns, Name: name} }
	return &rbac.StaticPolicy{
		Roles: []*api.Role{{ObjectMeta: meta("a", "pod-deleter"),
			Rules: []api.PolicyRule{{Verbs: []string{"delete"}, APIGroups: []string{""}, Resources: []string{"pods"}}}}},
		ClusterRoleList: []*api.ClusterRole{
			{ObjectMeta: meta("", "reader"), Rules: []api.PolicyRule{{Verbs: []string{"get", "list"}, APIGroups: []string{""}, Resources: []string{"pods"}}}},
			{ObjectMeta: meta("", "node-reader"), Rules: []api.PolicyRule{{Verbs: []string{"list"}, APIGroups: []string{""}, Resources: []string{"nodes"}}}},
			{ObjectMeta: api.ObjectMeta{Name: "agg-part", Labels: map[string]string{"agg": "yes"}},
				Rules: []api.PolicyRule{{Verbs: []string{"get"}, APIGroups: []string{"apps"}, Resources: []string{"deployments"}}}},
			{ObjectMeta: meta("", "aggregated"), AggregationRule: &api.AggregationRule{ClusterRoleSelectors: []api.LabelSelector{{MatchLabels: map[string]string{"agg": "yes"}}}}},
		},
		RoleBindingList: []*api.RoleBinding{
			{ObjectMeta: meta("a", "alice-reads"), Subjects: []api.Subject{user("alice")}, RoleRef: ref("ClusterRole", "reader")},
			{ObjectMeta: meta("a", "alice-deletes"), Subjects: []api.Subject{user("alice")}, RoleRef: ref("Role", "pod-deleter")},
			{ObjectMeta: meta("a", "sa-reads"), Subjects: []api.Subject{{Kind: api.ServiceAccountKind, Name: "builder"}}, RoleRef: ref("ClusterRole", "reader")},
			{ObjectMeta: meta("b", "broken"), Subjects: []api.Subject{user("carol")}, RoleRef: ref("Role", "missing")},
			{ObjectMeta: meta("c", "all-sas"), Subjects: []api.Subject{{Kind: api.GroupKind, APIGroup: api.RBACGroup, Name: "system:serviceaccounts:c"}}, RoleRef: ref("ClusterRole", "reader")},
		},
		ClusterRoleBindList: []*api.ClusterRoleBinding{
			{ObjectMeta: meta("", "ops-nodes"), Subjects: []api.Subject{{Kind: api.GroupKind, APIGroup: api.RBACGroup, Name: "ops"}}, RoleRef: ref("ClusterRole", "node-reader")},
			{ObjectMeta: meta("", "dave-agg"), Subjects: []api.Subject{user("dave")}, RoleRef: ref("ClusterRole", "aggregated")},
		},
	}
}

func TestEvaluate(t *testing.T) {
	p := testPolicy()
	alice := authz.UserInfo{Name: "alice"}
	withUser := func(a authz.Attributes, u authz.UserInfo) authz.Attributes { a.User = u; return a }
	sa := func(ns, name string) authz.UserInfo {
		return authz.UserInfo{Name: rbac.ServiceAccountUsername(ns, name)}
	}
	cases := []struct {
		name    string
		req     authz.Attributes
		want    bool
		by      string // substring of Result.By when allowed
		wantErr string // substring of the errors when denied
	}{
		{"deny by default", withUser(res("get", "", "pods", "", "a", "x"), authz.UserInfo{Name: "eve"}), false, "", ""},
		{"rolebinding to clusterrole in its namespace", withUser(res("get", "", "pods", "", "a", "x"), alice), true,
			`RoleBinding "alice-reads/a" of ClusterRole "reader" to User "alice"`, ""},
		{"rolebinding grants only in its namespace", withUser(res("get", "", "pods", "", "b", "x"), alice), false, "", ""},
		{"rolebinding does not grant cluster-wide", withUser(res("list", "", "pods", "", "", ""), alice), false, "", ""},
		{"rolebinding to role", withUser(res("delete", "", "pods", "", "a", "x"), alice), true, `of Role "pod-deleter"`, ""},
		{"group through clusterrolebinding", withUser(res("list", "", "nodes", "", "", ""), authz.UserInfo{Name: "olga", Groups: []string{"ops"}}), true,
			`ClusterRoleBinding "ops-nodes" of ClusterRole "node-reader" to Group "ops"`, ""},
		{"clusterrolebinding grants in namespaces too", withUser(res("list", "", "nodes", "", "z", ""), authz.UserInfo{Name: "olga", Groups: []string{"ops"}}), true, "", ""},
		{"service account subject in binding namespace", withUser(res("list", "", "pods", "", "a", ""), sa("a", "builder")), true,
			`to ServiceAccount "builder/a"`, ""},
		{"same service account name elsewhere", withUser(res("list", "", "pods", "", "a", ""), sa("b", "builder")), false, "", ""},
		{"service account groups", withUser(res("get", "", "pods", "", "c", "x"), sa("c", "anyone")), true, `Group "system:serviceaccounts:c"`, ""},
		{"missing role is reported", withUser(res("get", "", "pods", "", "b", "x"), authz.UserInfo{Name: "carol"}), false, "",
			`role.rbac.authorization.k8s.io "missing" not found`},
		{"aggregated clusterrole", withUser(res("get", "apps", "deployments", "", "a", "d"), authz.UserInfo{Name: "dave"}), true, `ClusterRole "aggregated"`, ""},
		{"aggregated clusterrole only what it aggregates", withUser(res("delete", "apps", "deployments", "", "a", "d"), authz.UserInfo{Name: "dave"}), false, "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := rbac.Evaluate(p, tc.req)
			if r.Allowed != tc.want {
				t.Fatalf("Allowed = %v, want %v (%+v)", r.Allowed, tc.want, r)
			}
			if !strings.Contains(r.By, tc.by) {
				t.Errorf("By = %q, want it to contain %q", r.By, tc.by)
			}
			var errs []string
			for _, e := range r.Errors {
				errs = append(errs, e.Error())
			}
			if got := strings.Join(errs, "; "); !strings.Contains(got, tc.wantErr) || (tc.wantErr == "" && got != "") {
				t.Errorf("errors %q, want %q", got, tc.wantErr)
			}
		})
	}
}

func TestForbiddenMessages(t *testing.T) {
	alice := authz.UserInfo{Name: "alice"}
	a := res("delete", "", "pods", "", "default", "x")
	a.User = alice
	if got, want := rbac.ForbiddenReason(a), `User "alice" cannot delete resource "pods" in API group "" in the namespace "default"`; got != want {
		t.Errorf("ForbiddenReason = %q, want %q", got, want)
	}
	if got, want := rbac.ForbiddenMessage(a, ""), `pods "x" is forbidden: User "alice" cannot delete resource "pods" in API group "" in the namespace "default"`; got != want {
		t.Errorf("ForbiddenMessage = %q, want %q", got, want)
	}
	l := res("list", "apps", "deployments", "scale", "", "")
	l.User = alice
	if got, want := rbac.ForbiddenMessage(l, ""), `deployments.apps is forbidden: User "alice" cannot list resource "deployments/scale" in API group "apps" at the cluster scope`; got != want {
		t.Errorf("ForbiddenMessage = %q, want %q", got, want)
	}
	pth := path("get", "/metrics")
	pth.User = alice
	err := rbac.ForbiddenError(pth, "")
	if got, want := err.Error(), `forbidden: User "alice" cannot get path "/metrics"`; got != want || err.ErrStatus.Code != 403 {
		t.Errorf("ForbiddenError = %q (%d), want %q (403)", got, err.ErrStatus.Code, want)
	}
}

func TestServiceAccountUsername(t *testing.T) {
	for _, tc := range []struct {
		user, ns, name string
		ok             bool
	}{
		{"system:serviceaccount:team:builder", "team", "builder", true},
		{"system:serviceaccount:team", "", "", false},
		{"system:serviceaccount::x", "", "", false},
		{"system:serviceaccount:a:b:c", "", "", false},
		{"alice", "", "", false},
	} {
		ns, name, ok := rbac.SplitServiceAccountUsername(tc.user)
		if ns != tc.ns || name != tc.name || ok != tc.ok {
			t.Errorf("SplitServiceAccountUsername(%q) = %q, %q, %v", tc.user, ns, name, ok)
		}
	}
}

// TestBootstrapPolicy checks the default roles through Evaluate: what view, edit, admin
// and the discovery roles grant and withhold.
func TestBootstrapPolicy(t *testing.T) {
	p := &rbac.StaticPolicy{ClusterRoleList: rbac.BootstrapClusterRoles(), ClusterRoleBindList: rbac.BootstrapClusterRoleBindings()}
	for _, role := range []string{rbac.View, rbac.Edit, rbac.Admin} {
		p.RoleBindingList = append(p.RoleBindingList, &api.RoleBinding{ObjectMeta: api.ObjectMeta{Namespace: "ns", Name: role},
			Subjects: []api.Subject{{Kind: api.UserKind, APIGroup: api.RBACGroup, Name: role + "-user"}},
			RoleRef:  api.RoleRef{APIGroup: api.RBACGroup, Kind: "ClusterRole", Name: role}})
	}
	u := func(name string) authz.UserInfo {
		return authz.UserInfo{Name: name, Groups: []string{authz.AllAuthenticated}}
	}
	cases := []struct {
		user string
		req  authz.Attributes
		want bool
	}{
		{"view-user", res("list", "", "pods", "", "ns", ""), true},
		{"view-user", res("get", "", "pods", "log", "ns", "p"), true},
		{"view-user", res("watch", "apps", "deployments", "", "ns", ""), true},
		{"view-user", res("get", "", "secrets", "", "ns", "s"), false},
		{"view-user", res("delete", "", "pods", "", "ns", "p"), false},
		{"view-user", res("list", "", "pods", "", "other", ""), false},
		{"edit-user", res("get", "", "secrets", "", "ns", "s"), true},
		{"edit-user", res("update", "apps", "deployments", "scale", "ns", "d"), true},
		{"edit-user", res("create", "", "pods", "eviction", "ns", "p"), true},
		{"edit-user", res("create", api.RBACGroup, "rolebindings", "", "ns", ""), false},
		{"admin-user", res("create", api.RBACGroup, "rolebindings", "", "ns", ""), true},
		{"admin-user", res("list", "", "nodes", "", "", ""), false},
		{"anyone", path("get", "/apis/apps/v1"), true},
		{"anyone", path("get", "/openapi/v3/apis/apps/v1"), true},
		{"anyone", path("get", "/version"), true},
		{"anyone", path("get", "/metrics"), false},
		{"anyone", res("create", "authorization.k8s.io", "selfsubjectaccessreviews", "", "", ""), true},
		{"anyone", res("list", "", "pods", "", "ns", ""), false},
	}
	for _, tc := range cases {
		tc.req.User = u(tc.user)
		if got := rbac.Evaluate(p, tc.req).Allowed; got != tc.want {
			t.Errorf("%s %+v: allowed %v, want %v", tc.user, tc.req, got, tc.want)
		}
	}
	// system:unauthenticated reaches only the public info.
	anon := authz.UserInfo{Name: authz.Anonymous, Groups: []string{authz.AllUnauthenticated}}
	for _, c := range []struct {
		p    string
		want bool
	}{{"/healthz", true}, {"/version", true}, {"/api", false}} {
		a := path("get", c.p)
		a.User = anon
		if got := rbac.Evaluate(p, a).Allowed; got != c.want {
			t.Errorf("anonymous get %s: allowed %v, want %v", c.p, got, c.want)
		}
	}
	// Every bootstrap object is valid.
	for _, r := range rbac.BootstrapClusterRoles() {
		api.Default(r)
		if errs := api.Validate(r); len(errs) > 0 {
			t.Errorf("clusterrole %s: %v", r.Name, errs)
		}
	}
	for _, b := range rbac.BootstrapClusterRoleBindings() {
		api.Default(b)
		if errs := api.Validate(b); len(errs) > 0 {
			t.Errorf("clusterrolebinding %s: %v", b.Name, errs)
		}
	}
}
