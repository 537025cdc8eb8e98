package api

import (
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"regexp"
	"strconv"
	"strings"
)

// Quantity is a resource amount in Kubernetes' notation ("100m", "0.5", "128Mi", "1G",
// "1e3"), kept as written. In JSON it is a string; a bare number is accepted on input.
type Quantity string

// ResourceList maps a resource name ("cpu", "memory", "pods", ...) to a quantity.
type ResourceList map[string]Quantity

var quantityRe = regexp.MustCompile(`^([+-]?[0-9]+(?:\.[0-9]*)?|[+-]?\.[0-9]+)(Ki|Mi|Gi|Ti|Pi|Ei|m|k|M|G|T|P|E|[eE][+-]?[0-9]+)?$`)

var binarySuffix = map[string]int64{"Ki": 1 << 10, "Mi": 1 << 20, "Gi": 1 << 30, "Ti": 1 << 40, "Pi": 1 << 50, "Ei": 1 << 60}
var decimalExp = map[string]int{"m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}

// ParseQuantity checks q and returns its value in thousandths (so "100m" is 100 and "2" is
// 2000), rounded up, like resource.Quantity.MilliValue.
func ParseQuantity(q string) (int64, error) {
	m := quantityRe.FindStringSubmatch(q)
	if m == nil {
		return 0, fmt.Errorf("api: quantity %q must match the regular expression %s", q, quantityRe)
	}
	num, ok := new(big.Rat).SetString(m[1])
	if !ok {
		return 0, fmt.Errorf("api: invalid quantity %q", q)
	}
	suffix := m[2]
	switch {
	case binarySuffix[suffix] != 0:
		num.Mul(num, new(big.Rat).SetInt64(binarySuffix[suffix]))
	case len(suffix) > 1 && (suffix[0] == 'e' || suffix[0] == 'E'):
		exp, err := strconv.Atoi(suffix[1:])
		if err != nil || exp > 30 || exp < -30 {
			return 0, fmt.Errorf("api: invalid quantity exponent in %q", q)
		}
		num.Mul(num, pow10(exp))
	default:
		num.Mul(num, pow10(decimalExp[suffix]))
	}
	num.Mul(num, big.NewRat(1000, 1))
	// round up to an integer number of thousandths
	i := new(big.Int).Quo(num.Num(), num.Denom())
	if new(big.Rat).SetInt(i).Cmp(num) < 0 {
		i.Add(i, big.NewInt(1))
	}
	if !i.IsInt64() || i.Int64() > math.MaxInt64/2 {
		return 0, fmt.Errorf("api: quantity %q is too large", q)
	}
	return i.Int64(), nil
}

func pow10(e int) *big.Rat {
	r := new(big.Rat).SetInt(new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(abs(e))), nil))
	if e < 0 {
		r.Inv(r)
	}
	return r
}

func abs(e int) int {
	if e < 0 {
		return -e
	}
	return e
}

// MilliValue returns the quantity in thousandths, or 0 when it does not parse.
func (q Quantity) MilliValue() int64 {
	v, _ := ParseQuantity(string(q))
	return v
}

// Value returns the quantity rounded up to an integer, or 0 when it does not parse.
func (q Quantity) Value() int64 {
	v := q.MilliValue()
	return (v + 999) / 1000
}

// UnmarshalJSON accepts a string or a number.
func (q *Quantity) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		*q = Quantity(s)
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("api: quantity must be a string or a number")
	}
	*q = Quantity(n.String())
	return nil
}

// IntOrString holds an integer or a string, like intstr.IntOrString ("25%", 1, "http").
type IntOrString struct {
	IsString bool
	IntVal   int32
	StrVal   string
}

// FromInt returns an integer IntOrString.
func FromInt(i int32) IntOrString { return IntOrString{IntVal: i} }

// FromString returns a string IntOrString.
func FromString(s string) IntOrString { return IntOrString{IsString: true, StrVal: s} }

// String renders the value.
func (v IntOrString) String() string {
	if v.IsString {
		return v.StrVal
	}
	return strconv.Itoa(int(v.IntVal))
}

// MarshalJSON implements json.Marshaler.
func (v IntOrString) MarshalJSON() ([]byte, error) {
	if v.IsString {
		return json.Marshal(v.StrVal)
	}
	return json.Marshal(v.IntVal)
}

// UnmarshalJSON implements json.Unmarshaler.
func (v *IntOrString) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		v.IsString, v.IntVal = true, 0
		return json.Unmarshal(b, &v.StrVal)
	}
	v.IsString, v.StrVal = false, ""
	if err := json.Unmarshal(b, &v.IntVal); err != nil {
		return fmt.Errorf("api: must be an integer or a string")
	}
	return nil
}

// ScaledValue resolves an integer or a percentage of total ("25%"), rounding a percentage
// up or down.
func (v IntOrString) ScaledValue(total int, roundUp bool) (int, error) {
	if !v.IsString {
		return int(v.IntVal), nil
	}
	p, ok := strings.CutSuffix(v.StrVal, "%")
	if !ok {
		return 0, fmt.Errorf("api: %q is not a percentage", v.StrVal)
	}
	n, err := strconv.Atoi(p)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("api: %q is not a percentage", v.StrVal)
	}
	if roundUp {
		return (n*total + 99) / 100, nil
	}
	return n * total / 100, nil
}
