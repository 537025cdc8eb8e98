package chaos_test

import (
	"fmt"
	"math"
	"os"
	"sort"
	"sync"
	"time"

	"github.com/anishathalye/porcupine"
)

// opKind is what a recorded client operation did.
type opKind int

const (
	opPut opKind = iota
	opGet
	opCAS
)

// kvInput is a recorded operation's input. Values are unique per write, so a read names the
// write it observed.
type kvInput struct {
	kind   opKind
	key    string
	value  string // put and CAS: the value written
	expect string // CAS: the value compared against (never "")
	// unknown marks a write whose client saw an error: it may or may not have been applied.
	unknown bool
}

// kvOutput is a recorded operation's output.
type kvOutput struct {
	value string // get: the value read, "" when the key is absent
	ok    bool   // CAS: whether the comparison succeeded
}

// kvModel is a register per key: the state of a partition is the key's current value ("" for
// absent). A CAS on an absent key fails, as in etcd (a value compare on a missing key is
// false).
var kvModel = porcupine.Model{
	Partition: func(history []porcupine.Operation) [][]porcupine.Operation {
		byKey := map[string][]porcupine.Operation{}
		for _, op := range history {
			k := op.Input.(kvInput).key
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
	},
	Init: func() any { return "" },
	Step: func(state, input, output any) (bool, any) {
		cur, in, out := state.(string), input.(kvInput), output.(kvOutput)
		switch in.kind {
		case opPut:
			return true, in.value
		case opGet:
			return out.value == cur, cur
		case opCAS:
			match := cur != "" && cur == in.expect
			next := cur
			if match {
				next = in.value
			}
			if in.unknown {
				return true, next
			}
			return out.ok == match, next
		}
		return false, cur
	},
	DescribeOperation: func(input, output any) string {
		in, out := input.(kvInput), output.(kvOutput)
		u := ""
		if in.unknown {
			u = " (unknown outcome)"
		}
		switch in.kind {
		case opPut:
			return fmt.Sprintf("put(%s, %s)%s", in.key, in.value, u)
		case opGet:
			return fmt.Sprintf("get(%s) -> %q", in.key, out.value)
		default:
			return fmt.Sprintf("cas(%s, %s -> %s) -> %v%s", in.key, in.expect, in.value, out.ok, u)
		}
	},
	DescribeState: func(state any) string { return fmt.Sprintf("%q", state) },
}

// write is one attempted write, for the no-lost-ack and exactly-once checks.
type write struct {
	key, value string
	// rev is the revision the write was acknowledged at; 0 when it failed or did not apply
	// (a CAS whose comparison failed).
	rev   int64
	acked bool
}

// recorder collects the history of every client. Safe for concurrent use.
type recorder struct {
	start time.Time

	mu sync.Mutex
	// guarded by mu
	ops    []porcupine.Operation
	writes []write
	// unknownWrites counts writes with an unknown outcome; failedReads counts dropped reads.
	unknownWrites, failedReads int
	// violations are client-side invariant breaks (e.g. a header revision going backwards).
	violations []string
}

func newRecorder() *recorder { return &recorder{start: time.Now()} }

// now is the history clock: monotonic nanoseconds since the recorder was made.
func (r *recorder) now() int64 { return time.Since(r.start).Nanoseconds() }

// record adds one finished operation. A failed read is dropped; a failed write is recorded
// with an unknown outcome and an infinite return time.
func (r *recorder) record(client int, in kvInput, call int64, out kvOutput, ret int64, rev int64, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil {
		if in.kind == opGet {
			r.failedReads++
			return
		}
		in.unknown = true
		ret = math.MaxInt64
		r.unknownWrites++
	}
	r.ops = append(r.ops, porcupine.Operation{ClientId: client, Input: in, Call: call, Output: out, Return: ret})
	if in.kind != opGet {
		w := write{key: in.key, value: in.value, acked: err == nil}
		if err == nil && (in.kind == opPut || out.ok) {
			w.rev = rev
		}
		r.writes = append(r.writes, w)
	}
}

func (r *recorder) violation(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.violations = append(r.violations, fmt.Sprintf(format, args...))
}

// ackedWrites counts writes acknowledged so far.
func (r *recorder) ackedWrites() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, w := range r.writes {
		if w.acked {
			n++
		}
	}
	return n
}

// snapshot returns copies of what was recorded.
func (r *recorder) snapshot() (ops []porcupine.Operation, writes []write, unknown, failedReads int, violations []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]porcupine.Operation(nil), r.ops...), append([]write(nil), r.writes...),
		r.unknownWrites, r.failedReads, append([]string(nil), r.violations...)
}

// checkLinearizable runs porcupine over ops. When the history is not linearizable and
// visualize is set, it writes porcupine's visualization to a file outside the test's
// temporary directory (so that it survives the test) and returns its path.
func checkLinearizable(ops []porcupine.Operation, timeout time.Duration, visualize bool) (res porcupine.CheckResult, visualization string) {
	res, info := porcupine.CheckOperationsVerbose(kvModel, ops, timeout)
	if res != porcupine.Illegal || !visualize {
		return res, ""
	}
	f, err := os.CreateTemp("", "keel-chaos-history-*.html")
	if err != nil {
		return res, "(no visualization: " + err.Error() + ")"
	}
	defer f.Close()
	if err := porcupine.Visualize(kvModel, info, f); err != nil {
		return res, "(no visualization: " + err.Error() + ")"
	}
	return res, f.Name()
}
