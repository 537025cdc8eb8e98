package main

import (
	"context"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/keeldb/keel/internal/testcluster"
	"github.com/keeldb/keel/orchestrator/api"
	"github.com/keeldb/keel/orchestrator/registry"
)

const rbacApplyManifest = `apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: system:pod-reader
rules:
- apiGroups: [""]
  resources: ["pods"]
  verbs: ["get", "list", "watch"]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: read-pods
subjects:
- kind: Group
  name: readers
roleRef:
  kind: ClusterRole
  name: system:pod-reader
`

// TestCtlRBAC: create role|clusterrole|rolebinding|clusterrolebinding with kubectl's flags
// build kubectl's objects; get prints kubectl's columns; bad flags get kubectl's errors.
func TestCtlRBAC(t *testing.T) {
	c := testcluster.Start(t, 1)
	st := registry.NewStores(c.Client(), registry.Config{})
	o := &orch{t: t, endpoints: strings.Join(c.Endpoints(), ","), dir: t.TempDir()}
	ctx := context.Background()

	wantLines(t, o.ok("ctl", "create", "role", "pod-reader", "-n", "team", "--verb=get,list", "--verb", "watch",
		"--resource=po", "--resource=pods/log", "--resource", "deploy", "--resource=rs.apps/scale"),
		"role.rbac.authorization.k8s.io/pod-reader created")
	r, err := st.Roles.Get(ctx, "team", "pod-reader")
	if err != nil {
		t.Fatal(err)
	}
	verbs := []string{"get", "list", "watch"}
	want := []api.PolicyRule{
		{Verbs: verbs, APIGroups: []string{""}, Resources: []string{"pods", "pods/log"}},
		{Verbs: verbs, APIGroups: []string{"apps"}, Resources: []string{"deployments", "replicasets/scale"}},
	}
	if !reflect.DeepEqual(r.Rules, want) {
		t.Errorf("role rules %+v, want %+v", r.Rules, want)
	}

	wantLines(t, o.ok("ctl", "create", "clusterrole", "cm-one", "--verb=get", "--resource=configmaps", "--resource-name=cfg",
		"--non-resource-url=/healthz", "--non-resource-url=/apis/*"),
		"clusterrole.rbac.authorization.k8s.io/cm-one created")
	cr, err := st.ClusterRoles.Get(ctx, "", "cm-one")
	if err != nil {
		t.Fatal(err)
	}
	wantCR := []api.PolicyRule{
		{Verbs: []string{"get"}, APIGroups: []string{""}, Resources: []string{"configmaps"}, ResourceNames: []string{"cfg"}},
		{Verbs: []string{"get"}, NonResourceURLs: []string{"/healthz", "/apis/*"}},
	}
	if !reflect.DeepEqual(cr.Rules, wantCR) {
		t.Errorf("clusterrole rules %+v, want %+v", cr.Rules, wantCR)
	}

	wantLines(t, o.ok("ctl", "create", "rolebinding", "readers", "-n", "team", "--role=pod-reader", "--user=alice", "--user", "bob",
		"--group=devs", "--serviceaccount=team:builder"), "rolebinding.rbac.authorization.k8s.io/readers created")
	rb, err := st.RoleBindings.Get(ctx, "team", "readers")
	if err != nil {
		t.Fatal(err)
	}
	wantSubjects := []api.Subject{
		{Kind: "User", APIGroup: api.RBACGroup, Name: "alice"}, {Kind: "User", APIGroup: api.RBACGroup, Name: "bob"},
		{Kind: "Group", APIGroup: api.RBACGroup, Name: "devs"}, {Kind: "ServiceAccount", Name: "builder", Namespace: "team"},
	}
	if !reflect.DeepEqual(rb.Subjects, wantSubjects) || rb.RoleRef != (api.RoleRef{APIGroup: api.RBACGroup, Kind: "Role", Name: "pod-reader"}) {
		t.Errorf("rolebinding %+v %+v", rb.Subjects, rb.RoleRef)
	}
	wantLines(t, o.ok("ctl", "create", "clusterrolebinding", "ops-admin", "--clusterrole=cluster-admin", "--group=ops"),
		"clusterrolebinding.rbac.authorization.k8s.io/ops-admin created")

	wantTable(t, o.ok("ctl", "get", "roles", "-n", "team"), "NAME CREATED AT", `pod-reader \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ`)
	wantTable(t, o.ok("ctl", "get", "rolebindings", "-n", "team", "-o", "wide"), "NAME ROLE AGE USERS GROUPS SERVICEACCOUNTS",
		`readers Role/pod-reader \S+ alice, bob devs team/builder`)
	wantTable(t, o.ok("ctl", "get", "clusterrolebinding", "ops-admin"), "NAME ROLE AGE", `ops-admin ClusterRole/cluster-admin \S+`)
	desc := o.ok("ctl", "describe", "rolebinding", "readers", "-n", "team")
	for _, re := range []string{`(?m)^Role:$`, `(?m)^\s+Kind:\s+Role$`, `(?m)^\s+Name:\s+pod-reader$`,
		`(?m)^\s+Kind\s+Name\s+Namespace$`, `(?m)^\s+ServiceAccount\s+builder\s+team$`, `(?m)^\s+Group\s+devs\s*$`} {
		if !regexp.MustCompile(re).MatchString(desc) {
			t.Errorf("describe rolebinding lacks %s:\n%s", re, desc)
		}
	}
	desc = o.ok("ctl", "describe", "role", "pod-reader", "-n", "team")
	for _, re := range []string{`(?m)^PolicyRule:$`, `(?m)^\s+Resources\s+Non-Resource URLs\s+Resource Names\s+Verbs$`,
		`(?m)^\s+pods\s+\[\]\s+\[\]\s+\[get list watch\]$`, `(?m)^\s+pods/log\s+\[\]`,
		`(?m)^\s+deployments.apps\s+\[\]`, `(?m)^\s+replicasets.apps/scale\s+\[\]\s+\[\]\s+\[get list watch\]$`} {
		if !regexp.MustCompile(re).MatchString(desc) {
			t.Errorf("describe role lacks %s:\n%s", re, desc)
		}
	}

	// apply of a manifest: created, then unchanged; a changed roleRef is refused.
	m := o.file("rbac.yaml", rbacApplyManifest)
	wantLines(t, o.ok("ctl", "apply", "-f", m), "clusterrole.rbac.authorization.k8s.io/system:pod-reader created",
		"clusterrolebinding.rbac.authorization.k8s.io/read-pods created")
	wantLines(t, o.ok("ctl", "apply", "-f", m), "clusterrole.rbac.authorization.k8s.io/system:pod-reader unchanged",
		"clusterrolebinding.rbac.authorization.k8s.io/read-pods unchanged")
	// The role is renamed and the binding pointed at it.
	bad := strings.ReplaceAll(rbacApplyManifest, "  name: system:pod-reader\n", "  name: other-reader\n")
	if _, _, err := o.run("ctl", "apply", "-f", o.file("rbac3.yaml", bad)); err == nil || !strings.Contains(err.Error(), "cannot change roleRef") {
		t.Errorf("apply of a changed roleRef: %v", err)
	}

	for _, bad := range []struct {
		args []string
		err  string
	}{
		{[]string{"create", "role", "r", "--resource=pods"}, "at least one verb must be specified"},
		{[]string{"create", "role", "r", "--verb=get"}, "at least one resource must be specified"},
		{[]string{"create", "role", "r", "--verb=get", "--resource=widgets"}, `the server doesn't have a resource type "widgets"`},
		{[]string{"create", "clusterrole", "r", "--verb=get"}, "one of resource or nonResourceURL must be specified"},
		{[]string{"create", "clusterrole", "r", "--verb=list", "--non-resource-url=/healthz"}, "invalid verb: 'list' for nonResourceURL"},
		{[]string{"create", "clusterrole", "r", "--verb=get", "--non-resource-url=healthz"}, "should start with /"},
		{[]string{"create", "rolebinding", "b", "--user=x"}, "exactly one of clusterrole or role must be specified"},
		{[]string{"create", "rolebinding", "b", "--role=a", "--clusterrole=b"}, "exactly one of clusterrole or role must be specified"},
		{[]string{"create", "clusterrolebinding", "b", "--user=x"}, "clusterrole must be specified"},
		{[]string{"create", "rolebinding", "b", "--role=a", "--serviceaccount=builder"}, "serviceaccount must be <namespace>:<name>"},
		{[]string{"create", "configmap", "cm", "--user=x"}, "give etcd's user with ETCDCTL_USER"},
		{[]string{"create", "rolebinding", "readers", "-n", "team", "--role=pod-reader"}, "already exists"},
	} {
		_, _, err := o.run(append([]string{"ctl"}, bad.args...)...)
		if err == nil || !strings.Contains(err.Error(), bad.err) {
			t.Errorf("orch ctl %s: %v, want %q", strings.Join(bad.args, " "), err, bad.err)
		}
	}
}
