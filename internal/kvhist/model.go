package kvhist

import (
	"fmt"
	"sort"

	"github.com/anishathalye/porcupine"
)

// Kind is what a recorded operation does.
type Kind int

const (
	// Put writes Input.Value to Input.Key.
	Put Kind = iota
	// Get is a linearizable read of Input.Key.
	Get
	// CAS writes Input.Value to Input.Key if the key's value is Input.Expect.
	CAS
	// Delete deletes Input.Key; Output.OK says whether the key existed.
	Delete
)

// Input is a recorded operation's input, the Input of a porcupine.Operation. Values are
// unique per write, so a read names the write it observed.
type Input struct {
	Kind Kind
	Key  string
	// Value is the value a Put or CAS writes.
	Value string
	// Expect is the value a CAS compares against; never "".
	Expect string
	// Unknown marks a write whose client saw an error: it may or may not have been applied.
	// Recorder.Record sets it.
	Unknown bool
}

// Output is a recorded operation's output, the Output of a porcupine.Operation.
type Output struct {
	// Value is the value a Get read, "" when the key is absent.
	Value string
	// OK is whether a CAS's comparison succeeded, or whether a Delete deleted a key.
	OK bool
}

// Model returns the porcupine model of the history: a register per key, whose state is the
// key's current value ("" for absent). A CAS on an absent key fails, as in etcd (a value
// compare on a missing key is false); a Delete empties the register and reports whether it
// was set. A write with an Unknown outcome is always legal; it
// changes the state as it would have had it succeeded.
func Model() porcupine.Model {
	return porcupine.Model{
		Partition:         partitionByKey,
		Init:              func() any { return "" },
		Step:              step,
		DescribeOperation: describeOperation,
		DescribeState:     func(state any) string { return fmt.Sprintf("%q", state) },
	}
}

// partitionByKey splits the history per key, in key order: keys are independent registers.
func partitionByKey(history []porcupine.Operation) [][]porcupine.Operation {
	byKey := map[string][]porcupine.Operation{}
	for _, op := range history {
		k := op.Input.(Input).Key
		byKey[k] = append(byKey[k], op)
	}
	keys := make([]string, 0, len(byKey))
	for k := range byKey {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([][]porcupine.Operation, 0, len(keys))
	for _, k := range keys {
		out = append(out, byKey[k])
	}
	return out
}

func step(state, input, output any) (bool, any) {
	cur, in, out := state.(string), input.(Input), output.(Output)
	switch in.Kind {
	case Put:
		return true, in.Value
	case Get:
		return out.Value == cur, cur
	case CAS:
		match := cur != "" && cur == in.Expect
		next := cur
		if match {
			next = in.Value
		}
		if in.Unknown {
			return true, next
		}
		return out.OK == match, next
	case Delete:
		if in.Unknown {
			return true, ""
		}
		return out.OK == (cur != ""), ""
	}
	return false, cur
}

func describeOperation(input, output any) string {
	in, out := input.(Input), output.(Output)
	u := ""
	if in.Unknown {
		u = " (unknown outcome)"
	}
	switch in.Kind {
	case Put:
		return fmt.Sprintf("put(%s, %s)%s", in.Key, in.Value, u)
	case Get:
		return fmt.Sprintf("get(%s) -> %q", in.Key, out.Value)
	case Delete:
		return fmt.Sprintf("delete(%s) -> %v%s", in.Key, out.OK, u)
	default:
		return fmt.Sprintf("cas(%s, %s -> %s) -> %v%s", in.Key, in.Expect, in.Value, out.OK, u)
	}
}
