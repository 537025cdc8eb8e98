package labels

import (
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// Operator is a requirement's operator.
type Operator string

// The operators of label requirements.
const (
	Equals       Operator = "="
	NotEquals    Operator = "!="
	In           Operator = "in"
	NotIn        Operator = "notin"
	Exists       Operator = "exists"
	DoesNotExist Operator = "!"
	GreaterThan  Operator = "gt"
	LessThan     Operator = "lt"
)

// Requirement is one condition on a label key.
type Requirement struct {
	Key      string
	Operator Operator
	// Values holds one value for =, !=, gt and lt, one or more for in and notin, none for
	// exists and does-not-exist.
	Values []string
}

// Selector is a conjunction of requirements. The zero value matches everything.
type Selector struct {
	reqs    []Requirement
	nothing bool
}

// Everything returns the selector that matches every label set.
func Everything() Selector { return Selector{} }

// Nothing returns the selector that matches no label set.
func Nothing() Selector { return Selector{nothing: true} }

// NewRequirement validates and returns a requirement.
func NewRequirement(key string, op Operator, values []string) (Requirement, error) {
	if err := ValidateKey(key); err != nil {
		return Requirement{}, err
	}
	switch op {
	case Equals, NotEquals:
		if len(values) != 1 {
			return Requirement{}, fmt.Errorf("labels: %s needs exactly one value for key %q", op, key)
		}
	case In, NotIn:
		if len(values) == 0 {
			return Requirement{}, fmt.Errorf("labels: %s needs at least one value for key %q", op, key)
		}
	case Exists, DoesNotExist:
		if len(values) != 0 {
			return Requirement{}, fmt.Errorf("labels: %s takes no values for key %q", op, key)
		}
	case GreaterThan, LessThan:
		if len(values) != 1 {
			return Requirement{}, fmt.Errorf("labels: %s needs exactly one value for key %q", op, key)
		}
		if _, err := strconv.ParseInt(values[0], 10, 64); err != nil {
			return Requirement{}, fmt.Errorf("labels: %s needs an integer value for key %q", op, key)
		}
		return Requirement{Key: key, Operator: op, Values: slices.Clone(values)}, nil
	default:
		return Requirement{}, fmt.Errorf("labels: unknown operator %q", op)
	}
	for _, v := range values {
		if err := ValidateValue(v); err != nil {
			return Requirement{}, err
		}
	}
	vs := slices.Clone(values)
	sort.Strings(vs)
	return Requirement{Key: key, Operator: op, Values: slices.Compact(vs)}, nil
}

// Matches reports whether the label set satisfies the requirement.
func (r Requirement) Matches(ls map[string]string) bool {
	v, ok := ls[r.Key]
	switch r.Operator {
	case Equals, In:
		return ok && slices.Contains(r.Values, v)
	case NotEquals, NotIn:
		return !ok || !slices.Contains(r.Values, v)
	case Exists:
		return ok
	case DoesNotExist:
		return !ok
	case GreaterThan, LessThan:
		if !ok {
			return false
		}
		have, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return false
		}
		want, _ := strconv.ParseInt(r.Values[0], 10, 64)
		if r.Operator == GreaterThan {
			return have > want
		}
		return have < want
	}
	return false
}

// String renders the requirement in the `-l` syntax.
func (r Requirement) String() string {
	switch r.Operator {
	case Exists:
		return r.Key
	case DoesNotExist:
		return "!" + r.Key
	case In, NotIn:
		return r.Key + " " + string(r.Operator) + " (" + strings.Join(r.Values, ",") + ")"
	case GreaterThan:
		return r.Key + ">" + r.Values[0]
	case LessThan:
		return r.Key + "<" + r.Values[0]
	}
	return r.Key + string(r.Operator) + r.Values[0]
}

// NewSelector returns the conjunction of reqs, sorted by key for a stable String.
func NewSelector(reqs ...Requirement) Selector {
	rs := slices.Clone(reqs)
	sort.SliceStable(rs, func(i, j int) bool { return rs[i].Key < rs[j].Key })
	return Selector{reqs: rs}
}

// SelectorFromSet returns the selector requiring every key=value of set.
func SelectorFromSet(set map[string]string) Selector {
	reqs := make([]Requirement, 0, len(set))
	for k, v := range set {
		reqs = append(reqs, Requirement{Key: k, Operator: Equals, Values: []string{v}})
	}
	return NewSelector(reqs...)
}

// Add returns a selector with reqs added.
func (s Selector) Add(reqs ...Requirement) Selector {
	if s.nothing {
		return s
	}
	return NewSelector(append(slices.Clone(s.reqs), reqs...)...)
}

// Requirements returns a copy of the requirements.
func (s Selector) Requirements() []Requirement { return slices.Clone(s.reqs) }

// Empty reports whether the selector matches everything.
func (s Selector) Empty() bool { return !s.nothing && len(s.reqs) == 0 }

// Matches reports whether ls satisfies every requirement.
func (s Selector) Matches(ls map[string]string) bool {
	if s.nothing {
		return false
	}
	for _, r := range s.reqs {
		if !r.Matches(ls) {
			return false
		}
	}
	return true
}

// String renders the selector in the `-l` syntax; Parse(s.String()) equals s.
func (s Selector) String() string {
	parts := make([]string, len(s.reqs))
	for i, r := range s.reqs {
		parts[i] = r.String()
	}
	return strings.Join(parts, ",")
}

var (
	nameRe   = regexp.MustCompile(`^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$`)
	prefixRe = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)
)

// ValidateKey checks a qualified name: an optional DNS-subdomain prefix (≤ 253) and "/",
// then a name of ≤ 63 alphanumerics, '-', '_' or '.', starting and ending alphanumeric.
func ValidateKey(key string) error {
	name := key
	if i := strings.LastIndexByte(key, '/'); i >= 0 {
		prefix := key[:i]
		name = key[i+1:]
		if prefix == "" || len(prefix) > 253 || !prefixRe.MatchString(prefix) {
			return fmt.Errorf("labels: invalid key %q: prefix must be a DNS subdomain", key)
		}
	}
	if name == "" || len(name) > 63 || !nameRe.MatchString(name) {
		return fmt.Errorf("labels: invalid key %q: name part must be 1-63 alphanumerics, '-', '_' or '.', starting and ending alphanumeric", key)
	}
	return nil
}

// ValidateValue checks a label value: empty, or ≤ 63 alphanumerics, '-', '_' or '.',
// starting and ending alphanumeric.
func ValidateValue(v string) error {
	if v == "" {
		return nil
	}
	if len(v) > 63 || !nameRe.MatchString(v) {
		return fmt.Errorf("labels: invalid value %q: must be at most 63 alphanumerics, '-', '_' or '.', starting and ending alphanumeric", v)
	}
	return nil
}
