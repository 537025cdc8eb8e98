package kvhist_test

import (
	"errors"
	"math"
	"testing"

	"github.com/keeldb/keel/internal/kvhist"
)

// The unknown-outcome rule and the dropped reads, as Record applies them.
func TestRecorder(t *testing.T) {
	rec := kvhist.NewRecorder()
	failed := errors.New("context deadline exceeded")
	put := kvhist.Input{Kind: kvhist.Put, Key: "k", Value: "a"}
	cas := kvhist.Input{Kind: kvhist.CAS, Key: "k", Expect: "a", Value: "b"}
	rec.Record(0, put, 1, kvhist.Output{}, 2, 5, nil)
	rec.Record(0, kvhist.Input{Kind: kvhist.Get, Key: "k"}, 3, kvhist.Output{}, 4, 0, failed)
	rec.Record(1, kvhist.Input{Kind: kvhist.Put, Key: "k", Value: "u"}, 5, kvhist.Output{}, 6, 0, failed)
	rec.Record(1, cas, 7, kvhist.Output{OK: false}, 8, 6, nil)
	rec.Record(1, kvhist.Input{Kind: kvhist.CAS, Key: "k", Expect: "a", Value: "c"}, 9, kvhist.Output{OK: true}, 10, 7, nil)
	rec.Violation("client %d: revision %d", 1, 3)

	h := rec.Snapshot()
	if got := len(h.Ops); got != 4 {
		t.Fatalf("got %d operations, want 4 (the failed read dropped)", got)
	}
	if in := h.Ops[1].Input.(kvhist.Input); !in.Unknown || h.Ops[1].Return != math.MaxInt64 {
		t.Errorf("failed put: got unknown %v, return %d, want true, %d", in.Unknown, h.Ops[1].Return, int64(math.MaxInt64))
	}
	want := []kvhist.Write{
		{Key: "k", Value: "a", Rev: 5, Acked: true},
		{Key: "k", Value: "u"},
		{Key: "k", Value: "b", Acked: true}, // comparison failed: not applied
		{Key: "k", Value: "c", Rev: 7, Acked: true},
	}
	if len(h.Writes) != len(want) {
		t.Fatalf("got writes %+v, want %+v", h.Writes, want)
	}
	for i := range want {
		if h.Writes[i] != want[i] {
			t.Errorf("write %d: got %+v, want %+v", i, h.Writes[i], want[i])
		}
	}
	if h.Unknown != 1 || h.FailedReads != 1 || rec.AckedWrites() != 3 {
		t.Errorf("got %d unknown, %d failed reads, %d acked writes, want 1, 1, 3", h.Unknown, h.FailedReads, rec.AckedWrites())
	}
	if len(h.Violations) != 1 || h.Violations[0] != "client 1: revision 3" {
		t.Errorf("got violations %q, want one", h.Violations)
	}
}
