package rbac

import (
	"context"
	"errors"
	"fmt"

	"github.com/keeldb/keel/orchestrator/api"
	"github.com/keeldb/keel/orchestrator/authz"
	"github.com/keeldb/keel/orchestrator/registry"
)

// Verb sets of the bootstrap roles, as Kubernetes' bootstrap policy.
var (
	readVerbs  = []string{"get", "list", "watch"}
	writeVerbs = []string{"create", "delete", "deletecollection", "patch", "update"}
)

func rule(verbs []string, group string, resources ...string) api.PolicyRule {
	return api.PolicyRule{Verbs: verbs, APIGroups: []string{group}, Resources: resources}
}

func urlRule(verbs []string, urls ...string) api.PolicyRule {
	return api.PolicyRule{Verbs: verbs, NonResourceURLs: urls}
}

// viewRules read the namespaced resources the orchestrator has, Secrets excepted.
func viewRules() []api.PolicyRule {
	return []api.PolicyRule{
		rule(readVerbs, "", "pods", "pods/log", "pods/status", "services", "services/status", "endpoints",
			"events", "configmaps", "persistentvolumeclaims", "persistentvolumeclaims/status",
			"replicationcontrollers", "replicationcontrollers/scale", "replicationcontrollers/status",
			"serviceaccounts", "limitranges", "resourcequotas", "resourcequotas/status", "bindings", "namespaces/status"),
		rule(readVerbs, "", "namespaces"),
		rule(readVerbs, "apps", "deployments", "deployments/scale", "deployments/status", "replicasets",
			"replicasets/scale", "replicasets/status", "daemonsets", "daemonsets/status", "statefulsets",
			"statefulsets/scale", "statefulsets/status", "controllerrevisions"),
		rule(readVerbs, "autoscaling", "horizontalpodautoscalers", "horizontalpodautoscalers/status"),
		rule(readVerbs, "batch", "jobs", "jobs/status", "cronjobs", "cronjobs/status"),
		rule(readVerbs, "networking.k8s.io", "ingresses", "ingresses/status", "networkpolicies"),
		rule(readVerbs, "policy", "poddisruptionbudgets", "poddisruptionbudgets/status"),
		rule(readVerbs, "metrics.k8s.io", "pods", "podmetrics"),
	}
}

// editRules are view's plus writes of the same resources, Secrets and the pod
// subresources a user works with (exec, attach, port-forward, eviction).
func editRules() []api.PolicyRule {
	return append(viewRules(),
		rule(readVerbs, "", "secrets", "pods/attach", "pods/exec", "pods/portforward", "pods/proxy", "services/proxy"),
		rule(writeVerbs, "", "pods", "pods/attach", "pods/exec", "pods/portforward", "pods/proxy"),
		rule([]string{"create"}, "", "pods/eviction", "serviceaccounts/token"),
		rule(writeVerbs, "", "configmaps", "events", "persistentvolumeclaims", "replicationcontrollers",
			"replicationcontrollers/scale", "secrets", "serviceaccounts", "services", "services/proxy", "endpoints"),
		rule(writeVerbs, "apps", "deployments", "deployments/rollback", "deployments/scale", "replicasets",
			"replicasets/scale", "daemonsets", "statefulsets", "statefulsets/scale"),
		rule(writeVerbs, "autoscaling", "horizontalpodautoscalers"),
		rule(writeVerbs, "batch", "jobs", "cronjobs"),
		rule(writeVerbs, "networking.k8s.io", "ingresses", "networkpolicies"),
		rule(writeVerbs, "policy", "poddisruptionbudgets"),
	)
}

// adminRules are edit's plus Roles and RoleBindings (a RoleBinding of admin makes its
// subjects the namespace's administrators) and local access reviews.
func adminRules() []api.PolicyRule {
	return append(editRules(),
		rule(append(append([]string{}, readVerbs...), writeVerbs...), api.RBACGroup, "roles", "rolebindings"),
		rule([]string{"create"}, "authorization.k8s.io", "localsubjectaccessreviews"),
	)
}

// Bootstrap role and binding names, and their markers, as Kubernetes'.
const (
	ClusterAdmin     = "cluster-admin"
	Admin            = "admin"
	Edit             = "edit"
	View             = "view"
	Discovery        = "system:discovery"
	BasicUser        = "system:basic-user"
	PublicInfoViewer = "system:public-info-viewer"

	bootstrappingLabel = "kubernetes.io/bootstrapping"
	autoupdateAnnot    = "rbac.authorization.kubernetes.io/autoupdate"
)

func bootstrapMeta(name string) api.ObjectMeta {
	return api.ObjectMeta{Name: name, Labels: map[string]string{bootstrappingLabel: "rbac-defaults"},
		Annotations: map[string]string{autoupdateAnnot: "true"}}
}

// BootstrapClusterRoles returns the default ClusterRoles: cluster-admin (everything,
// non-resource URLs included), admin, edit and view (for RoleBindings in a namespace or a
// ClusterRoleBinding), system:discovery (the discovery and OpenAPI paths),
// system:basic-user (self access reviews) and system:public-info-viewer (health and
// version).
func BootstrapClusterRoles() []*api.ClusterRole {
	all := []string{api.RBACAll}
	cr := func(name string, rules []api.PolicyRule) *api.ClusterRole {
		return &api.ClusterRole{ObjectMeta: bootstrapMeta(name), Rules: rules}
	}
	return []*api.ClusterRole{
		cr(ClusterAdmin, []api.PolicyRule{{Verbs: all, APIGroups: all, Resources: all}, urlRule(all, "*")}),
		cr(Admin, adminRules()),
		cr(Edit, editRules()),
		cr(View, viewRules()),
		cr(Discovery, []api.PolicyRule{urlRule([]string{"get"}, "/api", "/api/*", "/apis", "/apis/*", "/healthz",
			"/livez", "/openapi", "/openapi/*", "/readyz", "/version", "/version/")}),
		cr(BasicUser, []api.PolicyRule{
			rule([]string{"create"}, "authorization.k8s.io", "selfsubjectaccessreviews", "selfsubjectrulesreviews"),
			rule([]string{"create"}, "authentication.k8s.io", "selfsubjectreviews"),
		}),
		cr(PublicInfoViewer, []api.PolicyRule{urlRule([]string{"get"}, "/healthz", "/livez", "/readyz", "/version", "/version/")}),
	}
}

// BootstrapClusterRoleBindings returns the default bindings: cluster-admin to group
// system:masters; discovery and basic-user to every authenticated user; public info to
// everyone.
func BootstrapClusterRoleBindings() []*api.ClusterRoleBinding {
	group := func(n string) api.Subject { return api.Subject{Kind: api.GroupKind, APIGroup: api.RBACGroup, Name: n} }
	crb := func(role string, subjects ...api.Subject) *api.ClusterRoleBinding {
		return &api.ClusterRoleBinding{ObjectMeta: bootstrapMeta(role), Subjects: subjects,
			RoleRef: api.RoleRef{APIGroup: api.RBACGroup, Kind: "ClusterRole", Name: role}}
	}
	return []*api.ClusterRoleBinding{
		crb(ClusterAdmin, group(authz.SystemPrivilegedGrp)),
		crb(Discovery, group(authz.AllAuthenticated)),
		crb(BasicUser, group(authz.AllAuthenticated)),
		crb(PublicInfoViewer, group(authz.AllAuthenticated), group(authz.AllUnauthenticated)),
	}
}

// Bootstrap creates the default ClusterRoles and ClusterRoleBindings that do not exist yet.
// Objects already present are left as they are (a cluster's administrator may have changed
// them), so any number of apiserver replicas may run it at once: a create that loses the
// race gets AlreadyExists, which is success. It returns the first other error.
func Bootstrap(ctx context.Context, st *registry.Stores) error {
	for _, r := range BootstrapClusterRoles() {
		if _, err := st.ClusterRoles.Create(ctx, r); err != nil && !errors.Is(err, registry.ErrAlreadyExists) {
			return fmt.Errorf("rbac: bootstrap clusterrole %s: %w", r.Name, err)
		}
	}
	for _, b := range BootstrapClusterRoleBindings() {
		if _, err := st.ClusterRoleBindings.Create(ctx, b); err != nil && !errors.Is(err, registry.ErrAlreadyExists) {
			return fmt.Errorf("rbac: bootstrap clusterrolebinding %s: %w", b.Name, err)
		}
	}
	return nil
}
