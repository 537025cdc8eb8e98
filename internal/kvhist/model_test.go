package kvhist_test

import (
	"math"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/keeldb/keel/internal/kvhist"
)

// The checkers on hand-made histories: each must accept the valid one and reject the broken
// one, so a green chaos scenario means something.

func op(client int, in kvhist.Input, out kvhist.Output, call, ret int64) porcupine.Operation {
	return porcupine.Operation{ClientId: client, Input: in, Output: out, Call: call, Return: ret}
}

func TestModel(t *testing.T) {
	put := func(v string) kvhist.Input { return kvhist.Input{Kind: kvhist.Put, Key: "k", Value: v} }
	get := kvhist.Input{Kind: kvhist.Get, Key: "k"}
	cas := func(expect, v string) kvhist.Input {
		return kvhist.Input{Kind: kvhist.CAS, Key: "k", Expect: expect, Value: v}
	}
	unknown := func(in kvhist.Input) kvhist.Input { in.Unknown = true; return in }
	del := kvhist.Input{Kind: kvhist.Delete, Key: "k"}
	lput := func(v string) kvhist.Input { return kvhist.Input{Kind: kvhist.LeasePut, Key: "l", Value: v, Lease: 7} }
	lget := kvhist.Input{Kind: kvhist.Get, Key: "l", Lease: 7}
	revoke := kvhist.Input{Kind: kvhist.LeaseRevoke, Lease: 7}
	val := func(v string) kvhist.Output { return kvhist.Output{Value: v} }
	none := kvhist.Output{}
	inf := int64(math.MaxInt64)
	for _, tc := range []struct {
		name string
		ops  []porcupine.Operation
		want porcupine.CheckResult
	}{
		{"read after write", []porcupine.Operation{
			op(0, put("a"), none, 0, 10), op(1, get, val("a"), 20, 30)}, porcupine.Ok},
		{"stale read", []porcupine.Operation{
			op(0, put("a"), none, 0, 10), op(0, put("b"), none, 20, 30),
			op(1, get, val("a"), 40, 50)}, porcupine.Illegal},
		{"concurrent read may see either", []porcupine.Operation{
			op(0, put("a"), none, 0, 10), op(0, put("b"), none, 20, 60),
			op(1, get, val("a"), 40, 50)}, porcupine.Ok},
		{"unknown write seen later", []porcupine.Operation{
			op(0, unknown(put("a")), none, 0, inf), op(1, get, val("a"), 100, 110)}, porcupine.Ok},
		{"unknown write never applied", []porcupine.Operation{
			op(0, unknown(put("a")), none, 0, inf), op(1, get, none, 100, 110)}, porcupine.Ok},
		{"unknown write cannot be undone", []porcupine.Operation{
			op(0, unknown(put("a")), none, 0, inf), op(1, get, val("a"), 100, 110),
			op(1, get, none, 120, 130)}, porcupine.Illegal},
		{"cas", []porcupine.Operation{
			op(0, put("a"), none, 0, 10), op(1, cas("a", "b"), kvhist.Output{OK: true}, 20, 30),
			op(2, cas("a", "c"), kvhist.Output{OK: false}, 40, 50), op(0, get, val("b"), 60, 70)}, porcupine.Ok},
		{"cas that should have failed", []porcupine.Operation{
			op(0, put("a"), none, 0, 10), op(1, cas("a", "b"), kvhist.Output{OK: true}, 20, 30),
			op(2, cas("a", "c"), kvhist.Output{OK: true}, 40, 50)}, porcupine.Illegal},
		{"cas on an absent key fails", []porcupine.Operation{
			op(1, cas("a", "b"), kvhist.Output{OK: true}, 20, 30)}, porcupine.Illegal},
		{"delete", []porcupine.Operation{
			op(0, put("a"), none, 0, 10), op(1, del, kvhist.Output{OK: true}, 20, 30),
			op(2, get, none, 40, 50), op(1, del, kvhist.Output{OK: false}, 60, 70)}, porcupine.Ok},
		{"read after delete sees the old value", []porcupine.Operation{
			op(0, put("a"), none, 0, 10), op(1, del, kvhist.Output{OK: true}, 20, 30),
			op(2, get, val("a"), 40, 50)}, porcupine.Illegal},
		{"delete of an absent key reports a deletion", []porcupine.Operation{
			op(1, del, kvhist.Output{OK: true}, 20, 30)}, porcupine.Illegal},
		{"unknown delete", []porcupine.Operation{
			op(0, put("a"), none, 0, 10), op(1, unknown(del), none, 20, inf),
			op(2, get, none, 40, 50)}, porcupine.Ok},
		{"lease put, read, revoke, read", []porcupine.Operation{
			op(0, lput("a"), none, 0, 10), op(1, lget, val("a"), 20, 30),
			op(0, revoke, none, 40, 50), op(1, lget, none, 60, 70)}, porcupine.Ok},
		{"key read after its lease was revoked", []porcupine.Operation{
			op(0, lput("a"), none, 0, 10), op(0, revoke, none, 40, 50),
			op(1, lget, val("a"), 60, 70)}, porcupine.Illegal},
		{"put acknowledged on a revoked lease", []porcupine.Operation{
			op(0, revoke, none, 0, 10), op(0, lput("a"), none, 20, 30)}, porcupine.Illegal},
		{"unknown revoke", []porcupine.Operation{
			op(0, lput("a"), none, 0, 10), op(0, unknown(revoke), none, 20, inf),
			op(1, lget, val("a"), 30, 40), op(1, lget, none, 50, 60)}, porcupine.Ok},
		{"keys are independent", []porcupine.Operation{
			op(0, kvhist.Input{Kind: kvhist.Put, Key: "x", Value: "a"}, none, 0, 10),
			op(1, kvhist.Input{Kind: kvhist.Get, Key: "y"}, none, 20, 30)}, porcupine.Ok},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got, _ := kvhist.CheckLinearizable(tc.ops, time.Minute, ""); got != tc.want {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}
