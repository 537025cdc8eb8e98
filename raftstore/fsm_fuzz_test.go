package raftstore

import (
	"fmt"
	"strings"
	"testing"

	"github.com/hashicorp/raft"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"google.golang.org/protobuf/proto"

	keelpb "github.com/keeldb/keel/api/proto"
	"github.com/keeldb/keel/apply"
	"github.com/keeldb/keel/auth"
	"github.com/keeldb/keel/lease"
)

// newApplyOnlyNode opens a member's storage without raft, so a test can feed the FSM entries
// directly; nothing else applies entries to it.
func newApplyOnlyNode(tb testing.TB) *Node {
	tb.Helper()
	cfg := Config{Name: "fuzz", DataDir: tb.TempDir(), InitialCluster: []Member{{Name: "fuzz", PeerURLs: []string{"http://127.0.0.1:1"}}}}
	cfg.applyDefaults()
	n := &Node{cfg: cfg, log: cfg.Logger, readyCh: make(chan struct{}), leaderCh: make(chan bool, 16),
		stop: make(chan struct{}), removed: make(chan struct{})}
	n.metrics = newMetrics(nil)
	n.lessor = lease.New(lease.Config{})
	n.auth = auth.New(cfg.AuthTokens)
	if err := n.openStorage(); err != nil {
		n.closeStorage()
		tb.Fatal(err)
	}
	n.fsm = &fsm{n: n}
	tb.Cleanup(func() {
		close(n.stop)
		n.wg.Wait()
		n.closeStorage()
	})
	return n
}

// entryKind classifies a raft entry's data the way the FSM will treat it.
type entryKind int

const (
	// poison: not a decodable command of a known type; the FSM panics on it by design, since
	// every replica would fail the same way and stopping beats diverging (docs/STYLE.md "Errors").
	poison entryKind = iota
	// unvalidated: decodable, but a request the server refuses before proposing it
	// (apply.Validate*), so no server puts it in the log. The FSM validates again and refuses
	// it (this target found a Put with an empty key panicking in mvcc before it did).
	unvalidated
	// valid: what a server may propose; the FSM must apply it without panicking.
	valid
)

// classify decodes data as the FSM does and runs the server's pre-proposal validation.
func classify(data []byte) entryKind {
	var cmd keelpb.Command
	if proto.Unmarshal(data, &cmd) != nil {
		return poison
	}
	var body []byte
	var m proto.Message
	switch c := cmd.Cmd.(type) {
	case *keelpb.Command_Put:
		body, m = c.Put, &pb.PutRequest{}
	case *keelpb.Command_DeleteRange:
		body, m = c.DeleteRange, &pb.DeleteRangeRequest{}
	case *keelpb.Command_Txn:
		body, m = c.Txn, &pb.TxnRequest{}
	case *keelpb.Command_Compaction:
		body, m = c.Compaction, &pb.CompactionRequest{}
	case *keelpb.Command_LeaseGrant:
		body, m = c.LeaseGrant, &pb.LeaseGrantRequest{}
	case *keelpb.Command_LeaseRevoke:
		body, m = c.LeaseRevoke, &pb.LeaseRevokeRequest{}
	case *keelpb.Command_Alarm:
		body, m = c.Alarm, &pb.AlarmRequest{}
	case *keelpb.Command_MemberAttributes, *keelpb.Command_Noop, *keelpb.Command_LeaseCheckpoints,
		*keelpb.Command_LeaseRevokes:
		return valid
	default:
		return poison
	}
	if proto.Unmarshal(body, m) != nil {
		return poison
	}
	var err error
	switch r := m.(type) {
	case *pb.PutRequest:
		err = apply.ValidatePut(r)
	case *pb.DeleteRangeRequest:
		err = apply.ValidateDeleteRange(r)
	case *pb.TxnRequest:
		err = apply.ValidateTxn(r, apply.Limits{})
	}
	if err != nil {
		return unvalidated
	}
	return valid
}

func fuzzSeeds() [][]byte {
	put := &pb.PutRequest{Key: []byte("k"), Value: []byte("v")}
	txn := &pb.TxnRequest{
		Compare: []*pb.Compare{{Key: []byte("k"), Target: pb.Compare_VALUE, Result: pb.Compare_EQUAL,
			TargetUnion: &pb.Compare_Value{Value: []byte("v")}}},
		Success: []*pb.RequestOp{{Request: &pb.RequestOp_RequestPut{RequestPut: put}},
			{Request: &pb.RequestOp_RequestRange{RequestRange: &pb.RangeRequest{Key: []byte("a"), RangeEnd: []byte{0}}}}},
		Failure: []*pb.RequestOp{{Request: &pb.RequestOp_RequestDeleteRange{RequestDeleteRange: &pb.DeleteRangeRequest{Key: []byte("k")}}},
			{Request: &pb.RequestOp_RequestTxn{RequestTxn: &pb.TxnRequest{Success: []*pb.RequestOp{
				{Request: &pb.RequestOp_RequestPut{RequestPut: &pb.PutRequest{Key: []byte("n"), Lease: 7}}}}}}}},
	}
	cmds := []*keelpb.Command{
		{Cmd: &keelpb.Command_Put{Put: mustMarshal(put)}},
		{Cmd: &keelpb.Command_Put{Put: mustMarshal(&pb.PutRequest{Key: []byte("l"), Lease: 7, PrevKv: true, IgnoreValue: true})}},
		{Cmd: &keelpb.Command_DeleteRange{DeleteRange: mustMarshal(&pb.DeleteRangeRequest{Key: []byte("a"), RangeEnd: []byte("z"), PrevKv: true})}},
		{Cmd: &keelpb.Command_Txn{Txn: mustMarshal(txn)}},
		{Cmd: &keelpb.Command_Compaction{Compaction: mustMarshal(&pb.CompactionRequest{Revision: 2})}},
		{Cmd: &keelpb.Command_Compaction{Compaction: mustMarshal(&pb.CompactionRequest{Revision: 1 << 40})}},
		{Cmd: &keelpb.Command_LeaseGrant{LeaseGrant: mustMarshal(&pb.LeaseGrantRequest{ID: 7, TTL: 60})}},
		{Cmd: &keelpb.Command_LeaseRevoke{LeaseRevoke: mustMarshal(&pb.LeaseRevokeRequest{ID: 7})}},
		{Cmd: &keelpb.Command_LeaseCheckpoints{LeaseCheckpoints: &keelpb.LeaseCheckpoints{}}},
		{Cmd: &keelpb.Command_LeaseRevokes{LeaseRevokes: &keelpb.LeaseRevokes{Ids: []int64{7, 8, 7, 0, -1}}}},
		{Cmd: &keelpb.Command_Alarm{Alarm: mustMarshal(&pb.AlarmRequest{Action: pb.AlarmRequest_ACTIVATE, MemberID: 1, Alarm: pb.AlarmType_NOSPACE})}},
		{Cmd: &keelpb.Command_Alarm{Alarm: mustMarshal(&pb.AlarmRequest{Action: pb.AlarmRequest_DEACTIVATE, MemberID: 1, Alarm: pb.AlarmType_NOSPACE})}},
		{Cmd: &keelpb.Command_MemberAttributes{MemberAttributes: &keelpb.MemberAttributes{Id: 1, Name: "m"}}},
		{Cmd: &keelpb.Command_Noop{Noop: &keelpb.Noop{}}},
		{},
	}
	// The last seed is a Put with an empty key that used to panic in mvcc.
	seeds := [][]byte{nil, {0xff}, {0x0a, 0x05, 0xff}, []byte("\n\t10l\x18\a \xff\x00\x01")}
	for _, c := range cmds {
		seeds = append(seeds, mustMarshal(c))
	}
	return seeds
}

// FuzzApplyCommand feeds arbitrary bytes to the FSM as committed raft entries (on a member's
// storage without raft, so nothing else applies entries meanwhile). An entry a server may
// propose must apply without panicking, record its index as applied and never move the
// revision backwards; so must an entry the server's validation would have refused (the FSM
// refuses it too, the same way on every member); an undecodable one must stop the member
// with the documented poison-entry panic rather than be skipped.
func FuzzApplyCommand(f *testing.F) {
	for _, s := range fuzzSeeds() {
		f.Add(s)
	}
	n := newApplyOnlyNode(f)
	index := n.store.ConsistentIndex()
	f.Fuzz(func(t *testing.T, data []byte) {
		l := &raft.Log{Index: index + 1, Term: 1, Type: raft.LogCommand, Data: data}
		rev := n.store.Rev()
		switch classify(data) {
		case poison:
			defer func() {
				msg := fmt.Sprint(recover())
				if !strings.HasPrefix(msg, "raftstore: undecodable") && !strings.HasPrefix(msg, "raftstore: unknown raft command") {
					t.Fatalf("undecodable entry %x: panic %q, want the poison-entry panic", data, msg)
				}
			}()
			n.fsm.Apply(l)
			return
		}
		n.fsm.Apply(l)
		index++
		if got := n.store.ConsistentIndex(); got != index {
			t.Fatalf("applied index after entry %d: %d", index, got)
		}
		if got := n.store.Rev(); got < rev {
			t.Fatalf("revision went from %d to %d", rev, got)
		}
	})
}
