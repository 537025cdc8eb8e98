package api

import (
	"bytes"
	"encoding/json"
	"errors"
)

// ManagedFieldsEntry records which fields one manager owns through one operation, as
// metav1.ManagedFieldsEntry: server-side apply keeps these in metadata.managedFields.
type ManagedFieldsEntry struct {
	// Manager is the field manager's name (a request's fieldManager or its user agent).
	Manager string `json:"manager,omitempty"`
	// Operation is "Apply" or "Update".
	Operation  string `json:"operation,omitempty"`
	APIVersion string `json:"apiVersion,omitempty"`
	Time       *Time  `json:"time,omitempty"`
	// FieldsType is "FieldsV1", the format of FieldsV1.
	FieldsType string    `json:"fieldsType,omitempty"`
	FieldsV1   *FieldsV1 `json:"fieldsV1,omitempty"`
	// Subresource is the subresource the write went through ("" for the object itself).
	Subresource string `json:"subresource,omitempty"`
}

// FieldsV1 is a set of field paths in Kubernetes' FieldsV1 JSON form, kept as raw JSON.
type FieldsV1 struct{ Raw []byte }

// MarshalJSON implements json.Marshaler.
func (f FieldsV1) MarshalJSON() ([]byte, error) {
	if len(f.Raw) == 0 {
		return []byte("null"), nil
	}
	return f.Raw, nil
}

// UnmarshalJSON implements json.Unmarshaler.
func (f *FieldsV1) UnmarshalJSON(b []byte) error {
	if f == nil {
		return errors.New("api: FieldsV1 on a nil pointer")
	}
	if !bytes.Equal(b, []byte("null")) {
		f.Raw = append(f.Raw[:0], b...)
	}
	return nil
}

var _ json.Marshaler = FieldsV1{}
