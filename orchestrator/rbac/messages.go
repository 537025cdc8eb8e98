package rbac

import (
	"errors"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"

	"github.com/keeldb/keel/orchestrator/authz"
)

// ForbiddenReason returns Kubernetes' explanation of a refused request, without the
// resource prefix:
//
//	User "alice" cannot delete resource "pods" in API group "" in the namespace "default"
//	User "alice" cannot list resource "nodes" in API group "" at the cluster scope
//	User "alice" cannot get path "/metrics"
func ForbiddenReason(a authz.Attributes) string {
	if !a.ResourceRequest {
		return fmt.Sprintf("User %q cannot %s path %q", a.User.Name, a.Verb, a.Path)
	}
	res := a.Resource
	if a.Subresource != "" {
		res += "/" + a.Subresource
	}
	if a.Namespace != "" {
		return fmt.Sprintf("User %q cannot %s resource %q in API group %q in the namespace %q", a.User.Name, a.Verb, res, a.APIGroup, a.Namespace)
	}
	return fmt.Sprintf("User %q cannot %s resource %q in API group %q at the cluster scope", a.User.Name, a.Verb, res, a.APIGroup)
}

// denialReason is ForbiddenReason followed by the RBAC evaluation's errors, if any, as
// Kubernetes appends its authorizer's reason: `...: RBAC: clusterrole... "x" not found`.
func denialReason(a authz.Attributes, errs []error) string {
	r := ForbiddenReason(a)
	if len(errs) > 0 {
		r += ": " + errorsReason(errs)
	}
	return r
}

// errorsReason is Kubernetes' RBAC reason of evaluation errors: "RBAC: " and the errors
// ("[a, b]" when several).
func errorsReason(errs []error) string {
	return "RBAC: " + utilerrors.NewAggregate(errs).Error()
}

// ForbiddenError returns the Forbidden status error of a refused request, given the reason
// the Authorizer returned: its message is Kubernetes' whole text, e.g.
//
//	pods "x" is forbidden: User "alice" cannot delete resource "pods" in API group "" in the namespace "default"
//	deployments.apps is forbidden: User "alice" cannot list resource "deployments" in API group "apps" in the namespace "default"
//	forbidden: User "alice" cannot get path "/metrics"
//
// An empty reason is replaced by ForbiddenReason(a).
func ForbiddenError(a authz.Attributes, reason string) *apierrors.StatusError {
	if reason == "" {
		reason = ForbiddenReason(a)
	}
	var gr schema.GroupResource
	if a.ResourceRequest {
		gr = schema.GroupResource{Group: a.APIGroup, Resource: a.Resource}
	}
	return apierrors.NewForbidden(gr, a.Name, errors.New(reason))
}

// ForbiddenMessage returns ForbiddenError(a, reason)'s message.
func ForbiddenMessage(a authz.Attributes, reason string) string {
	return ForbiddenError(a, reason).Error()
}
