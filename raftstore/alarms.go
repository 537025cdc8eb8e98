package raftstore

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"

	keelpb "github.com/keeldb/keel/api/proto"
)

// ErrNoSpace is returned for a write (Put, Txn with a put, LeaseGrant) applied while a NOSPACE
// alarm is active: the entry is committed but changes nothing. The server maps it to etcd's
// "etcdserver: mvcc: database space exceeded".
var ErrNoSpace = errors.New("raftstore: database space exceeded")

func init() { errorCodes["no_space"] = ErrNoSpace }

// bucketAlarms holds the active alarms (replicated, part of snapshots): one key per alarm,
// the 8-byte big-endian member ID followed by the 4-byte big-endian alarm type, with an
// empty value.
var bucketAlarms = []byte("alarms")

// alarmKey identifies one active alarm.
type alarmKey struct {
	member uint64
	alarm  pb.AlarmType
}

func (k alarmKey) bytes() []byte {
	return binary.BigEndian.AppendUint32(beAppend(nil, k.member), uint32(k.alarm))
}

func parseAlarmKey(b []byte) (alarmKey, bool) {
	if len(b) != 12 {
		return alarmKey{}, false
	}
	return alarmKey{member: beUint64(b), alarm: pb.AlarmType(binary.BigEndian.Uint32(b[8:]))}, true
}

// alarmState is a Node's view of the cluster's alarms and its own backend quota.
type alarmState struct {
	// mu guards active and loaded. active mirrors bucketAlarms; it is loaded from the store
	// on first use and again after a snapshot restore (loaded false).
	mu     sync.Mutex
	active map[alarmKey]struct{}
	loaded bool

	quota   atomic.Int64 // backend quota in bytes; 0 disables the apply-time check
	raising atomic.Bool  // a NOSPACE activation for this member is being proposed
}

// ensureAlarmsLoadedLocked reads the active alarms from the store if needed.
// requires n.alarms.mu held
func (n *Node) ensureAlarmsLoadedLocked() {
	a := &n.alarms
	if a.loaded {
		return
	}
	a.active = make(map[alarmKey]struct{})
	err := n.store.ForEachAux(bucketAlarms, func(k, _ []byte) error {
		if key, ok := parseAlarmKey(k); ok {
			a.active[key] = struct{}{}
		}
		return nil
	})
	if err != nil {
		n.log.Warn("loading alarms failed", "error", err)
		return
	}
	a.loaded = true
}

// resetAlarms makes the next use reload the alarms (after the store was replaced).
func (n *Node) resetAlarms() {
	n.alarms.mu.Lock()
	n.alarms.loaded = false
	n.alarms.mu.Unlock()
}

// Alarms returns the active alarms of every member, ordered by member ID and alarm type,
// as this member has applied them.
func (n *Node) Alarms() []*pb.AlarmMember {
	n.alarms.mu.Lock()
	defer n.alarms.mu.Unlock()
	n.ensureAlarmsLoadedLocked()
	keys := make([]alarmKey, 0, len(n.alarms.active))
	for k := range n.alarms.active {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b alarmKey) int {
		if a.member != b.member {
			if a.member < b.member {
				return -1
			}
			return 1
		}
		return int(a.alarm) - int(b.alarm)
	})
	out := make([]*pb.AlarmMember, len(keys))
	for i, k := range keys {
		out[i] = &pb.AlarmMember{MemberID: k.member, Alarm: k.alarm}
	}
	return out
}

// NoSpace reports whether a NOSPACE alarm of any member is active (as applied here): writes
// other than deletes and compactions are then refused.
func (n *Node) NoSpace() bool {
	n.alarms.mu.Lock()
	defer n.alarms.mu.Unlock()
	n.ensureAlarmsLoadedLocked()
	for k := range n.alarms.active {
		if k.alarm == pb.AlarmType_NOSPACE {
			return true
		}
	}
	return false
}

func (n *Node) hasAlarm(k alarmKey) bool {
	n.alarms.mu.Lock()
	defer n.alarms.mu.Unlock()
	n.ensureAlarmsLoadedLocked()
	_, ok := n.alarms.active[k]
	return ok
}

// Alarm serves etcd's Maintenance.Alarm: GET lists the active alarms (of type r.Alarm, or all
// for NONE) after a linearizable barrier; ACTIVATE and DEACTIVATE go through the raft log and
// return the alarm they changed (none if it was already in that state).
func (n *Node) Alarm(ctx context.Context, r *pb.AlarmRequest) (*pb.AlarmResponse, error) {
	switch r.Action {
	case pb.AlarmRequest_GET:
		if err := n.LinearizableBarrier(ctx); err != nil {
			return nil, err
		}
		resp := &pb.AlarmResponse{}
		for _, a := range n.Alarms() {
			if r.Alarm == pb.AlarmType_NONE || a.Alarm == r.Alarm {
				resp.Alarms = append(resp.Alarms, a)
			}
		}
		return resp, nil
	case pb.AlarmRequest_ACTIVATE, pb.AlarmRequest_DEACTIVATE:
		req := &pb.AlarmRequest{Action: r.Action, MemberID: r.MemberID, Alarm: r.Alarm}
		return proposeAs(ctx, n, &keelpb.Command{Cmd: &keelpb.Command_Alarm{Alarm: mustMarshal(req)}},
			new(pb.AlarmResponse))
	default:
		return nil, fmt.Errorf("raftstore: unknown alarm action %v", r.Action)
	}
}

// applyAlarm activates or deactivates one alarm, in the store and in the cache.
func (n *Node) applyAlarm(index uint64, r *pb.AlarmRequest) *applyResult {
	w := n.store.Write(index)
	defer w.End()
	resp := &pb.AlarmResponse{Header: &pb.ResponseHeader{Revision: n.store.Rev()}}
	if r.Alarm == pb.AlarmType_NONE {
		return &applyResult{resp: resp}
	}
	k := alarmKey{member: r.MemberID, alarm: r.Alarm}
	n.alarms.mu.Lock()
	defer n.alarms.mu.Unlock()
	n.ensureAlarmsLoadedLocked()
	_, active := n.alarms.active[k]
	switch {
	case r.Action == pb.AlarmRequest_ACTIVATE && !active:
		n.alarms.active[k] = struct{}{}
		w.SetAux(bucketAlarms, k.bytes(), nil)
		n.log.Warn("alarm raised", "alarm", r.Alarm.String(), "alarm_member_id", fmt.Sprintf("%x", r.MemberID))
	case r.Action == pb.AlarmRequest_DEACTIVATE && active:
		delete(n.alarms.active, k)
		w.DeleteAux(bucketAlarms, k.bytes())
		n.log.Warn("alarm cleared", "alarm", r.Alarm.String(), "alarm_member_id", fmt.Sprintf("%x", r.MemberID))
	default:
		return &applyResult{resp: resp}
	}
	resp.Alarms = []*pb.AlarmMember{{MemberID: r.MemberID, Alarm: r.Alarm}}
	return &applyResult{resp: resp}
}

// TxnHasPut reports whether a txn may put a key: a put in either branch, at any nesting depth.
func TxnHasPut(r *pb.TxnRequest) bool {
	for _, branch := range [][]*pb.RequestOp{r.Success, r.Failure} {
		for _, op := range branch {
			switch {
			case op.GetRequestPut() != nil:
				return true
			case op.GetRequestTxn() != nil && TxnHasPut(op.GetRequestTxn()):
				return true
			}
		}
	}
	return false
}

// SetBackendQuota sets the backend size (bytes) at or above which applying a write raises a
// NOSPACE alarm for this member through the log (etcd's apply-time quota check, which only
// raises the alarm: backend sizes differ between members, so the write itself is applied).
// 0 disables the check.
func (n *Node) SetBackendQuota(bytes int64) { n.alarms.quota.Store(bytes) }

// BackendQuota returns the quota SetBackendQuota set (0 if none).
func (n *Node) BackendQuota() int64 { return n.alarms.quota.Load() }

// checkQuota raises this member's NOSPACE alarm in the background if its backend has reached
// the quota. Called on the apply goroutine after a write; it never blocks.
func (n *Node) checkQuota() {
	q := n.alarms.quota.Load()
	if q <= 0 || n.store.BackendSize() < q {
		return
	}
	k := alarmKey{member: n.id, alarm: pb.AlarmType_NOSPACE}
	if n.hasAlarm(k) || !n.alarms.raising.CompareAndSwap(false, true) {
		return
	}
	n.goFunc(func() {
		defer n.alarms.raising.Store(false)
		ctx, cancel := context.WithTimeout(context.Background(), n.cfg.RequestTimeout)
		defer cancel()
		go func() {
			select {
			case <-n.stop:
				cancel()
			case <-ctx.Done():
			}
		}()
		n.log.Warn("backend quota reached", "size", n.store.BackendSize(), "quota", q)
		if _, err := n.Alarm(ctx, &pb.AlarmRequest{Action: pb.AlarmRequest_ACTIVATE, MemberID: n.id,
			Alarm: pb.AlarmType_NOSPACE}); err != nil {
			n.log.Warn("raising the NOSPACE alarm failed", "error", err)
		}
	})
}
