package api

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"sort"
	"strings"

	"sigs.k8s.io/yaml"
)

// DecodeManifests reads a multi-document YAML (or JSON) stream, as given to `apply -f`, and
// decodes each non-empty document with DecodeObject. Documents are separated by lines
// starting with "---". Errors name the document (1-based) and the field path.
func DecodeManifests(r io.Reader) ([]Object, error) {
	docs, err := splitYAML(r)
	if err != nil {
		return nil, err
	}
	var objs []Object
	for i, doc := range docs {
		if isBlankYAML(doc) {
			continue
		}
		js, err := yaml.YAMLToJSONStrict(doc)
		if err != nil {
			return nil, fmt.Errorf("api: document %d: %w", i+1, err)
		}
		obj, err := DecodeObject(js)
		if err != nil {
			return nil, fmt.Errorf("api: document %d: %w", i+1, err)
		}
		objs = append(objs, obj)
	}
	return objs, nil
}

// splitYAML splits a stream at "---" separator lines, like Kubernetes' YAMLReader.
func splitYAML(r io.Reader) ([][]byte, error) {
	var docs [][]byte
	var cur bytes.Buffer
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 16*1024*1024)
	for sc.Scan() {
		line := sc.Text()
		if line == "---" || strings.HasPrefix(line, "--- ") || strings.HasPrefix(line, "---\t") {
			docs = append(docs, bytes.Clone(cur.Bytes()))
			cur.Reset()
			continue
		}
		cur.WriteString(line)
		cur.WriteByte('\n')
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("api: read manifests: %w", err)
	}
	return append(docs, cur.Bytes()), nil
}

func isBlankYAML(doc []byte) bool {
	for _, line := range strings.Split(string(doc), "\n") {
		t := strings.TrimSpace(line)
		if t != "" && !strings.HasPrefix(t, "#") {
			return false
		}
	}
	return true
}

// DecodeObject decodes one JSON object strictly: apiVersion and kind must name a supported
// kind, and every field must be one Keel supports, or an ErrorList (matching ErrInvalid)
// names the offending field path. The object is then defaulted and validated.
func DecodeObject(js []byte) (Object, error) {
	var tm TypeMeta
	if err := json.Unmarshal(js, &tm); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if tm.Kind == "" {
		return nil, ErrorList{required("kind", "")}
	}
	res, ok := ResourceForKind(tm.Kind)
	if !ok {
		return nil, ErrorList{notSupported("kind", tm.Kind, kindNames()...)}
	}
	if tm.APIVersion != res.APIVersion {
		return nil, ErrorList{notSupported("apiVersion", tm.APIVersion, res.APIVersion)}
	}
	obj, _ := New(tm.Kind)
	if err := DecodeStrict(js, obj); err != nil {
		return nil, err
	}
	Default(obj)
	if errs := Validate(obj); len(errs) > 0 {
		return nil, errs
	}
	return obj, nil
}

func kindNames() []string {
	var ks []string
	for k := range kinds {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// DecodeStrict unmarshals js into out (a pointer), refusing unknown fields and wrong types
// with an ErrorList of field paths.
func DecodeStrict(js []byte, out any) error {
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.UseNumber()
	var generic any
	if err := dec.Decode(&generic); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	var errs ErrorList
	checkFields(generic, reflect.TypeOf(out), "", &errs)
	if len(errs) > 0 {
		return errs
	}
	strict := json.NewDecoder(bytes.NewReader(js))
	strict.DisallowUnknownFields()
	if err := strict.Decode(out); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return ErrorList{invalid(Path(te.Field), nil, "must be of type "+jsonTypeName(te.Type))}
		}
		var fe *FieldError
		if errors.As(err, &fe) {
			return ErrorList{fe}
		}
		return ErrorList{invalid("", nil, err.Error())}
	}
	return nil
}

func jsonTypeName(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "integer"
	case reflect.Float32, reflect.Float64:
		return "number"
	case reflect.Bool:
		return "boolean"
	case reflect.String:
		return "string"
	case reflect.Slice, reflect.Array:
		return "array"
	}
	return "object"
}

var unmarshalerType = reflect.TypeFor[json.Unmarshaler]()

// checkFields walks a decoded JSON value alongside the Go type it will be decoded into and
// reports every object key that has no matching json field.
func checkFields(v any, t reflect.Type, p Path, errs *ErrorList) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if reflect.PointerTo(t).Implements(unmarshalerType) {
		return
	}
	switch t.Kind() {
	case reflect.Struct:
		m, ok := v.(map[string]any)
		if !ok {
			return // type errors are reported by the decoder
		}
		fields := jsonFields(t)
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			ft, ok := fields[k]
			if !ok {
				*errs = append(*errs, &FieldError{Field: string(p.Child(k)), Type: ErrorUnknownField, Detail: "not supported by keel"})
				continue
			}
			checkFields(m[k], ft, p.Child(k), errs)
		}
	case reflect.Slice:
		if a, ok := v.([]any); ok {
			for i, e := range a {
				checkFields(e, t.Elem(), p.Index(i), errs)
			}
		}
	case reflect.Map:
		if m, ok := v.(map[string]any); ok {
			for _, k := range sortedKeys(m) {
				checkFields(m[k], t.Elem(), p.Key(k), errs)
			}
		}
	}
}

// jsonFields maps the JSON names of t's fields, inlining untagged embedded structs, to their
// types.
func jsonFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if name == "" && f.Anonymous && f.Type.Kind() == reflect.Struct {
			for k, v := range jsonFields(f.Type) {
				out[k] = v
			}
			continue
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out[name] = f.Type
	}
	return out
}
