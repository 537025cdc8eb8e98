package api

import (
	"fmt"
	"strings"
)

// RBACGroup is the API group of the RBAC kinds.
const RBACGroup = "rbac.authorization.k8s.io"

// Subject kinds of a binding.
const (
	UserKind           = "User"
	GroupKind          = "Group"
	ServiceAccountKind = "ServiceAccount"
)

// Wildcards of a PolicyRule: "*" matches every verb, API group, resource or non-resource URL.
const RBACAll = "*"

// PolicyRule grants verbs on resources (apiGroups × resources, optionally only the named
// objects) or on non-resource URLs (cluster roles only).
type PolicyRule struct {
	Verbs           []string `json:"verbs"`
	APIGroups       []string `json:"apiGroups,omitempty"`
	Resources       []string `json:"resources,omitempty"`
	ResourceNames   []string `json:"resourceNames,omitempty"`
	NonResourceURLs []string `json:"nonResourceURLs,omitempty"`
}

// Subject is who a binding grants its role to: a User or Group (apiGroup
// rbac.authorization.k8s.io) or a ServiceAccount (apiGroup "", with a namespace).
type Subject struct {
	Kind      string `json:"kind"`
	APIGroup  string `json:"apiGroup,omitempty"`
	Name      string `json:"name"`
	Namespace string `json:"namespace,omitempty"`
}

// RoleRef names the Role or ClusterRole a binding grants. It cannot change after creation.
type RoleRef struct {
	APIGroup string `json:"apiGroup"`
	Kind     string `json:"kind"`
	Name     string `json:"name"`
}

// AggregationRule makes a ClusterRole's rules the union of the rules of the ClusterRoles its
// selectors match (besides its own).
type AggregationRule struct {
	ClusterRoleSelectors []LabelSelector `json:"clusterRoleSelectors,omitempty"`
}

// Role is a namespaced set of rules (rbac.authorization.k8s.io/v1).
type Role struct {
	TypeMeta   `json:",inline"`
	ObjectMeta `json:"metadata"`
	Rules      []PolicyRule `json:"rules"`
}

// ClusterRole is a cluster-wide set of rules (rbac.authorization.k8s.io/v1).
type ClusterRole struct {
	TypeMeta        `json:",inline"`
	ObjectMeta      `json:"metadata"`
	Rules           []PolicyRule     `json:"rules"`
	AggregationRule *AggregationRule `json:"aggregationRule,omitempty"`
}

// RoleBinding grants a Role, or a ClusterRole's rules, to subjects in its namespace only.
type RoleBinding struct {
	TypeMeta   `json:",inline"`
	ObjectMeta `json:"metadata"`
	Subjects   []Subject `json:"subjects,omitempty"`
	RoleRef    RoleRef   `json:"roleRef"`
}

// ClusterRoleBinding grants a ClusterRole to subjects in every namespace and at cluster scope.
type ClusterRoleBinding struct {
	TypeMeta   `json:",inline"`
	ObjectMeta `json:"metadata"`
	Subjects   []Subject `json:"subjects,omitempty"`
	RoleRef    RoleRef   `json:"roleRef"`
}

// The resources of rbac.go; Kubernetes gives them no short names.
var (
	RoleResource               = Resource{Name: "roles", Kind: "Role", APIVersion: RBACGroup + "/v1", Namespaced: true}
	ClusterRoleResource        = Resource{Name: "clusterroles", Kind: "ClusterRole", APIVersion: RBACGroup + "/v1"}
	RoleBindingResource        = Resource{Name: "rolebindings", Kind: "RoleBinding", APIVersion: RBACGroup + "/v1", Namespaced: true}
	ClusterRoleBindingResource = Resource{Name: "clusterrolebindings", Kind: "ClusterRoleBinding", APIVersion: RBACGroup + "/v1"}
)

// defaultSubjects and defaultRoleRef fill the API groups as Kubernetes' v1 defaulting: a
// User or Group subject and a roleRef belong to rbac.authorization.k8s.io unless given.
func defaultSubjects(ss []Subject) {
	for i := range ss {
		if ss[i].APIGroup == "" && (ss[i].Kind == UserKind || ss[i].Kind == GroupKind) {
			ss[i].APIGroup = RBACGroup
		}
	}
}

func defaultRoleRef(r *RoleRef) {
	if r.APIGroup == "" {
		r.APIGroup = RBACGroup
	}
}

func isRBACKind(kind string) bool {
	switch kind {
	case "Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding":
		return true
	}
	return false
}

// rbacNameProblems checks a name as a URL path segment, the rule of the RBAC kinds (whose
// names, like "system:discovery", need not be DNS subdomains).
func rbacNameProblems(n string) []string {
	var out []string
	switch n {
	case ".", "..":
		out = append(out, fmt.Sprintf("may not be '%s'", n))
	}
	for _, bad := range []string{"/", "%"} {
		if strings.Contains(n, bad) {
			out = append(out, fmt.Sprintf("may not contain '%s'", bad))
		}
	}
	return out
}

func validatePolicyRules(rules []PolicyRule, namespaced bool, p Path) ErrorList {
	var errs ErrorList
	for i, r := range rules {
		rp := p.Index(i)
		if len(r.Verbs) == 0 {
			errs = append(errs, required(rp.Child("verbs"), "verbs must contain at least one value"))
		}
		if len(r.NonResourceURLs) > 0 {
			if namespaced {
				errs = append(errs, invalid(rp.Child("nonResourceURLs"), r.NonResourceURLs, "namespaced rules cannot apply to non-resource URLs"))
			}
			if len(r.APIGroups) > 0 || len(r.Resources) > 0 || len(r.ResourceNames) > 0 {
				errs = append(errs, invalid(rp.Child("nonResourceURLs"), r.NonResourceURLs, "rules cannot apply to both regular resources and non-resource URLs"))
			}
			continue
		}
		if len(r.APIGroups) == 0 {
			errs = append(errs, required(rp.Child("apiGroups"), "resource rules must supply at least one api group"))
		}
		if len(r.Resources) == 0 {
			errs = append(errs, required(rp.Child("resources"), "resource rules must supply at least one resource"))
		}
	}
	return errs
}

func validateAggregationRule(a *AggregationRule, p Path) ErrorList {
	if a == nil {
		return nil
	}
	sp := p.Child("clusterRoleSelectors")
	if len(a.ClusterRoleSelectors) == 0 {
		return ErrorList{required(sp, "at least one clusterRoleSelector required if aggregationRule is non-nil")}
	}
	var errs ErrorList
	for i := range a.ClusterRoleSelectors {
		if _, err := a.ClusterRoleSelectors[i].Selector(); err != nil {
			errs = append(errs, invalid(sp.Index(i), nil, err.Error()))
		}
	}
	return errs
}

func validateRoleRef(r RoleRef, kinds []string) ErrorList {
	var errs ErrorList
	if r.APIGroup != RBACGroup {
		errs = append(errs, notSupported("roleRef.apiGroup", r.APIGroup, RBACGroup))
	}
	ok := false
	for _, k := range kinds {
		ok = ok || r.Kind == k
	}
	if !ok {
		errs = append(errs, notSupported("roleRef.kind", r.Kind, kinds...))
	}
	if r.Name == "" {
		errs = append(errs, required("roleRef.name", ""))
	}
	for _, msg := range rbacNameProblems(r.Name) {
		errs = append(errs, invalid("roleRef.name", r.Name, msg))
	}
	return errs
}

func validateSubjects(ss []Subject, namespaced bool) ErrorList {
	var errs ErrorList
	for i, s := range ss {
		p := Path("subjects").Index(i)
		if s.Name == "" {
			errs = append(errs, required(p.Child("name"), ""))
		}
		switch s.Kind {
		case ServiceAccountKind:
			if s.Name != "" && (len(s.Name) > 253 || !dnsSubdomainRe.MatchString(s.Name)) {
				errs = append(errs, invalid(p.Child("name"), s.Name, "must be a DNS subdomain (lowercase alphanumerics, '-' and '.', at most 253)"))
			}
			if s.APIGroup != "" {
				errs = append(errs, notSupported(p.Child("apiGroup"), s.APIGroup, ""))
			}
			if !namespaced && s.Namespace == "" {
				errs = append(errs, required(p.Child("namespace"), ""))
			}
		case UserKind, GroupKind:
			if s.APIGroup != RBACGroup {
				errs = append(errs, notSupported(p.Child("apiGroup"), s.APIGroup, RBACGroup))
			}
		default:
			errs = append(errs, notSupported(p.Child("kind"), s.Kind, ServiceAccountKind, UserKind, GroupKind))
		}
	}
	return errs
}

// validateRBAC validates the RBAC kinds beyond their metadata; nil for another kind.
func validateRBAC(obj Object) ErrorList {
	switch o := obj.(type) {
	case *Role:
		return validatePolicyRules(o.Rules, true, "rules")
	case *ClusterRole:
		errs := validatePolicyRules(o.Rules, false, "rules")
		return append(errs, validateAggregationRule(o.AggregationRule, "aggregationRule")...)
	case *RoleBinding:
		errs := validateRoleRef(o.RoleRef, []string{"Role", "ClusterRole"})
		return append(errs, validateSubjects(o.Subjects, true)...)
	case *ClusterRoleBinding:
		errs := validateRoleRef(o.RoleRef, []string{"ClusterRole"})
		return append(errs, validateSubjects(o.Subjects, false)...)
	}
	return nil
}

// defaultRBAC fills the RBAC kinds' defaults; it does nothing for another kind.
func defaultRBAC(obj Object) {
	switch o := obj.(type) {
	case *RoleBinding:
		defaultSubjects(o.Subjects)
		defaultRoleRef(&o.RoleRef)
	case *ClusterRoleBinding:
		defaultSubjects(o.Subjects)
		defaultRoleRef(&o.RoleRef)
	}
}

// validateRBACUpdate refuses a change of a binding's roleRef, as Kubernetes.
func validateRBACUpdate(old, next Object) ErrorList {
	var a, b RoleRef
	switch o := old.(type) {
	case *RoleBinding:
		a, b = o.RoleRef, next.(*RoleBinding).RoleRef
	case *ClusterRoleBinding:
		a, b = o.RoleRef, next.(*ClusterRoleBinding).RoleRef
	default:
		return nil
	}
	if a != b {
		return ErrorList{invalid("roleRef", fmt.Sprintf("%+v", b), "cannot change roleRef")}
	}
	return nil
}
