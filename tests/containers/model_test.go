package containers

import (
	"fmt"
	"math"
	"testing"

	"github.com/anishathalye/porcupine"
)

// kvInput is one operation on a register key: "get", "put" (value) or "cas" (from expect to
// value; expect "" means the key must not exist).
type kvInput struct {
	op     string
	key    string
	value  string
	expect string
}

// kvOutput is what the client saw: the value read (get), whether a cas succeeded, or that
// the outcome is unknown (a write that failed without a definite answer).
type kvOutput struct {
	value   string
	ok      bool
	unknown bool
}

// kvModel is a register per key ("" = absent), checked one key at a time. A write with an
// unknown outcome may or may not have taken effect, so the model is nondeterministic.
var kvModel = (&porcupine.NondeterministicModel{
	Partition: func(history []porcupine.Operation) [][]porcupine.Operation {
		byKey := map[string][]porcupine.Operation{}
		var keys []string
		for _, op := range history {
			k := op.Input.(kvInput).key
			if _, ok := byKey[k]; !ok {
				keys = append(keys, k)
			}
			byKey[k] = append(byKey[k], op)
		}
		out := make([][]porcupine.Operation, 0, len(keys))
		for _, k := range keys {
			out = append(out, byKey[k])
		}
		return out
	},
	Init: func() []any { return []any{""} },
	Step: func(state, input, output any) []any {
		s, in, out := state.(string), input.(kvInput), output.(kvOutput)
		switch in.op {
		case "get":
			if out.value == s {
				return []any{s}
			}
			return nil
		case "put":
			if out.unknown {
				return []any{s, in.value}
			}
			return []any{in.value}
		case "cas":
			switch {
			case out.unknown && s == in.expect:
				return []any{s, in.value}
			case out.unknown:
				return []any{s}
			case out.ok && s == in.expect:
				return []any{in.value}
			case !out.ok && s != in.expect:
				return []any{s}
			}
			return nil
		}
		panic(fmt.Sprintf("unknown op %q", in.op))
	},
	Equal: func(a, b any) bool { return a == b },
	DescribeOperation: func(input, output any) string {
		in, out := input.(kvInput), output.(kvOutput)
		res := fmt.Sprintf("%q", out.value)
		if in.op == "cas" {
			res = fmt.Sprint(out.ok)
		}
		if out.unknown {
			res = "unknown"
		}
		return fmt.Sprintf("%s(%s %q %q) -> %s", in.op, in.key, in.expect, in.value, res)
	},
}).ToModel()

// unknownReturn is the return time of an operation whose outcome is unknown: it may take
// effect at any point after its call.
const unknownReturn = math.MaxInt64

// TestModel proves the checker accepts linearizable histories and rejects others.
func TestModel(t *testing.T) {
	op := func(client int, call, ret int64, in kvInput, out kvOutput) porcupine.Operation {
		return porcupine.Operation{ClientId: client, Call: call, Return: ret, Input: in, Output: out}
	}
	put := func(k, v string) kvInput { return kvInput{op: "put", key: k, value: v} }
	get := func(k string) kvInput { return kvInput{op: "get", key: k} }
	cas := func(k, from, to string) kvInput { return kvInput{op: "cas", key: k, expect: from, value: to} }
	tests := []struct {
		name    string
		history []porcupine.Operation
		want    bool
	}{
		{"sequential", []porcupine.Operation{
			op(0, 0, 1, put("a", "1"), kvOutput{}), op(1, 2, 3, get("a"), kvOutput{value: "1"}),
			op(0, 4, 5, cas("a", "1", "2"), kvOutput{ok: true}), op(1, 6, 7, get("a"), kvOutput{value: "2"})}, true},
		{"stale read", []porcupine.Operation{
			op(0, 0, 1, put("a", "1"), kvOutput{}), op(0, 2, 3, put("a", "2"), kvOutput{}),
			op(1, 4, 5, get("a"), kvOutput{value: "1"})}, false},
		{"lost acknowledged write", []porcupine.Operation{
			op(0, 0, 1, put("a", "1"), kvOutput{}), op(1, 2, 3, get("a"), kvOutput{value: ""})}, false},
		{"concurrent read may see either", []porcupine.Operation{
			op(0, 0, 1, put("a", "1"), kvOutput{}), op(0, 2, 6, put("a", "2"), kvOutput{}),
			op(1, 3, 4, get("a"), kvOutput{value: "1"}), op(2, 3, 5, get("a"), kvOutput{value: "2"})}, true},
		{"unknown write may be applied", []porcupine.Operation{
			op(0, 0, unknownReturn, put("a", "1"), kvOutput{unknown: true}), op(1, 2, 3, get("a"), kvOutput{value: "1"})}, true},
		{"unknown write may be lost", []porcupine.Operation{
			op(0, 0, unknownReturn, put("a", "1"), kvOutput{unknown: true}), op(1, 2, 3, get("a"), kvOutput{value: ""})}, true},
		{"cas on absent key", []porcupine.Operation{
			op(0, 0, 1, cas("a", "", "1"), kvOutput{ok: true}), op(1, 2, 3, cas("a", "", "2"), kvOutput{ok: true})}, false},
		{"failed cas must not apply", []porcupine.Operation{
			op(0, 0, 1, put("a", "1"), kvOutput{}), op(0, 2, 3, cas("a", "0", "2"), kvOutput{ok: false}),
			op(1, 4, 5, get("a"), kvOutput{value: "2"})}, false},
		{"keys are independent", []porcupine.Operation{
			op(0, 0, 1, put("a", "1"), kvOutput{}), op(1, 2, 3, get("b"), kvOutput{value: ""})}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := porcupine.CheckOperations(kvModel, tt.history); got != tt.want {
				t.Errorf("linearizable = %v, want %v", got, tt.want)
			}
		})
	}
}
