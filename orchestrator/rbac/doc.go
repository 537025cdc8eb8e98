// Package rbac authorizes `orch apiserver`'s requests with Kubernetes' RBAC
// (rbac.authorization.k8s.io/v1): Roles and ClusterRoles hold rules, RoleBindings and
// ClusterRoleBindings grant them to users, groups and service accounts.
//
// Semantics, as Kubernetes' RBAC authorizer: a request is allowed when some rule of a
// role bound to the user matches it, and refused otherwise (there are no deny rules). A
// rule matches a resource request when its verbs, apiGroups and resources match ("*"
// matching anything; "pods/log" or "*/log" for a subresource, which a bare "pods" does not
// cover) and, if it lists resourceNames, the request names one of them; it matches a
// non-resource request (/healthz, /apis/...) when one of its nonResourceURLs equals the
// path or is a prefix ending in "*". ClusterRoleBindings grant everywhere; a RoleBinding
// grants only in its own namespace, whether it references a Role of that namespace or a
// ClusterRole. A ServiceAccount subject names user system:serviceaccount:NS:NAME, and
// such a user is in groups system:serviceaccounts and system:serviceaccounts:NS (added
// here if the authenticator did not). Members of system:masters are always allowed. A
// ClusterRole with an aggregationRule also has the rules of the ClusterRoles its selectors
// match, computed on read (Kubernetes' aggregation controller writes them instead).
//
// The pieces: the matchers (RuleAllows and its parts, AppliesTo) and Evaluate over a Policy
// are pure functions; Authorizer (New, Start, Close) implements authz.Authorizer over
// informer caches of the four kinds, so a check reads memory only; its reason texts are
// Kubernetes' (ForbiddenReason, ForbiddenError). Bootstrap creates the default ClusterRoles
// (cluster-admin, admin, edit, view, system:discovery, system:basic-user,
// system:public-info-viewer) and their ClusterRoleBindings when absent. Review and
// ReviewSubject answer SelfSubjectAccessReviews and SubjectAccessReviews, RulesReview
// SelfSubjectRulesReviews, with k8s.io/api/authorization/v1 types. CheckEscalation is Kubernetes' escalation
// prevention: a user may write a role, or a binding, only with rules they already hold in
// its scope, unless they may escalate, or bind, that role.
//
// Concurrency: Authorizer is safe for concurrent use; its informer goroutines are started
// by Start and stopped and joined by Close (or when Start's context ends).
//
// Not here yet: LocalSubjectAccessReview, an aggregation controller writing aggregated
// rules back, and reconciliation of changed bootstrap roles (Bootstrap only creates
// missing ones).
package rbac
