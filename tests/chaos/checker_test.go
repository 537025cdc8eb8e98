package chaos_test

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
)

// The checkers on hand-made histories: each must accept the valid one and reject the broken
// one, so a green scenario means something.

func op(client int, in kvInput, out kvOutput, call, ret int64) porcupine.Operation {
	return porcupine.Operation{ClientId: client, Input: in, Output: out, Call: call, Return: ret}
}

func TestModel(t *testing.T) {
	put := func(v string) kvInput { return kvInput{kind: opPut, key: "k", value: v} }
	get := kvInput{kind: opGet, key: "k"}
	cas := func(expect, v string) kvInput { return kvInput{kind: opCAS, key: "k", expect: expect, value: v} }
	unknown := func(in kvInput) kvInput { in.unknown = true; return in }
	inf := int64(math.MaxInt64)
	for _, tc := range []struct {
		name string
		ops  []porcupine.Operation
		want porcupine.CheckResult
	}{
		{"read after write", []porcupine.Operation{
			op(0, put("a"), kvOutput{}, 0, 10), op(1, get, kvOutput{value: "a"}, 20, 30)}, porcupine.Ok},
		{"stale read", []porcupine.Operation{
			op(0, put("a"), kvOutput{}, 0, 10), op(0, put("b"), kvOutput{}, 20, 30),
			op(1, get, kvOutput{value: "a"}, 40, 50)}, porcupine.Illegal},
		{"concurrent read may see either", []porcupine.Operation{
			op(0, put("a"), kvOutput{}, 0, 10), op(0, put("b"), kvOutput{}, 20, 60),
			op(1, get, kvOutput{value: "a"}, 40, 50)}, porcupine.Ok},
		{"unknown write seen later", []porcupine.Operation{
			op(0, unknown(put("a")), kvOutput{}, 0, inf), op(1, get, kvOutput{value: "a"}, 100, 110)}, porcupine.Ok},
		{"unknown write never applied", []porcupine.Operation{
			op(0, unknown(put("a")), kvOutput{}, 0, inf), op(1, get, kvOutput{}, 100, 110)}, porcupine.Ok},
		{"unknown write cannot be undone", []porcupine.Operation{
			op(0, unknown(put("a")), kvOutput{}, 0, inf), op(1, get, kvOutput{value: "a"}, 100, 110),
			op(1, get, kvOutput{}, 120, 130)}, porcupine.Illegal},
		{"cas", []porcupine.Operation{
			op(0, put("a"), kvOutput{}, 0, 10), op(1, cas("a", "b"), kvOutput{ok: true}, 20, 30),
			op(2, cas("a", "c"), kvOutput{ok: false}, 40, 50), op(0, get, kvOutput{value: "b"}, 60, 70)}, porcupine.Ok},
		{"cas that should have failed", []porcupine.Operation{
			op(0, put("a"), kvOutput{}, 0, 10), op(1, cas("a", "b"), kvOutput{ok: true}, 20, 30),
			op(2, cas("a", "c"), kvOutput{ok: true}, 40, 50)}, porcupine.Illegal},
		{"cas on an absent key fails", []porcupine.Operation{
			op(1, cas("a", "b"), kvOutput{ok: true}, 20, 30)}, porcupine.Illegal},
		{"keys are independent", []porcupine.Operation{
			op(0, kvInput{kind: opPut, key: "x", value: "a"}, kvOutput{}, 0, 10),
			op(1, kvInput{kind: opGet, key: "y"}, kvOutput{}, 20, 30)}, porcupine.Ok},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got, _ := checkLinearizable(tc.ops, time.Minute, false); got != tc.want {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestCheckWrites(t *testing.T) {
	writes := []write{{key: "k", value: "a", rev: 2, acked: true}, {key: "k", value: "b"}}
	hist := []event{{rev: 2, key: "k", value: "a"}}
	if lost, extra := checkWrites(hist, writes, nil); len(lost)+len(extra) > 0 {
		t.Errorf("valid history: lost %v, extra %v", lost, extra)
	}
	if lost, _ := checkWrites(nil, writes, nil); len(lost) != 1 {
		t.Errorf("history without the acknowledged write: lost %v, want one", lost)
	}
	if lost, _ := checkWrites([]event{{rev: 2, key: "k", value: "b"}}, writes, nil); len(lost) != 1 {
		t.Errorf("another value at the acknowledged revision: lost %v, want one", lost)
	}
	if _, extra := checkWrites(append(hist, event{rev: 3, key: "k", value: "z"}), writes, nil); len(extra) != 1 {
		t.Errorf("a value nobody wrote: extra %v, want one", extra)
	}
	if _, extra := checkWrites(append(hist, event{rev: 3, key: "k", value: "a"}), writes, nil); len(extra) == 0 {
		t.Error("a write applied twice was not reported")
	}
}

func TestWatchCheck(t *testing.T) {
	hist := []event{{2, "k0", "a"}, {3, "k1", "b"}, {4, "k0", "c"}, {5, "k1", "d"}}
	for _, tc := range []struct {
		name    string
		events  []event
		relists []relist
		wantErr string
	}{
		{"complete", hist, nil, ""},
		{"gap", []event{hist[0], hist[2], hist[3]}, nil, "missing"},
		{"duplicate", []event{hist[0], hist[1], hist[1], hist[2], hist[3]}, nil, "repeated"},
		{"reordered", []event{hist[1], hist[0], hist[2], hist[3]}, nil, "out of order"},
		{"stopped early", hist[:3], nil, "stopped"},
		{"re-list", []event{hist[0], hist[3]},
			[]relist{{afterEvents: 1, rev: 4, kvs: map[string]string{"k0": "c", "k1": "b"}}}, ""},
		{"wrong re-list", []event{hist[0], hist[3]},
			[]relist{{afterEvents: 1, rev: 4, kvs: map[string]string{"k0": "a", "k1": "b"}}}, "re-list"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := &watcher{events: tc.events, relists: tc.relists}
			_, err := w.check(hist)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Errorf("got %v, want no error", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Errorf("got %v, want an error mentioning %q", err, tc.wantErr)
			}
		})
	}
}
