package api

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/keeldb/keel/orchestrator/labels"
)

// TypeMeta carries apiVersion and kind.
type TypeMeta struct {
	APIVersion string `json:"apiVersion,omitempty"`
	Kind       string `json:"kind,omitempty"`
}

// TypeInfo returns the TypeMeta itself (it lets Object reach it through embedding).
func (t *TypeMeta) TypeInfo() *TypeMeta { return t }

// ObjectMeta is the metadata every object carries.
type ObjectMeta struct {
	Name      string `json:"name,omitempty"`
	Namespace string `json:"namespace,omitempty"`
	// GenerateName, when Name is empty, is a prefix to which the registry appends a random
	// suffix on create.
	GenerateName string `json:"generateName,omitempty"`
	UID          string `json:"uid,omitempty"`
	// ResourceVersion is the key's mod_revision as a decimal string; set by the registry.
	ResourceVersion string `json:"resourceVersion,omitempty"`
	// Generation counts spec changes; set by the registry.
	Generation                 int64             `json:"generation,omitempty"`
	CreationTimestamp          Time              `json:"creationTimestamp,omitzero"`
	DeletionTimestamp          *Time             `json:"deletionTimestamp,omitempty"`
	DeletionGracePeriodSeconds *int64            `json:"deletionGracePeriodSeconds,omitempty"`
	Labels                     map[string]string `json:"labels,omitempty"`
	Annotations                map[string]string `json:"annotations,omitempty"`
	OwnerReferences            []OwnerReference  `json:"ownerReferences,omitempty"`
	Finalizers                 []string          `json:"finalizers,omitempty"`
	// ManagedFields records the field managers of server-side apply; the apiserver keeps it,
	// other writers carry it along unchanged.
	ManagedFields []ManagedFieldsEntry `json:"managedFields,omitempty"`
}

// Meta returns the ObjectMeta itself (it lets Object reach it through embedding).
func (m *ObjectMeta) Meta() *ObjectMeta { return m }

// OwnerReference points at the object that owns this one.
type OwnerReference struct {
	APIVersion         string `json:"apiVersion"`
	Kind               string `json:"kind"`
	Name               string `json:"name"`
	UID                string `json:"uid"`
	Controller         *bool  `json:"controller,omitempty"`
	BlockOwnerDeletion *bool  `json:"blockOwnerDeletion,omitempty"`
}

// ControllerRef returns the owner reference marked controller, or nil.
func (m *ObjectMeta) ControllerRef() *OwnerReference {
	for i := range m.OwnerReferences {
		if c := m.OwnerReferences[i].Controller; c != nil && *c {
			return &m.OwnerReferences[i]
		}
	}
	return nil
}

// Time is a timestamp serialised as RFC 3339 with second precision, like metav1.Time.
type Time struct{ time.Time }

// NewTime returns t truncated to seconds, in UTC.
func NewTime(t time.Time) Time { return Time{t.UTC().Truncate(time.Second)} }

// MarshalJSON implements json.Marshaler.
func (t Time) MarshalJSON() ([]byte, error) {
	if t.IsZero() {
		return []byte("null"), nil
	}
	return json.Marshal(t.UTC().Format(time.RFC3339))
}

// UnmarshalJSON implements json.Unmarshaler.
func (t *Time) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*t = Time{}
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("api: time must be an RFC 3339 string")
	}
	pt, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return fmt.Errorf("api: time must be an RFC 3339 string: %w", err)
	}
	*t = Time{pt.UTC()}
	return nil
}

// MicroTime is a timestamp serialised with microsecond precision, like metav1.MicroTime.
type MicroTime struct{ time.Time }

const microFormat = "2006-01-02T15:04:05.000000Z07:00"

// MarshalJSON implements json.Marshaler.
func (t MicroTime) MarshalJSON() ([]byte, error) {
	if t.IsZero() {
		return []byte("null"), nil
	}
	return json.Marshal(t.UTC().Format(microFormat))
}

// UnmarshalJSON implements json.Unmarshaler.
func (t *MicroTime) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*t = MicroTime{}
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("api: time must be an RFC 3339 string")
	}
	pt, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return fmt.Errorf("api: time must be an RFC 3339 string: %w", err)
	}
	*t = MicroTime{pt.UTC()}
	return nil
}

// LabelSelector is the API form of a label selector. A nil *LabelSelector selects nothing;
// an empty one selects everything.
type LabelSelector struct {
	MatchLabels      map[string]string          `json:"matchLabels,omitempty"`
	MatchExpressions []LabelSelectorRequirement `json:"matchExpressions,omitempty"`
}

// LabelSelectorRequirement is one matchExpressions entry.
type LabelSelectorRequirement struct {
	Key      string   `json:"key"`
	Operator string   `json:"operator"` // In, NotIn, Exists, DoesNotExist
	Values   []string `json:"values,omitempty"`
}

var selectorOps = map[string]labels.Operator{
	"In": labels.In, "NotIn": labels.NotIn, "Exists": labels.Exists, "DoesNotExist": labels.DoesNotExist,
}

// Selector converts ls to a labels.Selector (Nothing for nil).
func (ls *LabelSelector) Selector() (labels.Selector, error) {
	if ls == nil {
		return labels.Nothing(), nil
	}
	var reqs []labels.Requirement
	for k, v := range ls.MatchLabels {
		r, err := labels.NewRequirement(k, labels.Equals, []string{v})
		if err != nil {
			return labels.Selector{}, err
		}
		reqs = append(reqs, r)
	}
	for _, e := range ls.MatchExpressions {
		op, ok := selectorOps[e.Operator]
		if !ok {
			return labels.Selector{}, fmt.Errorf("api: unsupported selector operator %q", e.Operator)
		}
		r, err := labels.NewRequirement(e.Key, op, e.Values)
		if err != nil {
			return labels.Selector{}, err
		}
		reqs = append(reqs, r)
	}
	return labels.NewSelector(reqs...), nil
}

// Condition status values.
const (
	ConditionTrue    = "True"
	ConditionFalse   = "False"
	ConditionUnknown = "Unknown"
)
