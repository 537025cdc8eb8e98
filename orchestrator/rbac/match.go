package rbac

import (
	"slices"
	"strings"

	"github.com/keeldb/keel/orchestrator/api"
	"github.com/keeldb/keel/orchestrator/authz"
)

// Service account user and group names, as Kubernetes' service account authenticator sets
// them: user system:serviceaccount:NS:NAME in groups system:serviceaccounts and
// system:serviceaccounts:NS.
const (
	serviceAccountUserPrefix  = "system:serviceaccount:"
	AllServiceAccountsGroup   = "system:serviceaccounts"
	serviceAccountGroupPrefix = "system:serviceaccounts:"
)

// ServiceAccountUsername returns the user name of service account ns/name.
func ServiceAccountUsername(ns, name string) string {
	return serviceAccountUserPrefix + ns + ":" + name
}

// SplitServiceAccountUsername returns the namespace and name of a service account user
// name; ok is false for another user.
func SplitServiceAccountUsername(user string) (ns, name string, ok bool) {
	rest, ok := strings.CutPrefix(user, serviceAccountUserPrefix)
	if !ok {
		return "", "", false
	}
	ns, name, ok = strings.Cut(rest, ":")
	if !ok || ns == "" || name == "" || strings.Contains(name, ":") {
		return "", "", false
	}
	return ns, name, true
}

// ServiceAccountGroups returns the groups of a service account in namespace ns.
func ServiceAccountGroups(ns string) []string {
	return []string{AllServiceAccountsGroup, serviceAccountGroupPrefix + ns}
}

// withServiceAccountGroups returns u with the service account groups added when u is a
// service account, as the service account authenticator would have.
func withServiceAccountGroups(u authz.UserInfo) authz.UserInfo {
	ns, _, ok := SplitServiceAccountUsername(u.Name)
	if !ok {
		return u
	}
	groups := slices.Clone(u.Groups)
	for _, g := range ServiceAccountGroups(ns) {
		if !slices.Contains(groups, g) {
			groups = append(groups, g)
		}
	}
	u.Groups = groups
	return u
}

// VerbMatches reports whether rule grants verb ("*" grants every verb).
func VerbMatches(rule *api.PolicyRule, verb string) bool {
	return containsOrAll(rule.Verbs, verb)
}

// APIGroupMatches reports whether rule covers API group group ("" is the core group).
func APIGroupMatches(rule *api.PolicyRule, group string) bool {
	return containsOrAll(rule.APIGroups, group)
}

// ResourceMatches reports whether rule covers resource with subresource (may be empty): a
// rule resource matches when it is "*", equals "resource" (no subresource) or
// "resource/subresource", or is "*/subresource". A bare "pods" does not cover "pods/log".
func ResourceMatches(rule *api.PolicyRule, resource, subresource string) bool {
	combined := resource
	if subresource != "" {
		combined = resource + "/" + subresource
	}
	for _, r := range rule.Resources {
		switch {
		case r == api.RBACAll, r == combined:
			return true
		case subresource != "" && r == "*/"+subresource:
			return true
		}
	}
	return false
}

// ResourceNameMatches reports whether rule covers the object name: a rule without
// resourceNames covers every name; one with them covers only those names (so never a
// request without a name, such as list or create).
func ResourceNameMatches(rule *api.PolicyRule, name string) bool {
	if len(rule.ResourceNames) == 0 {
		return true
	}
	return slices.Contains(rule.ResourceNames, name)
}

// NonResourceURLMatches reports whether rule covers path: "*", the exact path, or a prefix
// ending in "*" ("/apis/*" covers "/apis/apps/v1").
func NonResourceURLMatches(rule *api.PolicyRule, path string) bool {
	for _, u := range rule.NonResourceURLs {
		switch {
		case u == api.RBACAll, u == path:
			return true
		case strings.HasSuffix(u, "*") && strings.HasPrefix(path, strings.TrimSuffix(u, "*")):
			return true
		}
	}
	return false
}

// RuleAllows reports whether rule grants the request a.
func RuleAllows(a authz.Attributes, rule *api.PolicyRule) bool {
	if !VerbMatches(rule, a.Verb) {
		return false
	}
	if a.ResourceRequest {
		return APIGroupMatches(rule, a.APIGroup) && ResourceMatches(rule, a.Resource, a.Subresource) &&
			ResourceNameMatches(rule, a.Name)
	}
	return NonResourceURLMatches(rule, a.Path)
}

// AppliesTo returns the first subject of a binding that names the user, directly, through
// one of its groups or as a service account; nil when none does. bindingNamespace is the
// namespace of a RoleBinding ("" for a ClusterRoleBinding): a ServiceAccount subject
// without a namespace means one in the binding's namespace.
func AppliesTo(u authz.UserInfo, subjects []api.Subject, bindingNamespace string) *api.Subject {
	for i := range subjects {
		if subjectMatches(u, &subjects[i], bindingNamespace) {
			return &subjects[i]
		}
	}
	return nil
}

func subjectMatches(u authz.UserInfo, s *api.Subject, bindingNamespace string) bool {
	switch s.Kind {
	case api.UserKind:
		return u.Name == s.Name
	case api.GroupKind:
		return slices.Contains(u.Groups, s.Name)
	case api.ServiceAccountKind:
		ns := s.Namespace
		if ns == "" {
			ns = bindingNamespace
		}
		return ns != "" && u.Name == ServiceAccountUsername(ns, s.Name)
	}
	return false
}

func containsOrAll(list []string, v string) bool {
	for _, x := range list {
		if x == api.RBACAll || x == v {
			return true
		}
	}
	return false
}
