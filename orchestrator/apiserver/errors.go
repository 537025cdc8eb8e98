package apiserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/keeldb/keel/orchestrator/api"
	"github.com/keeldb/keel/orchestrator/registry"
)

// statusError is an error answered as a metav1.Status.
type statusError struct{ s metav1.Status }

func (e *statusError) Error() string { return e.s.Message }

func newStatus(code int32, reason metav1.StatusReason, msg string) *statusError {
	return &statusError{metav1.Status{
		TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"},
		Status:   metav1.StatusFailure, Code: code, Reason: reason, Message: msg,
	}}
}

// qualifiedResource is Kubernetes' "resource.group" of error messages ("deployments.apps").
func qualifiedResource(r api.Resource) string {
	if g := groupOf(r.APIVersion); g != "" {
		return r.Name + "." + g
	}
	return r.Name
}

func withDetails(e *statusError, r api.Resource, name string) *statusError {
	e.s.Details = &metav1.StatusDetails{Name: name, Group: groupOf(r.APIVersion), Kind: r.Name}
	return e
}

func errNotFound(r api.Resource, name string) *statusError {
	return withDetails(newStatus(http.StatusNotFound, metav1.StatusReasonNotFound,
		fmt.Sprintf("%s %q not found", qualifiedResource(r), name)), r, name)
}

func errAlreadyExists(r api.Resource, name string) *statusError {
	return withDetails(newStatus(http.StatusConflict, metav1.StatusReasonAlreadyExists,
		fmt.Sprintf("%s %q already exists", qualifiedResource(r), name)), r, name)
}

func errConflict(r api.Resource, name string) *statusError {
	return withDetails(newStatus(http.StatusConflict, metav1.StatusReasonConflict,
		fmt.Sprintf("Operation cannot be fulfilled on %s %q: the object has been modified; please apply your changes to the latest version and try again", qualifiedResource(r), name)), r, name)
}

func errBadRequest(format string, args ...any) *statusError {
	return newStatus(http.StatusBadRequest, metav1.StatusReasonBadRequest, fmt.Sprintf(format, args...))
}

func errMethodNotAllowed(method string) *statusError {
	return newStatus(http.StatusMethodNotAllowed, metav1.StatusReasonMethodNotAllowed,
		fmt.Sprintf("the server does not allow this method on the requested resource (%s)", method))
}

func errGone(msg string) *statusError {
	return newStatus(http.StatusGone, metav1.StatusReasonExpired, msg)
}

// errInvalid is Kubernetes' 422 Invalid with one cause per field error.
func errInvalid(r api.Resource, name string, errs api.ErrorList) *statusError {
	parts := make([]string, len(errs))
	causes := make([]metav1.StatusCause, len(errs))
	for i, fe := range errs {
		parts[i] = fe.Error()
		causes[i] = metav1.StatusCause{Type: fieldCauseType(fe.Type), Message: strings.TrimPrefix(fe.Error(), fe.Field+": "), Field: fe.Field}
	}
	msg := fmt.Sprintf("%s %q is invalid: ", r.Kind, name)
	if len(parts) == 1 {
		msg += parts[0]
	} else {
		msg += "[" + strings.Join(parts, ", ") + "]"
	}
	e := withDetails(newStatus(http.StatusUnprocessableEntity, metav1.StatusReasonInvalid, msg), r, name)
	e.s.Details.Kind = r.Kind
	e.s.Details.Causes = causes
	return e
}

func fieldCauseType(t string) metav1.CauseType {
	switch t {
	case api.ErrorRequired:
		return metav1.CauseTypeFieldValueRequired
	case api.ErrorNotSupported:
		return metav1.CauseTypeFieldValueNotSupported
	case api.ErrorDuplicate:
		return metav1.CauseTypeFieldValueDuplicate
	case api.ErrorUnknownField:
		return metav1.CauseTypeFieldValueNotFound
	case api.ErrorForbidden:
		return metav1.CauseType("FieldValueForbidden")
	case api.ErrorTooLong:
		return metav1.CauseType("FieldValueTooLong")
	}
	return metav1.CauseTypeFieldValueInvalid
}

// toStatus maps a registry or handler error to the Status Kubernetes answers.
func toStatus(err error, r api.Resource, name string) *statusError {
	var se *statusError
	var errs api.ErrorList
	var as interface{ Status() metav1.Status } // apimachinery's StatusError
	switch {
	case errors.As(err, &se):
		return se
	case errors.As(err, &as):
		st := as.Status()
		st.TypeMeta = metav1.TypeMeta{Kind: "Status", APIVersion: "v1"}
		return &statusError{st}
	case errors.Is(err, registry.ErrNotFound):
		return errNotFound(r, name)
	case errors.Is(err, registry.ErrAlreadyExists):
		return errAlreadyExists(r, name)
	case errors.Is(err, registry.ErrConflict):
		return errConflict(r, name)
	case errors.Is(err, registry.ErrExpired):
		return errGone("The resourceVersion for the provided list is too old.")
	case errors.As(err, &errs):
		return errInvalid(r, name, errs)
	case errors.Is(err, api.ErrInvalid):
		return errBadRequest("%v", err)
	case errors.Is(err, context.DeadlineExceeded):
		return newStatus(http.StatusGatewayTimeout, metav1.StatusReasonTimeout, err.Error())
	}
	return newStatus(http.StatusInternalServerError, metav1.StatusReasonInternalError,
		fmt.Sprintf("Internal error occurred: %v", err))
}

func writeStatus(w http.ResponseWriter, e *statusError) {
	writeJSON(w, int(e.s.Code), &e.s)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		code, b = http.StatusInternalServerError, []byte(`{"kind":"Status","apiVersion":"v1","status":"Failure","code":500,"reason":"InternalError"}`)
	}
	if w.Header().Get("Content-Type") == "" {
		w.Header().Set("Content-Type", "application/json")
	}
	w.WriteHeader(code)
	_, _ = w.Write(b)
}

// groupOf returns the group of an apiVersion ("" for "v1").
func groupOf(apiVersion string) string {
	g, _, ok := strings.Cut(apiVersion, "/")
	if !ok {
		return ""
	}
	return g
}

// versionOf returns the version of an apiVersion.
func versionOf(apiVersion string) string {
	if _, v, ok := strings.Cut(apiVersion, "/"); ok {
		return v
	}
	return apiVersion
}

func typesUID(s string) types.UID { return types.UID(s) }
