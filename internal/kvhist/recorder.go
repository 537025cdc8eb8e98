package kvhist

import (
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/anishathalye/porcupine"
)

// Write is one attempted write (a Put, a CAS or a Delete), for CheckWrites.
type Write struct {
	Key, Value string
	// Delete marks a Delete (Value is "").
	Delete bool
	// Rev is the revision the write was acknowledged at; 0 when it failed or did not apply
	// (a CAS whose comparison failed, a Delete of an absent key).
	Rev int64
	// Acked is whether the client got a response (for a CAS, also one whose comparison
	// failed).
	Acked bool
}

// History is a copy of what a Recorder recorded.
type History struct {
	// Start is when the Recorder was made; operation times are nanoseconds since Start.
	Start time.Time
	// Ops are the recorded operations, for CheckLinearizable: Input and Output are of types
	// Input and Output.
	Ops []porcupine.Operation
	// Writes are the attempted writes, in the order they finished, for CheckWrites.
	Writes []Write
	// Unknown counts writes with an unknown outcome; FailedReads counts dropped reads.
	Unknown, FailedReads int
	// Violations are client-side invariant breaks reported with Recorder.Violation.
	Violations []string
}

// Recorder collects the history of every client. It is safe for concurrent use.
type Recorder struct {
	start time.Time

	mu sync.Mutex
	// guarded by mu
	ops                  []porcupine.Operation
	writes               []Write
	unknown, failedReads int
	violations           []string
}

// NewRecorder returns an empty Recorder whose clock starts now.
func NewRecorder() *Recorder { return &Recorder{start: time.Now()} }

// Now is the history clock: monotonic nanoseconds since the Recorder was made. Take an
// operation's call time with Now before sending it and its return time after the response.
func (r *Recorder) Now() int64 { return time.Since(r.start).Nanoseconds() }

// Record adds one finished operation of client clientID, called at call and returned at ret
// (both from Now), with its output, its response header revision rev and the error the
// client saw. A failed Get is dropped (counted in FailedReads). A failed Put or CAS is
// recorded with Unknown set and an infinite return time. Every Put, LeasePut, CAS and Delete is also kept as
// a Write, with Rev set when it was acknowledged and applied. A client must not have two
// operations in flight under one clientID.
func (r *Recorder) Record(clientID int, in Input, call int64, out Output, ret int64, rev int64, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil {
		if in.Kind == Get {
			r.failedReads++
			return
		}
		in.Unknown = true
		ret = math.MaxInt64
		r.unknown++
	}
	r.ops = append(r.ops, porcupine.Operation{ClientId: clientID, Input: in, Call: call, Output: out, Return: ret})
	if in.Kind != Get && in.Kind != LeaseRevoke {
		w := Write{Key: in.Key, Value: in.Value, Delete: in.Kind == Delete, Acked: err == nil}
		if err == nil && (in.Kind == Put || in.Kind == LeasePut || out.OK) {
			w.Rev = rev
		}
		r.writes = append(r.writes, w)
	}
}

// Violation records a client-side invariant break (e.g. a header revision going backwards),
// formatted as by fmt.Sprintf.
func (r *Recorder) Violation(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.violations = append(r.violations, fmt.Sprintf(format, args...))
}

// AckedWrites returns how many writes have been acknowledged so far; tests poll it to run
// each phase under load.
func (r *Recorder) AckedWrites() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, w := range r.writes {
		if w.Acked {
			n++
		}
	}
	return n
}

// Snapshot returns a copy of what was recorded so far.
func (r *Recorder) Snapshot() History {
	r.mu.Lock()
	defer r.mu.Unlock()
	return History{
		Start:       r.start,
		Ops:         append([]porcupine.Operation(nil), r.ops...),
		Writes:      append([]Write(nil), r.writes...),
		Unknown:     r.unknown,
		FailedReads: r.failedReads,
		Violations:  append([]string(nil), r.violations...),
	}
}
