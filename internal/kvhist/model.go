package kvhist

import (
	"fmt"
	"sort"
	"strings"

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
	// LeasePut writes Input.Value to Input.Key attached to the lease Input.Lease.
	LeasePut
	// LeaseRevoke revokes Input.Lease, deleting the keys attached to it.
	LeaseRevoke
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
	// Lease is the lease of a LeasePut or LeaseRevoke, and of a Get of a key attached to it:
	// such operations are checked together, per lease, not per key. Keys attached to a
	// lease must not be written otherwise.
	Lease int64
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
// was set. Operations with a lease (Input.Lease) are checked per lease: the lease's attached
// keys and whether it was revoked; a put on a revoked lease or a second revoke can only have
// failed. A write with an Unknown outcome is always legal; it
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
// Operations on a lease (Input.Lease set) form one partition per lease instead.
func partitionByKey(history []porcupine.Operation) [][]porcupine.Operation {
	byKey := map[string][]porcupine.Operation{}
	for _, op := range history {
		in := op.Input.(Input)
		k := "k:" + in.Key
		if in.Lease != 0 {
			k = fmt.Sprintf("l:%d", in.Lease)
		}
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
	if in.Lease != 0 {
		return leaseStep(cur, in, out)
	}
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
	case LeasePut:
		return fmt.Sprintf("put(%s, %s, lease %x)%s", in.Key, in.Value, in.Lease, u)
	case LeaseRevoke:
		return fmt.Sprintf("revoke(lease %x)%s", in.Lease, u)
	default:
		return fmt.Sprintf("cas(%s, %s -> %s) -> %v%s", in.Key, in.Expect, in.Value, out.OK, u)
	}
}

// A lease partition's state is its keys and whether it was revoked, encoded in a string so
// that porcupine can compare states: "revoked\n" first if revoked, then "key=value\n" lines
// in key order. The empty string is a granted lease with no keys.
func decodeLease(state string) (keys map[string]string, revoked bool) {
	keys = map[string]string{}
	for _, line := range strings.Split(state, "\n") {
		switch k, v, ok := strings.Cut(line, "="); {
		case line == "revoked":
			revoked = true
		case ok:
			keys[k] = v
		}
	}
	return keys, revoked
}

func encodeLease(keys map[string]string, revoked bool) string {
	var b strings.Builder
	if revoked {
		b.WriteString("revoked\n")
	}
	names := make([]string, 0, len(keys))
	for k := range keys {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		b.WriteString(k + "=" + keys[k] + "\n")
	}
	return b.String()
}

// leaseStep is step for a lease partition: a put attaches a key (refused once the lease is
// revoked), a revoke deletes every attached key, and a get reads one of them.
func leaseStep(cur string, in Input, out Output) (bool, any) {
	keys, revoked := decodeLease(cur)
	switch in.Kind {
	case LeasePut:
		if revoked {
			return in.Unknown, cur // etcd refuses a put on a revoked lease
		}
		keys[in.Key] = in.Value
		return true, encodeLease(keys, false)
	case LeaseRevoke:
		if revoked {
			return in.Unknown, cur // revoking twice fails
		}
		return true, encodeLease(nil, true)
	case Get:
		return out.Value == keys[in.Key], cur
	}
	return false, cur
}
