// Package authz holds the request attributes `orch apiserver` authorizes and the interface its
// authorizers implement (RBAC, package orchestrator/rbac). It mirrors the shape of
// k8s.io/apiserver's authorizer.Attributes without depending on that module.
package authz

import "context"

// UserInfo is an authenticated user: from a client certificate (CN = Name, O = Groups) or a
// token file line.
type UserInfo struct {
	Name   string
	UID    string
	Groups []string
}

// Well-known users and groups, as Kubernetes names them.
const (
	Anonymous           = "system:anonymous"
	AllUnauthenticated  = "system:unauthenticated"
	AllAuthenticated    = "system:authenticated"
	SystemPrivilegedGrp = "system:masters"
)

// Attributes describe one request to authorize.
type Attributes struct {
	User UserInfo
	// Verb is the API verb: get, list, watch, create, update, patch, delete,
	// deletecollection; or the lowercase HTTP method for a non-resource request.
	Verb string
	// ResourceRequest tells a request for an API object from one for a non-resource path
	// (/version, /healthz, /api, /openapi/v3).
	ResourceRequest bool
	APIGroup        string // "" for the core group
	APIVersion      string
	Resource        string // plural, "pods"
	Subresource     string // "status", "scale", "log", "eviction", ...
	Namespace       string
	Name            string
	Path            string // the URL path of a non-resource request
}

// Decision is an authorizer's answer.
type Decision int

const (
	// DecisionNoOpinion means the authorizer neither allows nor denies; the request is
	// forbidden unless another authorizer allows it.
	DecisionNoOpinion Decision = iota
	DecisionAllow
	DecisionDeny
)

// Authorizer decides whether a request is allowed. The reason explains a Forbidden answer.
type Authorizer interface {
	Authorize(ctx context.Context, a Attributes) (d Decision, reason string, err error)
}

// AlwaysAllow allows every request.
type AlwaysAllow struct{}

// Authorize allows a.
func (AlwaysAllow) Authorize(context.Context, Attributes) (Decision, string, error) {
	return DecisionAllow, "", nil
}
