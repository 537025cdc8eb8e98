package rbac

import (
	"context"
	"fmt"
	"slices"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/keeldb/keel/orchestrator/api"
	"github.com/keeldb/keel/orchestrator/authz"
)

// CheckEscalation enforces Kubernetes' RBAC escalation prevention on a create or update of
// a Role, ClusterRole, RoleBinding or ClusterRoleBinding by user (the apiserver calls it
// after authorizing the write; other kinds pass):
//
//   - a Role or ClusterRole may only hold rules the user already holds (in the Role's
//     namespace; everywhere for a ClusterRole), unless the user may "escalate" roles or
//     clusterroles;
//   - a binding may only grant a role whose rules the user holds (in the binding's
//     namespace; everywhere for a ClusterRoleBinding), unless the user may "bind" that role.
//
// Members of system:masters pass. A refusal is Kubernetes' 403 Forbidden:
// `clusterroles.rbac.authorization.k8s.io "x" is forbidden: user "alice" (groups=[...]) is
// attempting to grant RBAC permissions not currently held:` and the missing rules.
//
// Before the caches have synced it returns ErrNotSynced.
func (a *Authorizer) CheckEscalation(_ context.Context, user authz.UserInfo, obj api.Object) error {
	if slices.Contains(user.Groups, authz.SystemPrivilegedGrp) {
		return nil
	}
	if !a.HasSynced() {
		return ErrNotSynced
	}
	return CheckEscalation(a.Policy(), user, obj)
}

// CheckEscalation is the Authorizer's CheckEscalation over policy p.
func CheckEscalation(p Policy, user authz.UserInfo, obj api.Object) error {
	if slices.Contains(user.Groups, authz.SystemPrivilegedGrp) {
		return nil
	}
	var (
		resource, ns, verb string
		refName            = obj.Meta().Name
		rules              []api.PolicyRule
		resolveErr         error
	)
	switch o := obj.(type) {
	case *api.Role:
		resource, ns, verb, rules = "roles", o.Namespace, "escalate", o.Rules
	case *api.ClusterRole:
		resource, verb, rules = "clusterroles", "escalate", ClusterRoleRules(p, o)
	case *api.RoleBinding:
		resource, ns, verb, refName = "roles", o.Namespace, "bind", o.RoleRef.Name
		if o.RoleRef.Kind == "ClusterRole" {
			resource = "clusterroles"
		}
		rules, resolveErr = roleRules(p, o.RoleRef, o.Namespace)
	case *api.ClusterRoleBinding:
		resource, verb, refName = "clusterroles", "bind", o.RoleRef.Name
		rules, resolveErr = roleRules(p, o.RoleRef, "")
	default:
		return nil
	}
	// The escalate or bind verb on the role lets the user through.
	attrs := authz.Attributes{User: user, Verb: verb, ResourceRequest: true, APIGroup: api.RBACGroup, Resource: resource, Namespace: ns, Name: refName}
	if Evaluate(p, attrs).Allowed {
		return nil
	}
	res := api.ResourceOf(obj)
	gr := schema.GroupResource{Group: api.RBACGroup, Resource: res.Name}
	if resolveErr != nil {
		return apierrors.NewForbidden(gr, obj.Meta().Name, resolveErr)
	}
	held, heldErrs := rulesFor(p, user, ns)
	missing := uncovered(held, rules)
	if len(missing) == 0 {
		return nil
	}
	msg := fmt.Sprintf("user %q (groups=%q) is attempting to grant RBAC permissions not currently held:\n%s",
		user.Name, user.Groups, strings.Join(missing, "\n"))
	if len(heldErrs) > 0 {
		msg += fmt.Sprintf("; resolution errors: %v", heldErrs)
	}
	return apierrors.NewForbidden(gr, obj.Meta().Name, fmt.Errorf("%s", msg))
}

// rulesFor returns every rule user holds in namespace ns ("" = through ClusterRoleBindings
// only), with the errors met resolving roles.
func rulesFor(p Policy, user authz.UserInfo, ns string) ([]api.PolicyRule, []error) {
	u := withServiceAccountGroups(user)
	var rules []api.PolicyRule
	var errs []error
	for _, b := range p.ClusterRoleBindings() {
		if AppliesTo(u, b.Subjects, "") == nil {
			continue
		}
		r, err := roleRules(p, b.RoleRef, "")
		if err != nil {
			errs = append(errs, err)
		}
		rules = append(rules, r...)
	}
	if ns == "" {
		return rules, errs
	}
	for _, b := range p.RoleBindings(ns) {
		if AppliesTo(u, b.Subjects, b.Namespace) == nil {
			continue
		}
		r, err := roleRules(p, b.RoleRef, b.Namespace)
		if err != nil {
			errs = append(errs, err)
		}
		rules = append(rules, r...)
	}
	return rules, errs
}

// uncovered breaks the requested rules into single-verb, single-resource (or single-URL)
// rules and returns, described in Kubernetes' compact form, those no held rule covers.
func uncovered(held, requested []api.PolicyRule) []string {
	var missing []string
	seen := map[string]bool{}
	for _, r := range requested {
		for _, simple := range breakdown(r) {
			covered := false
			for i := range held {
				if covers(&held[i], &simple) {
					covered = true
					break
				}
			}
			if d := compactString(simple); !covered && !seen[d] {
				seen[d] = true
				missing = append(missing, d)
			}
		}
	}
	return missing
}

// breakdown splits r into rules of one verb and one API group, resource and resource name
// (or one non-resource URL).
func breakdown(r api.PolicyRule) []api.PolicyRule {
	var out []api.PolicyRule
	names := r.ResourceNames
	if len(names) == 0 {
		names = []string{""}
	}
	for _, g := range r.APIGroups {
		for _, res := range r.Resources {
			for _, v := range r.Verbs {
				for _, n := range names {
					s := api.PolicyRule{Verbs: []string{v}, APIGroups: []string{g}, Resources: []string{res}}
					if n != "" {
						s.ResourceNames = []string{n}
					}
					out = append(out, s)
				}
			}
		}
	}
	for _, u := range r.NonResourceURLs {
		for _, v := range r.Verbs {
			out = append(out, api.PolicyRule{Verbs: []string{v}, NonResourceURLs: []string{u}})
		}
	}
	return out
}

// covers reports whether owner grants everything the simple rule s (from breakdown) does.
func covers(owner, s *api.PolicyRule) bool {
	if !containsOrAll(owner.Verbs, s.Verbs[0]) {
		return false
	}
	if len(s.NonResourceURLs) > 0 {
		u := s.NonResourceURLs[0]
		for _, o := range owner.NonResourceURLs {
			if o == api.RBACAll || o == u || (strings.HasSuffix(o, "*") && strings.HasPrefix(u, strings.TrimSuffix(o, "*"))) {
				return true
			}
		}
		return false
	}
	if !containsOrAll(owner.APIGroups, s.APIGroups[0]) {
		return false
	}
	res := s.Resources[0]
	ok := slices.Contains(owner.Resources, api.RBACAll) || slices.Contains(owner.Resources, res)
	if _, sub, isSub := strings.Cut(res, "/"); !ok && isSub {
		ok = slices.Contains(owner.Resources, "*/"+sub)
	}
	if !ok {
		return false
	}
	if len(owner.ResourceNames) == 0 {
		return true
	}
	return len(s.ResourceNames) == 1 && slices.Contains(owner.ResourceNames, s.ResourceNames[0])
}

// compactString renders a rule as Kubernetes' error messages do:
// {APIGroups:["apps"], Resources:["deployments"], Verbs:["delete"]}.
func compactString(r api.PolicyRule) string {
	var parts []string
	add := func(name string, vs []string) {
		if len(vs) == 0 {
			return
		}
		q := make([]string, len(vs))
		for i, v := range vs {
			q[i] = fmt.Sprintf("%q", v)
		}
		parts = append(parts, name+":["+strings.Join(q, ", ")+"]")
	}
	if len(r.NonResourceURLs) == 0 {
		add("APIGroups", r.APIGroups)
		add("Resources", r.Resources)
		add("ResourceNames", r.ResourceNames)
	}
	add("NonResourceURLs", r.NonResourceURLs)
	add("Verbs", r.Verbs)
	return "{" + strings.Join(parts, ", ") + "}"
}
