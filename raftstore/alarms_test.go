package raftstore_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"

	"github.com/keeldb/keel/raftstore"
)

func alarmList(n *raftstore.Node) string {
	s := ""
	for _, a := range n.Alarms() {
		s += fmt.Sprintf("%x:%s,", a.MemberID, a.Alarm)
	}
	return s
}

func TestNoSpaceAlarmRefusesWritesButNotDeletes(t *testing.T) {
	c := newCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	l := c.leader(t)
	f := c.follower(t)
	if _, err := put(ctx, c.nodes[l], "a", "1"); err != nil {
		t.Fatal(err)
	}
	if _, err := put(ctx, c.nodes[l], "b", "2"); err != nil {
		t.Fatal(err)
	}
	grant, err := c.nodes[l].LeaseGrant(ctx, &pb.LeaseGrantRequest{TTL: 60})
	if err != nil {
		t.Fatal(err)
	}

	// Activated through a follower for the leader's member ID.
	target := c.nodes[l].ID()
	resp, err := c.nodes[f].Alarm(ctx, &pb.AlarmRequest{Action: pb.AlarmRequest_ACTIVATE, MemberID: target, Alarm: pb.AlarmType_NOSPACE})
	if err != nil {
		t.Fatalf("activate: %v", err)
	}
	if len(resp.Alarms) != 1 || resp.Alarms[0].MemberID != target {
		t.Fatalf("activate response = %v, want the new alarm", resp.Alarms)
	}
	// Activating again changes nothing.
	resp, err = c.nodes[l].Alarm(ctx, &pb.AlarmRequest{Action: pb.AlarmRequest_ACTIVATE, MemberID: target, Alarm: pb.AlarmType_NOSPACE})
	if err != nil || len(resp.Alarms) != 0 {
		t.Fatalf("second activate = %v, %v; want no change", resp, err)
	}
	want := fmt.Sprintf("%x:NOSPACE,", target)
	for i, n := range c.nodes {
		got, err := n.Alarm(ctx, &pb.AlarmRequest{Action: pb.AlarmRequest_GET})
		if err != nil || len(got.Alarms) != 1 || got.Alarms[0].MemberID != target || got.Alarms[0].Alarm != pb.AlarmType_NOSPACE {
			t.Fatalf("member %d: GET = %v, %v; want %s", i, got, err, want)
		}
		if got := alarmList(n); got != want {
			t.Fatalf("member %d: alarms %q, want %q", i, got, want)
		}
	}

	putTxn := &pb.TxnRequest{Success: []*pb.RequestOp{{Request: &pb.RequestOp_RequestPut{RequestPut: &pb.PutRequest{Key: []byte("c"), Value: []byte("3")}}}}}
	nestedPut := &pb.TxnRequest{Failure: []*pb.RequestOp{{Request: &pb.RequestOp_RequestTxn{RequestTxn: putTxn}}}}
	delTxn := &pb.TxnRequest{Success: []*pb.RequestOp{{Request: &pb.RequestOp_RequestDeleteRange{RequestDeleteRange: &pb.DeleteRangeRequest{Key: []byte("b")}}}}}
	for _, i := range []int{l, f} {
		n := c.nodes[i]
		if _, err := put(ctx, n, "c", "3"); !errors.Is(err, raftstore.ErrNoSpace) {
			t.Errorf("member %d: put under NOSPACE = %v, want ErrNoSpace", i, err)
		}
		if _, err := n.Txn(ctx, putTxn); !errors.Is(err, raftstore.ErrNoSpace) {
			t.Errorf("member %d: txn with a put = %v, want ErrNoSpace", i, err)
		}
		if _, err := n.Txn(ctx, nestedPut); !errors.Is(err, raftstore.ErrNoSpace) {
			t.Errorf("member %d: txn with a nested put = %v, want ErrNoSpace", i, err)
		}
		if _, err := n.LeaseGrant(ctx, &pb.LeaseGrantRequest{TTL: 60}); !errors.Is(err, raftstore.ErrNoSpace) {
			t.Errorf("member %d: lease grant = %v, want ErrNoSpace", i, err)
		}
	}
	if _, err := c.nodes[f].Txn(ctx, delTxn); err != nil {
		t.Errorf("delete-only txn under NOSPACE: %v", err)
	}
	if _, err := c.nodes[f].DeleteRange(ctx, &pb.DeleteRangeRequest{Key: []byte("a")}); err != nil {
		t.Errorf("delete under NOSPACE: %v", err)
	}
	if _, err := c.nodes[f].LeaseRevoke(ctx, &pb.LeaseRevokeRequest{ID: grant.ID}); err != nil {
		t.Errorf("lease revoke under NOSPACE: %v", err)
	}
	if _, err := c.nodes[f].Compact(ctx, &pb.CompactionRequest{Revision: c.nodes[f].Store().Rev()}); err != nil {
		t.Errorf("compact under NOSPACE: %v", err)
	}
	if r := get(t, c.nodes[f], "c", false); len(r.Kvs) != 0 {
		t.Errorf("refused put is visible: %v", r.Kvs)
	}

	// The alarm survives a restart (it is replicated state in the store).
	c.stop(f)
	c.start(f)
	eventually(t, 10*time.Second, func() error {
		if got := alarmList(c.nodes[f]); got != want {
			return fmt.Errorf("restarted member: alarms %q, want %q", got, want)
		}
		return nil
	})

	resp, err = c.nodes[f].Alarm(ctx, &pb.AlarmRequest{Action: pb.AlarmRequest_DEACTIVATE, MemberID: target, Alarm: pb.AlarmType_NOSPACE})
	if err != nil || len(resp.Alarms) != 1 {
		t.Fatalf("deactivate = %v, %v; want the cleared alarm", resp, err)
	}
	l = c.leader(t)
	for i, n := range c.nodes {
		if _, err := put(ctx, n, fmt.Sprint("after", i), "x"); err != nil {
			t.Errorf("member %d: put after disarm: %v", i, err)
		}
	}
	eventually(t, 10*time.Second, func() error {
		for i, n := range c.nodes {
			if got := alarmList(n); got != "" {
				return fmt.Errorf("member %d: alarms after disarm %q", i, got)
			}
		}
		return nil
	})
	// Every member refused and applied the same entries.
	rev := c.nodes[l].Store().Rev()
	eventually(t, 10*time.Second, func() error {
		var hashes []uint32
		for _, n := range c.nodes {
			h, _, _, err := n.Store().HashKV(rev)
			if err != nil {
				return err
			}
			hashes = append(hashes, h)
		}
		if hashes[0] != hashes[1] || hashes[1] != hashes[2] {
			return fmt.Errorf("HashKV differs: %v", hashes)
		}
		return nil
	})
}

func TestBackendQuotaRaisesNoSpaceAtApply(t *testing.T) {
	c := newCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	f := c.follower(t)
	// Any backend is bigger than one byte: the next applied write raises the follower's alarm.
	c.nodes[f].SetBackendQuota(1)
	if _, err := put(ctx, c.nodes[c.leader(t)], "k", "v"); err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("%x:NOSPACE,", c.nodes[f].ID())
	eventually(t, 10*time.Second, func() error {
		for i, n := range c.nodes {
			if got := alarmList(n); got != want {
				return fmt.Errorf("member %d: alarms %q, want %q", i, got, want)
			}
		}
		return nil
	})
	if _, err := put(ctx, c.nodes[c.leader(t)], "k2", "v"); !errors.Is(err, raftstore.ErrNoSpace) {
		t.Fatalf("put after the alarm = %v, want ErrNoSpace", err)
	}
}

// TestCorruptAlarmRefusesWrites: while a CORRUPT alarm is active every member refuses puts,
// deletes, writing txns, compactions and lease grants and revokes with ErrCorrupt (etcd's
// corrupt applier); reads go on, and a disarm lets writes through again.
func TestCorruptAlarmRefusesWrites(t *testing.T) {
	c := newCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	l := c.leader(t)
	if _, err := put(ctx, c.nodes[l], "a", "1"); err != nil {
		t.Fatal(err)
	}
	grant, err := c.nodes[l].LeaseGrant(ctx, &pb.LeaseGrantRequest{TTL: 60})
	if err != nil {
		t.Fatal(err)
	}
	target := c.nodes[c.follower(t)].ID()
	if _, err := c.nodes[l].Alarm(ctx, &pb.AlarmRequest{Action: pb.AlarmRequest_ACTIVATE, MemberID: target,
		Alarm: pb.AlarmType_CORRUPT}); err != nil {
		t.Fatalf("activate: %v", err)
	}
	want := fmt.Sprintf("%x:CORRUPT,", target)
	for i, n := range c.nodes {
		if _, err := n.Alarm(ctx, &pb.AlarmRequest{Action: pb.AlarmRequest_GET}); err != nil {
			t.Fatal(err)
		}
		if got := alarmList(n); got != want || !n.Corrupt() {
			t.Fatalf("member %d: alarms %q (Corrupt %v), want %q", i, got, n.Corrupt(), want)
		}
		writes := map[string]func() error{
			"put": func() error { _, err := put(ctx, n, "b", "2"); return err },
			"delete": func() error {
				_, err := n.DeleteRange(ctx, &pb.DeleteRangeRequest{Key: []byte("a")})
				return err
			},
			"txn": func() error {
				_, err := n.Txn(ctx, &pb.TxnRequest{Success: []*pb.RequestOp{{Request: &pb.RequestOp_RequestDeleteRange{
					RequestDeleteRange: &pb.DeleteRangeRequest{Key: []byte("a")}}}}})
				return err
			},
			"compact":      func() error { _, err := n.Compact(ctx, &pb.CompactionRequest{Revision: 1}); return err },
			"lease grant":  func() error { _, err := n.LeaseGrant(ctx, &pb.LeaseGrantRequest{TTL: 60}); return err },
			"lease revoke": func() error { _, err := n.LeaseRevoke(ctx, &pb.LeaseRevokeRequest{ID: grant.ID}); return err },
		}
		for name, w := range writes {
			if err := w(); !errors.Is(err, raftstore.ErrCorrupt) {
				t.Errorf("member %d: %s under CORRUPT = %v, want ErrCorrupt", i, name, err)
			}
		}
		if kvs := n.Store().Read(); kvs == nil {
			t.Fatalf("member %d: no read view", i)
		} else {
			kvs.End()
		}
	}
	if _, err := c.nodes[l].Alarm(ctx, &pb.AlarmRequest{Action: pb.AlarmRequest_DEACTIVATE, MemberID: target,
		Alarm: pb.AlarmType_CORRUPT}); err != nil {
		t.Fatalf("deactivate: %v", err)
	}
	if _, err := put(ctx, c.nodes[l], "b", "2"); err != nil {
		t.Fatalf("put after disarm: %v", err)
	}
}
