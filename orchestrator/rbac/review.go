package rbac

import (
	"context"
	"slices"

	authorizationv1 "k8s.io/api/authorization/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/keeldb/keel/orchestrator/authz"
)

// AuthorizationGroup is the API group of the access reviews.
const AuthorizationGroup = "authorization.k8s.io"

// Review answers a SelfSubjectAccessReview (POST
// /apis/authorization.k8s.io/v1/selfsubjectaccessreviews, `kubectl auth can-i`): may user
// do what spec describes? The status is Kubernetes': allowed with reason `RBAC: allowed by
// ...`, or not allowed with an empty reason (RBAC has no opinion; `kubectl auth can-i`
// prints "no") or the RBAC errors met; denied is never set, as RBAC never denies. A spec
// without exactly one of resourceAttributes and nonResourceAttributes is a 422 Invalid
// error (*apierrors.StatusError) with Kubernetes' field causes.
func Review(ctx context.Context, a *Authorizer, user authz.UserInfo, spec authorizationv1.SelfSubjectAccessReviewSpec) (authorizationv1.SubjectAccessReviewStatus, error) {
	errs := validateAttributes(spec.ResourceAttributes, spec.NonResourceAttributes)
	if len(errs) > 0 {
		return authorizationv1.SubjectAccessReviewStatus{}, apierrors.NewInvalid(schema.GroupKind{Group: AuthorizationGroup, Kind: "SelfSubjectAccessReview"}, "", errs)
	}
	return review(ctx, a, reviewAttributes(user, spec.ResourceAttributes, spec.NonResourceAttributes)), nil
}

// ReviewSubject answers a SubjectAccessReview (an administrator asking about another
// user, named with the groups in spec), as Review.
func ReviewSubject(ctx context.Context, a *Authorizer, spec authorizationv1.SubjectAccessReviewSpec) (authorizationv1.SubjectAccessReviewStatus, error) {
	errs := validateAttributes(spec.ResourceAttributes, spec.NonResourceAttributes)
	if spec.User == "" && len(spec.Groups) == 0 {
		errs = append(errs, field.Invalid(field.NewPath("spec", "user"), spec.User, "at least one of user or group must be specified"))
	}
	if len(errs) > 0 {
		return authorizationv1.SubjectAccessReviewStatus{}, apierrors.NewInvalid(schema.GroupKind{Group: AuthorizationGroup, Kind: "SubjectAccessReview"}, "", errs)
	}
	user := authz.UserInfo{Name: spec.User, UID: spec.UID, Groups: spec.Groups}
	return review(ctx, a, reviewAttributes(user, spec.ResourceAttributes, spec.NonResourceAttributes)), nil
}

func validateAttributes(ra *authorizationv1.ResourceAttributes, nra *authorizationv1.NonResourceAttributes) field.ErrorList {
	p := field.NewPath("spec")
	switch {
	case ra != nil && nra != nil:
		return field.ErrorList{field.Invalid(p.Child("nonResourceAttributes"), nra, "cannot be specified in combination with resourceAttributes")}
	case ra == nil && nra == nil:
		return field.ErrorList{field.Invalid(p.Child("resourceAttributes"), ra, "exactly one of nonResourceAttributes or resourceAttributes must be specified")}
	}
	return nil
}

func reviewAttributes(user authz.UserInfo, ra *authorizationv1.ResourceAttributes, nra *authorizationv1.NonResourceAttributes) authz.Attributes {
	if ra != nil {
		return authz.Attributes{User: user, Verb: ra.Verb, ResourceRequest: true, APIGroup: ra.Group, APIVersion: ra.Version,
			Resource: ra.Resource, Subresource: ra.Subresource, Namespace: ra.Namespace, Name: ra.Name}
	}
	return authz.Attributes{User: user, Verb: nra.Verb, Path: nra.Path}
}

func review(_ context.Context, a *Authorizer, attrs authz.Attributes) authorizationv1.SubjectAccessReviewStatus {
	if slices.Contains(attrs.User.Groups, authz.SystemPrivilegedGrp) {
		return authorizationv1.SubjectAccessReviewStatus{Allowed: true}
	}
	if !a.HasSynced() {
		return authorizationv1.SubjectAccessReviewStatus{EvaluationError: ErrNotSynced.Error()}
	}
	r := Evaluate(a.Policy(), attrs)
	if r.Allowed {
		return authorizationv1.SubjectAccessReviewStatus{Allowed: true, Reason: "RBAC: allowed by " + r.By}
	}
	var st authorizationv1.SubjectAccessReviewStatus
	if len(r.Errors) > 0 {
		st.Reason = errorsReason(r.Errors)
	}
	return st
}

// RulesReview answers a SelfSubjectRulesReview (`kubectl auth can-i --list`): the rules user
// holds in spec.namespace (through ClusterRoleBindings and that namespace's RoleBindings).
// Members of system:masters hold "*" on everything. Roles that cannot be resolved are
// reported in evaluationError with incomplete set. A spec without a namespace is a 400
// BadRequest, as Kubernetes'.
func RulesReview(_ context.Context, a *Authorizer, user authz.UserInfo, spec authorizationv1.SelfSubjectRulesReviewSpec) (authorizationv1.SubjectRulesReviewStatus, error) {
	if spec.Namespace == "" {
		return authorizationv1.SubjectRulesReviewStatus{}, apierrors.NewBadRequest("no namespace on request")
	}
	all := []string{"*"}
	st := authorizationv1.SubjectRulesReviewStatus{ResourceRules: []authorizationv1.ResourceRule{}, NonResourceRules: []authorizationv1.NonResourceRule{}}
	if slices.Contains(user.Groups, authz.SystemPrivilegedGrp) {
		st.ResourceRules = append(st.ResourceRules, authorizationv1.ResourceRule{Verbs: all, APIGroups: all, Resources: all})
		st.NonResourceRules = append(st.NonResourceRules, authorizationv1.NonResourceRule{Verbs: all, NonResourceURLs: all})
	}
	if !a.HasSynced() {
		st.Incomplete, st.EvaluationError = true, ErrNotSynced.Error()
		return st, nil
	}
	rules, errs := rulesFor(a.Policy(), user, spec.Namespace)
	for _, r := range rules {
		if len(r.NonResourceURLs) > 0 {
			st.NonResourceRules = append(st.NonResourceRules, authorizationv1.NonResourceRule{Verbs: r.Verbs, NonResourceURLs: r.NonResourceURLs})
			continue
		}
		st.ResourceRules = append(st.ResourceRules, authorizationv1.ResourceRule{Verbs: r.Verbs, APIGroups: r.APIGroups, Resources: r.Resources, ResourceNames: r.ResourceNames})
	}
	if len(errs) > 0 {
		st.Incomplete, st.EvaluationError = true, utilerrors.NewAggregate(errs).Error()
	}
	return st, nil
}
