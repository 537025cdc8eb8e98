package api

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// ErrInvalid is matched (errors.Is) by every ErrorList: the object failed decoding or
// validation.
var ErrInvalid = errors.New("api: invalid object")

// Field error types, with Kubernetes' wording.
const (
	ErrorRequired     = "Required value"
	ErrorInvalid      = "Invalid value"
	ErrorNotSupported = "Unsupported value"
	ErrorUnknownField = "Unsupported field"
	ErrorDuplicate    = "Duplicate value"
	ErrorForbidden    = "Forbidden"
	ErrorTooLong      = "Too long"
)

// FieldError is one problem at a JSON field path such as
// "spec.template.spec.containers[0].image".
type FieldError struct {
	Field  string
	Type   string
	Value  any
	Detail string
}

// Error renders "field: Type: value: detail".
func (e *FieldError) Error() string {
	var b strings.Builder
	b.WriteString(e.Field)
	b.WriteString(": ")
	b.WriteString(e.Type)
	if e.Value != nil {
		fmt.Fprintf(&b, ": %q", fmt.Sprint(e.Value))
	}
	if e.Detail != "" {
		b.WriteString(": ")
		b.WriteString(e.Detail)
	}
	return b.String()
}

// ErrorList is a list of field errors; it is an error when non-empty.
type ErrorList []*FieldError

// Error joins the field errors with "; ".
func (l ErrorList) Error() string {
	parts := make([]string, len(l))
	for i, e := range l {
		parts[i] = e.Error()
	}
	return strings.Join(parts, "; ")
}

// Is makes errors.Is(l, ErrInvalid) true.
func (l ErrorList) Is(target error) bool { return target == ErrInvalid }

// Err returns l as an error, or nil when l is empty.
func (l ErrorList) Err() error {
	if len(l) == 0 {
		return nil
	}
	return l
}

// Path builds field paths.
type Path string

// Child returns p.name.
func (p Path) Child(name string) Path {
	if p == "" {
		return Path(name)
	}
	return p + "." + Path(name)
}

// Index returns p[i].
func (p Path) Index(i int) Path { return p + "[" + Path(strconv.Itoa(i)) + "]" }

// Key returns p[key].
func (p Path) Key(k string) Path { return p + "[" + Path(k) + "]" }

func required(p Path, detail string) *FieldError {
	return &FieldError{Field: string(p), Type: ErrorRequired, Detail: detail}
}

func invalid(p Path, v any, detail string) *FieldError {
	return &FieldError{Field: string(p), Type: ErrorInvalid, Value: v, Detail: detail}
}

func notSupported(p Path, v any, valid ...string) *FieldError {
	d := ""
	if len(valid) > 0 {
		d = "supported values: \"" + strings.Join(valid, "\", \"") + "\""
	}
	return &FieldError{Field: string(p), Type: ErrorNotSupported, Value: v, Detail: d}
}

func forbidden(p Path, detail string) *FieldError {
	return &FieldError{Field: string(p), Type: ErrorForbidden, Detail: detail}
}
