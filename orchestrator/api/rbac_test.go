package api_test

import (
	"strings"
	"testing"

	"github.com/keeldb/keel/orchestrator/api"
)

const rbacManifest = `apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: system:pod-reader
rules:
- apiGroups: [""]
  resources: ["pods", "pods/log"]
  verbs: ["get", "list"]
- nonResourceURLs: ["/healthz", "/api/*"]
  verbs: ["get"]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: read
  namespace: team
subjects:
- kind: User
  name: alice
- kind: ServiceAccount
  name: builder
roleRef:
  kind: ClusterRole
  name: system:pod-reader
`

func TestRBACDecodeDefaultValidate(t *testing.T) {
	objs, err := api.DecodeManifests(strings.NewReader(rbacManifest))
	if err != nil {
		t.Fatal(err)
	}
	if len(objs) != 2 {
		t.Fatalf("decoded %d objects, want 2", len(objs))
	}
	for _, o := range objs {
		api.Default(o)
		if errs := api.Validate(o); len(errs) > 0 {
			t.Errorf("%s: %v", o.TypeInfo().Kind, errs)
		}
	}
	rb := objs[1].(*api.RoleBinding)
	if rb.RoleRef.APIGroup != api.RBACGroup || rb.Subjects[0].APIGroup != api.RBACGroup || rb.Subjects[1].APIGroup != "" {
		t.Errorf("defaults: roleRef %+v, subjects %+v", rb.RoleRef, rb.Subjects)
	}
	for _, name := range []string{"roles", "clusterroles", "rolebindings", "clusterrolebindings", "Role", "clusterrolebinding"} {
		r, ok := api.LookupResource(name)
		if !ok || r.APIVersion != "rbac.authorization.k8s.io/v1" || len(r.ShortNames) != 0 {
			t.Errorf("LookupResource(%q) = %+v, %v", name, r, ok)
		}
	}
}

func TestRBACValidation(t *testing.T) {
	ref := api.RoleRef{APIGroup: api.RBACGroup, Kind: "ClusterRole", Name: "view"}
	cases := []struct {
		name string
		obj  api.Object
		want []string // substrings, each of which must appear
	}{
		{"verbs required", &api.Role{ObjectMeta: api.ObjectMeta{Name: "r", Namespace: "a"},
			Rules: []api.PolicyRule{{APIGroups: []string{""}, Resources: []string{"pods"}}}},
			[]string{"rules[0].verbs: Required value: verbs must contain at least one value"}},
		{"resource rule needs groups and resources", &api.ClusterRole{ObjectMeta: api.ObjectMeta{Name: "r"},
			Rules: []api.PolicyRule{{Verbs: []string{"get"}}}},
			[]string{"rules[0].apiGroups: Required value: resource rules must supply at least one api group",
				"rules[0].resources: Required value: resource rules must supply at least one resource"}},
		{"namespaced nonResourceURLs", &api.Role{ObjectMeta: api.ObjectMeta{Name: "r", Namespace: "a"},
			Rules: []api.PolicyRule{{Verbs: []string{"get"}, NonResourceURLs: []string{"/healthz"}}}},
			[]string{"rules[0].nonResourceURLs: Invalid value", "namespaced rules cannot apply to non-resource URLs"}},
		{"mixed rule", &api.ClusterRole{ObjectMeta: api.ObjectMeta{Name: "r"},
			Rules: []api.PolicyRule{{Verbs: []string{"get"}, Resources: []string{"pods"}, NonResourceURLs: []string{"/healthz"}}}},
			[]string{"rules cannot apply to both regular resources and non-resource URLs"}},
		{"empty aggregation", &api.ClusterRole{ObjectMeta: api.ObjectMeta{Name: "r"}, AggregationRule: &api.AggregationRule{}},
			[]string{"aggregationRule.clusterRoleSelectors: Required value: at least one clusterRoleSelector required if aggregationRule is non-nil"}},
		{"bad name", &api.ClusterRole{ObjectMeta: api.ObjectMeta{Name: "a/b"}},
			[]string{"metadata.name: Invalid value: \"a/b\": may not contain '/'"}},
		{"cluster binding to Role", &api.ClusterRoleBinding{ObjectMeta: api.ObjectMeta{Name: "b"},
			RoleRef: api.RoleRef{APIGroup: api.RBACGroup, Kind: "Role", Name: "x"}},
			[]string{"roleRef.kind: Unsupported value: \"Role\": supported values: \"ClusterRole\""}},
		{"roleRef name and group", &api.RoleBinding{ObjectMeta: api.ObjectMeta{Name: "b", Namespace: "a"},
			RoleRef: api.RoleRef{APIGroup: "apps", Kind: "Role"}},
			[]string{"roleRef.apiGroup: Unsupported value: \"apps\"", "roleRef.name: Required value"}},
		{"subjects", &api.ClusterRoleBinding{ObjectMeta: api.ObjectMeta{Name: "b"}, RoleRef: ref,
			Subjects: []api.Subject{{Kind: "Robot", Name: "r"}, {Kind: "ServiceAccount", Name: "sa"}, {Kind: "User"}}},
			[]string{"subjects[0].kind: Unsupported value: \"Robot\": supported values: \"ServiceAccount\", \"User\", \"Group\"",
				"subjects[1].namespace: Required value", "subjects[2].name: Required value"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			api.Default(tc.obj)
			err := api.Validate(tc.obj).Err()
			if err == nil {
				t.Fatal("valid, want errors")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("errors %q lack %q", err, w)
				}
			}
		})
	}
}

func TestRoleRefImmutable(t *testing.T) {
	old := &api.RoleBinding{ObjectMeta: api.ObjectMeta{Name: "b", Namespace: "a"},
		RoleRef: api.RoleRef{APIGroup: api.RBACGroup, Kind: "ClusterRole", Name: "view"}}
	next := api.DeepCopy(old)
	next.Subjects = []api.Subject{{Kind: "User", APIGroup: api.RBACGroup, Name: "bob"}}
	if errs := api.ValidateUpdate(old, next); len(errs) != 0 {
		t.Fatalf("changing subjects: %v", errs)
	}
	next.RoleRef.Name = "edit"
	errs := api.ValidateUpdate(old, next)
	if len(errs) != 1 || errs[0].Field != "roleRef" || errs[0].Detail != "cannot change roleRef" {
		t.Fatalf("changing roleRef: %v", errs)
	}
}
