package rbac

import (
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/keeldb/keel/orchestrator/api"
	"github.com/keeldb/keel/orchestrator/authz"
)

// Policy is the RBAC objects an evaluation reads: the Authorizer's informer caches, or a
// StaticPolicy. Objects returned are shared: callers must not modify them.
type Policy interface {
	ClusterRoleBindings() []*api.ClusterRoleBinding
	// RoleBindings returns the RoleBindings of namespace ns.
	RoleBindings(ns string) []*api.RoleBinding
	Role(ns, name string) (*api.Role, bool)
	ClusterRole(name string) (*api.ClusterRole, bool)
	ClusterRoles() []*api.ClusterRole
}

// StaticPolicy is a fixed Policy (tests, tools).
type StaticPolicy struct {
	Roles               []*api.Role
	RoleBindingList     []*api.RoleBinding
	ClusterRoleList     []*api.ClusterRole
	ClusterRoleBindList []*api.ClusterRoleBinding
}

var _ Policy = (*StaticPolicy)(nil)

// ClusterRoleBindings implements Policy.
func (p *StaticPolicy) ClusterRoleBindings() []*api.ClusterRoleBinding { return p.ClusterRoleBindList }

// RoleBindings implements Policy.
func (p *StaticPolicy) RoleBindings(ns string) []*api.RoleBinding {
	var out []*api.RoleBinding
	for _, b := range p.RoleBindingList {
		if b.Namespace == ns {
			out = append(out, b)
		}
	}
	return out
}

// Role implements Policy.
func (p *StaticPolicy) Role(ns, name string) (*api.Role, bool) {
	for _, r := range p.Roles {
		if r.Namespace == ns && r.Name == name {
			return r, true
		}
	}
	return nil, false
}

// ClusterRole implements Policy.
func (p *StaticPolicy) ClusterRole(name string) (*api.ClusterRole, bool) {
	for _, r := range p.ClusterRoleList {
		if r.Name == name {
			return r, true
		}
	}
	return nil, false
}

// ClusterRoles implements Policy.
func (p *StaticPolicy) ClusterRoles() []*api.ClusterRole { return p.ClusterRoleList }

// Result is the outcome of evaluating a request against a Policy.
type Result struct {
	Allowed bool
	// By describes the grant of an allowed request, Kubernetes' way:
	// `ClusterRoleBinding "x" of ClusterRole "view" to User "alice"`.
	By string
	// Errors are the problems met on the way (a binding to a missing role); they do not
	// stop the evaluation, but Kubernetes reports them in a denial's reason.
	Errors []error
}

// Evaluate decides request a against p with Kubernetes' RBAC semantics: it is allowed when
// a ClusterRoleBinding, or (for a namespaced request) a RoleBinding of the request's
// namespace, names the user and its role has a rule allowing a. Nothing else allows:
// there are no deny rules. Members of system:masters are not special here (Authorizer is).
func Evaluate(p Policy, a authz.Attributes) Result {
	u := withServiceAccountGroups(a.User)
	var res Result
	for _, b := range p.ClusterRoleBindings() {
		s := AppliesTo(u, b.Subjects, "")
		if s == nil {
			continue
		}
		rules, err := roleRules(p, b.RoleRef, "")
		if err != nil {
			res.Errors = append(res.Errors, err)
		}
		if rulesAllow(a, rules) {
			res.Allowed = true
			res.By = fmt.Sprintf("ClusterRoleBinding %q of %s %q to %s", b.Name, b.RoleRef.Kind, b.RoleRef.Name, describeSubject(s, ""))
			return res
		}
	}
	if a.Namespace == "" {
		return res
	}
	for _, b := range p.RoleBindings(a.Namespace) {
		s := AppliesTo(u, b.Subjects, b.Namespace)
		if s == nil {
			continue
		}
		rules, err := roleRules(p, b.RoleRef, b.Namespace)
		if err != nil {
			res.Errors = append(res.Errors, err)
		}
		if rulesAllow(a, rules) {
			res.Allowed = true
			res.By = fmt.Sprintf("RoleBinding %q of %s %q to %s", b.Name+"/"+b.Namespace, b.RoleRef.Kind, b.RoleRef.Name, describeSubject(s, b.Namespace))
			return res
		}
	}
	return res
}

func rulesAllow(a authz.Attributes, rules []api.PolicyRule) bool {
	for i := range rules {
		if RuleAllows(a, &rules[i]) {
			return true
		}
	}
	return false
}

func describeSubject(s *api.Subject, bindingNamespace string) string {
	if s.Kind == api.ServiceAccountKind {
		ns := s.Namespace
		if ns == "" {
			ns = bindingNamespace
		}
		return fmt.Sprintf("%s %q", s.Kind, s.Name+"/"+ns)
	}
	return fmt.Sprintf("%s %q", s.Kind, s.Name)
}

// roleRules returns the rules of the role ref names: a Role of namespace ns, or a
// ClusterRole (with its aggregated rules). A missing role is Kubernetes' NotFound error.
func roleRules(p Policy, ref api.RoleRef, ns string) ([]api.PolicyRule, error) {
	switch ref.Kind {
	case "Role":
		r, ok := p.Role(ns, ref.Name)
		if !ok {
			return nil, apierrors.NewNotFound(schema.GroupResource{Group: api.RBACGroup, Resource: "role"}, ref.Name)
		}
		return r.Rules, nil
	case "ClusterRole":
		r, ok := p.ClusterRole(ref.Name)
		if !ok {
			return nil, apierrors.NewNotFound(schema.GroupResource{Group: api.RBACGroup, Resource: "clusterrole"}, ref.Name)
		}
		return ClusterRoleRules(p, r), nil
	}
	return nil, fmt.Errorf("unsupported role reference kind: %q", ref.Kind)
}

// ClusterRoleRules returns cr's rules and, when it has an aggregationRule, the rules of
// every ClusterRole its selectors match (transitively; each role once). Kubernetes'
// aggregation controller writes that union into the role; here it is computed when the
// role is read, so an aggregated role's stored rules list only what was written into it.
func ClusterRoleRules(p Policy, cr *api.ClusterRole) []api.PolicyRule {
	if cr.AggregationRule == nil {
		return cr.Rules
	}
	seen := map[string]bool{}
	var out []api.PolicyRule
	var visit func(r *api.ClusterRole)
	visit = func(r *api.ClusterRole) {
		if seen[r.Name] {
			return
		}
		seen[r.Name] = true
		out = append(out, r.Rules...)
		if r.AggregationRule == nil {
			return
		}
		for _, other := range p.ClusterRoles() {
			if seen[other.Name] {
				continue
			}
			for i := range r.AggregationRule.ClusterRoleSelectors {
				sel, err := r.AggregationRule.ClusterRoleSelectors[i].Selector()
				if err == nil && sel.Matches(other.Labels) {
					visit(other)
					break
				}
			}
		}
	}
	visit(cr)
	return out
}
