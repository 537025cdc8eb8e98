package registry

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"

	"github.com/keeldb/keel/orchestrator/api"
)

// The spec/status split is done on the JSON form, so it works for every kind: "status" is
// the status, and every top-level field but apiVersion, kind, metadata and status is spec.

func fields(obj any) (map[string]json.RawMessage, error) {
	b, err := json.Marshal(obj)
	if err != nil {
		return nil, err
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	return m, nil
}

func fromFields[P api.Object](m map[string]json.RawMessage, like P) (P, error) {
	b, err := json.Marshal(m)
	if err != nil {
		return like, err
	}
	out := reflect.New(reflect.TypeOf(like).Elem()).Interface().(P)
	if err := json.Unmarshal(b, out); err != nil {
		return like, fmt.Errorf("registry: merge: %w", err)
	}
	return out, nil
}

// mergeSpec returns update with cur's status.
func mergeSpec[P api.Object](cur, update P) (P, error) {
	m, err := fields(update)
	if err != nil {
		return update, err
	}
	c, err := fields(cur)
	if err != nil {
		return update, err
	}
	if st, ok := c["status"]; ok {
		m["status"] = st
	} else {
		delete(m, "status")
	}
	return fromFields(m, update)
}

// mergeStatus returns cur with update's status.
func mergeStatus[P api.Object](cur, update P) (P, error) {
	m, err := fields(cur)
	if err != nil {
		return cur, err
	}
	u, err := fields(update)
	if err != nil {
		return cur, err
	}
	if st, ok := u["status"]; ok {
		m["status"] = st
	} else {
		delete(m, "status")
	}
	return fromFields(m, cur)
}

// specChanged reports whether anything but metadata and status differs.
func specChanged[P api.Object](a, b P) (bool, error) {
	fa, err := fields(a)
	if err != nil {
		return false, err
	}
	fb, err := fields(b)
	if err != nil {
		return false, err
	}
	for _, m := range []map[string]json.RawMessage{fa, fb} {
		for _, k := range []string{"apiVersion", "kind", "metadata", "status"} {
			delete(m, k)
		}
	}
	if len(fa) != len(fb) {
		return true, nil
	}
	for k, v := range fa {
		if !bytes.Equal(v, fb[k]) {
			return true, nil
		}
	}
	return false, nil
}
