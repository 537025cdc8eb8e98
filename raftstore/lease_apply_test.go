package raftstore

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"

	keelpb "github.com/keeldb/keel/api/proto"
	"github.com/keeldb/keel/mvcc"
)

// applier feeds commands to a member's FSM as consecutive committed entries.
type applier struct {
	t     *testing.T
	n     *Node
	index uint64
}

func (a *applier) apply(cmd *keelpb.Command) *applyResult {
	a.t.Helper()
	a.index++
	res, _ := a.n.fsm.Apply(&raft.Log{Index: a.index, Term: 1, Type: raft.LogCommand, Data: mustMarshal(cmd)}).(*applyResult)
	if got := a.n.store.ConsistentIndex(); got != a.index {
		a.t.Fatalf("applied index %d after entry %d", got, a.index)
	}
	return res
}

func TestLeaseRevokesShareOneRevisionAndSkipGoneLeases(t *testing.T) {
	n := newApplyOnlyNode(t)
	a := &applier{t: t, n: n, index: n.store.ConsistentIndex()}
	for id := int64(1); id <= 4; id++ {
		if res := a.apply(&keelpb.Command{Cmd: &keelpb.Command_LeaseGrant{
			LeaseGrant: mustMarshal(&pb.LeaseGrantRequest{ID: id, TTL: 60})}}); res.err != nil {
			t.Fatalf("grant %d: %v", id, res.err)
		}
	}
	for _, kv := range []struct {
		key   string
		lease int64
	}{{"a2", 1}, {"a1", 1}, {"b", 2}, {"c", 3}, {"free", 0}} {
		if res := a.apply(&keelpb.Command{Cmd: &keelpb.Command_Put{Put: mustMarshal(
			&pb.PutRequest{Key: []byte(kv.key), Value: []byte("v"), Lease: kv.lease})}}); res.err != nil {
			t.Fatalf("put %s: %v", kv.key, res.err)
		}
	}
	if res := a.apply(&keelpb.Command{Cmd: &keelpb.Command_LeaseRevoke{
		LeaseRevoke: mustMarshal(&pb.LeaseRevokeRequest{ID: 3})}}); res.err != nil {
		t.Fatalf("client revoke: %v", res.err)
	}

	type event struct {
		rev int64
		typ mvccpb.Event_EventType
		key string
	}
	var got []event
	n.Subscribe(func(rev int64, evs []mvccpb.Event) {
		for i := range evs {
			got = append(got, event{rev, evs[i].Type, string(evs[i].Kv.Key)})
		}
	}, func(int64) {})
	rev := n.store.Rev()
	// 3 is gone (revoked by the client), 99 never existed, 1 is listed twice.
	revokes := &keelpb.Command{Cmd: &keelpb.Command_LeaseRevokes{LeaseRevokes: &keelpb.LeaseRevokes{Ids: []int64{2, 3, 1, 4, 1, 99}}}}
	if res := a.apply(revokes); res == nil || res.err != nil {
		t.Fatalf("revokes: %+v", res)
	}
	want := []event{{rev + 1, mvccpb.DELETE, "b"}, {rev + 1, mvccpb.DELETE, "a1"}, {rev + 1, mvccpb.DELETE, "a2"}}
	if !slices.Equal(got, want) {
		t.Fatalf("events: got %v, want %v", got, want)
	}
	if n.store.Rev() != rev+1 {
		t.Fatalf("revision %d after the batch, want %d", n.store.Rev(), rev+1)
	}
	if left := n.lessor.Len(); left != 0 {
		t.Fatalf("%d leases left", left)
	}

	// A batch of leases that are all gone changes nothing but the applied index.
	got = nil
	if res := a.apply(revokes); res == nil || res.err != nil {
		t.Fatalf("revokes again: %+v", res)
	}
	if len(got) != 0 || n.store.Rev() != rev+1 {
		t.Fatalf("second batch: events %v, revision %d; want none, %d", got, n.store.Rev(), rev+1)
	}
	// The lease records went with the leases: rebuilding from the store finds none, and the
	// unleased key stays.
	if err := n.rebuildLessor(); err != nil {
		t.Fatal(err)
	}
	if left := n.lessor.Len(); left != 0 {
		t.Fatalf("rebuilt lessor has %d leases", left)
	}
	view := n.store.Read()
	defer view.End()
	r, err := view.Range([]byte{0}, []byte{0}, rangeAll)
	if err != nil || len(r.KVs) != 1 || string(r.KVs[0].Key) != "free" {
		t.Fatalf("keys left: %v, %v; want only free", r, err)
	}
}

// budgetStep asks the budget what is available at t0+at, expects want, then spends spend.
type budgetStep struct {
	at          time.Duration
	want, spend int
}

func TestRevokeBudget(t *testing.T) {
	t0 := time.Unix(1_000_000, 0)
	tests := []struct {
		name        string
		rate, burst int
		steps       []budgetStep
	}{
		{"starts with one burst, refills at the rate", 5000, 500, []budgetStep{
			{0, 500, 500}, {0, 0, 0}, {50 * time.Millisecond, 250, 250}, {100 * time.Millisecond, 250, 0},
			{time.Hour, 500, 0}}},
		{"a slow rate gives small batches", 100, 500, []budgetStep{
			{0, 500, 500}, {100 * time.Millisecond, 10, 10}, {150 * time.Millisecond, 5, 0},
			{140 * time.Millisecond, 5, 0}}}, // the clock going back adds nothing
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newRevokeBudget(tt.rate, tt.burst, t0)
			for i, s := range tt.steps {
				if got := b.available(t0.Add(s.at)); got != s.want {
					t.Fatalf("step %d: available %d, want %d", i, got, s.want)
				}
				b.spend(s.spend)
			}
		})
	}
}

// Under a CORRUPT alarm the expiry path's LeaseRevokes entry is refused like a client's
// revoke: the leased key stays until the alarm is disarmed, then the same entry deletes it.
func TestLeaseRevokesRefusedUnderCorrupt(t *testing.T) {
	n := newApplyOnlyNode(t)
	a := &applier{t: t, n: n, index: n.store.ConsistentIndex()}
	if res := a.apply(&keelpb.Command{Cmd: &keelpb.Command_LeaseGrant{
		LeaseGrant: mustMarshal(&pb.LeaseGrantRequest{ID: 7, TTL: 60})}}); res.err != nil {
		t.Fatalf("grant: %v", res.err)
	}
	if res := a.apply(&keelpb.Command{Cmd: &keelpb.Command_Put{Put: mustMarshal(
		&pb.PutRequest{Key: []byte("k"), Value: []byte("v"), Lease: 7})}}); res.err != nil {
		t.Fatalf("put: %v", res.err)
	}
	alarm := func(action pb.AlarmRequest_AlarmAction) {
		t.Helper()
		if res := a.apply(&keelpb.Command{Cmd: &keelpb.Command_Alarm{Alarm: mustMarshal(
			&pb.AlarmRequest{Action: action, MemberID: 1, Alarm: pb.AlarmType_CORRUPT})}}); res.err != nil {
			t.Fatalf("alarm %v: %v", action, res.err)
		}
	}
	keys := func() int64 {
		t.Helper()
		view := n.store.Read()
		defer view.End()
		rr, err := view.Range([]byte("k"), nil, mvcc.RangeOptions{CountOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		return int64(rr.Count)
	}
	revokes := &keelpb.Command{Cmd: &keelpb.Command_LeaseRevokes{LeaseRevokes: &keelpb.LeaseRevokes{Ids: []int64{7}}}}

	alarm(pb.AlarmRequest_ACTIVATE)
	rev := n.store.Rev()
	if res := a.apply(revokes); res == nil || !errors.Is(res.err, ErrCorrupt) {
		t.Fatalf("revokes under CORRUPT: %+v, want ErrCorrupt", res)
	}
	if got := keys(); got != 1 || n.store.Rev() != rev || n.lessor.Len() != 1 {
		t.Fatalf("after the refused entry: %d keys, revision %d (was %d), %d leases; want 1, %d, 1",
			got, n.store.Rev(), rev, n.lessor.Len(), rev)
	}
	alarm(pb.AlarmRequest_DEACTIVATE)
	if res := a.apply(revokes); res == nil || res.err != nil {
		t.Fatalf("revokes after disarm: %+v", res)
	}
	if got := keys(); got != 0 || n.lessor.Len() != 0 {
		t.Fatalf("after disarm: %d keys, %d leases; want none", got, n.lessor.Len())
	}
}
