package raftstore

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"

	"github.com/hashicorp/raft"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"google.golang.org/protobuf/proto"

	keelpb "github.com/keeldb/keel/api/proto"
	"github.com/keeldb/keel/apply"
	"github.com/keeldb/keel/auth"
	"github.com/keeldb/keel/internal/failpoint"
	"github.com/keeldb/keel/mvcc"
)

// fsm is the thin raft.FSM adapter over the Node's apply methods.
type fsm struct{ n *Node }

// writeTxn is the mvcc write transaction the apply functions take.
type writeTxn = *mvcc.WriteTxn

var (
	_ raft.FSM         = (*fsm)(nil)
	_ raft.BatchingFSM = (*fsm)(nil)
)

func (f *fsm) Apply(l *raft.Log) any               { return f.n.applyLogs([]*raft.Log{l})[0] }
func (f *fsm) ApplyBatch(logs []*raft.Log) []any   { return f.n.applyLogs(logs) }
func (f *fsm) Snapshot() (raft.FSMSnapshot, error) { return &fsmSnapshot{n: f.n}, nil }
func (f *fsm) Restore(rc io.ReadCloser) error      { return f.n.restore(rc) }

// applyResult is what a proposal's future returns.
type applyResult struct {
	resp proto.Message
	err  error
}

// applyLogs applies committed entries in order. Entries at or below the store's persisted
// applied index were applied before a restart and are skipped.
func (n *Node) applyLogs(logs []*raft.Log) []any {
	out := make([]any, len(logs))
	for i, l := range logs {
		if l.Index <= n.store.ConsistentIndex() {
			continue
		}
		switch l.Type {
		case raft.LogCommand:
			out[i] = n.applyCommand(l)
		default:
			// Configuration changes live in raft's own log; recording the index keeps the
			// persisted applied index contiguous.
			n.store.Write(l.Index).End()
		}
		n.metrics.applied.Inc()
	}
	if len(logs) > 0 {
		n.applied.set(logs[len(logs)-1].Index)
	}
	return out
}

// applyLimits are the limits the FSM re-checks requests with. Servers validate a request
// against their configured limits before proposing it; the FSM checks again what does not
// depend on configuration (empty keys, duplicate keys, malformed ops) so that an entry no
// server should have proposed is refused the same way on every member instead of panicking
// in mvcc. The op-count limit is a server setting that may differ between members, so here
// it is effectively unlimited.
var applyLimits = apply.Limits{MaxTxnOps: math.MaxInt32}

func (n *Node) applyCommand(l *raft.Log) *applyResult {
	var cmd keelpb.Command
	if err := proto.Unmarshal(l.Data, &cmd); err != nil {
		// Every member would fail the same way; diverging silently is worse than stopping.
		panic(fmt.Sprintf("raftstore: undecodable raft entry at index %d: %v", l.Index, err))
	}
	switch c := cmd.Cmd.(type) {
	case *keelpb.Command_Put:
		var r pb.PutRequest
		mustUnmarshal(c.Put, &r, l.Index)
		if err := apply.ValidatePut(&r); err != nil {
			return n.refuse(l.Index, err) // see applyLimits
		}
		if err := n.authorizePut(cmd.AuthInfo, &r); err != nil {
			return n.refuse(l.Index, err)
		}
		if n.Corrupt() {
			return n.refuse(l.Index, ErrCorrupt)
		}
		if n.NoSpace() {
			return n.refuse(l.Index, ErrNoSpace)
		}
		defer n.checkQuota()
		return n.applyWrite(l.Index, func(w writeTxn) (proto.Message, error) { return apply.Put(w, n.lessor, &r) })
	case *keelpb.Command_DeleteRange:
		var r pb.DeleteRangeRequest
		mustUnmarshal(c.DeleteRange, &r, l.Index)
		if err := apply.ValidateDeleteRange(&r); err != nil {
			return n.refuse(l.Index, err)
		}
		if err := n.authorize(cmd.AuthInfo, func(i auth.Info) error { return n.auth.CheckDeleteRange(i, &r) }); err != nil {
			return n.refuse(l.Index, err)
		}
		if n.Corrupt() {
			return n.refuse(l.Index, ErrCorrupt)
		}
		return n.applyWrite(l.Index, func(w writeTxn) (proto.Message, error) { return apply.DeleteRange(w, &r) })
	case *keelpb.Command_Txn:
		var r pb.TxnRequest
		mustUnmarshal(c.Txn, &r, l.Index)
		if err := apply.ValidateTxn(&r, applyLimits); err != nil {
			return n.refuse(l.Index, err)
		}
		if err := n.authorize(cmd.AuthInfo, func(i auth.Info) error { return n.auth.CheckTxn(i, &r) }); err != nil {
			return n.refuse(l.Index, err)
		}
		if n.Corrupt() {
			// Only txns that write are proposed (servers answer read-only ones locally).
			return n.refuse(l.Index, ErrCorrupt)
		}
		if TxnHasPut(&r) {
			// While NOSPACE is active only txns that cannot put (deletes, reads) go on.
			if n.NoSpace() {
				return n.refuse(l.Index, ErrNoSpace)
			}
			defer n.checkQuota()
		}
		return n.applyWrite(l.Index, func(w writeTxn) (proto.Message, error) { return apply.Txn(w, n.lessor, &r) })
	case *keelpb.Command_Compaction:
		// Cheap: the store raises its compaction revision and its compactor goroutine does
		// the work in the background (mvcc logs both).
		var r pb.CompactionRequest
		mustUnmarshal(c.Compaction, &r, l.Index)
		if n.Corrupt() {
			return n.refuse(l.Index, ErrCorrupt)
		}
		if err := n.store.Compact(l.Index, r.Revision); err != nil {
			return &applyResult{err: err}
		}
		return &applyResult{resp: &pb.CompactionResponse{Header: &pb.ResponseHeader{Revision: n.store.Rev()}}}
	case *keelpb.Command_MemberAttributes:
		w := n.store.Write(l.Index)
		w.SetAux(bucketMembers, beAppend(nil, c.MemberAttributes.Id), mustMarshal(c.MemberAttributes))
		w.End()
		return &applyResult{}
	case *keelpb.Command_LeaseGrant:
		var r pb.LeaseGrantRequest
		mustUnmarshal(c.LeaseGrant, &r, l.Index)
		if n.Corrupt() {
			return n.refuse(l.Index, ErrCorrupt)
		}
		if n.NoSpace() {
			return n.refuse(l.Index, ErrNoSpace)
		}
		defer n.checkQuota()
		return n.applyLeaseGrant(l.Index, &r)
	case *keelpb.Command_LeaseRevoke:
		var r pb.LeaseRevokeRequest
		mustUnmarshal(c.LeaseRevoke, &r, l.Index)
		if n.Corrupt() {
			return n.refuse(l.Index, ErrCorrupt)
		}
		if err := n.authorize(cmd.AuthInfo, func(i auth.Info) error { return n.authorizeLeaseKeys(i, r.ID) }); err != nil {
			return n.refuse(l.Index, err)
		}
		return n.applyLeaseRevoke(l.Index, &r)
	case *keelpb.Command_LeaseRevokes:
		// Expiry deletes keys: refused under CORRUPT like a client's revoke (etcd's corrupt
		// applier refuses the lessor's revokes too); the leases are reported again later.
		if n.Corrupt() {
			return n.refuse(l.Index, ErrCorrupt)
		}
		return n.applyLeaseRevokes(l.Index, c.LeaseRevokes)
	case *keelpb.Command_LeaseCheckpoints:
		return n.applyLeaseCheckpoints(l.Index, c.LeaseCheckpoints)
	case *keelpb.Command_Alarm:
		var r pb.AlarmRequest
		mustUnmarshal(c.Alarm, &r, l.Index)
		return n.applyAlarm(l.Index, &r)
	case *keelpb.Command_Auth:
		return n.applyAuth(l.Index, c.Auth)
	case *keelpb.Command_Noop:
		n.store.Write(l.Index).End()
		return &applyResult{}
	default:
		panic(fmt.Sprintf("raftstore: unknown raft command at index %d", l.Index))
	}
}

// refuse records index without changing anything and returns err as the entry's outcome.
func (n *Node) refuse(index uint64, err error) *applyResult {
	n.store.Write(index).End()
	return &applyResult{err: err}
}

// applyWrite runs one request in one mvcc write transaction. A refused request (its error
// is returned before anything is written) still records the index.
func (n *Node) applyWrite(index uint64, f func(w writeTxn) (proto.Message, error)) *applyResult {
	w := n.store.Write(index)
	resp, err := f(w)
	n.publish(w.End())
	return &applyResult{resp: resp, err: err}
}

// publish hands a revision's events to the lessor's key tracking and to the subscriber.
func (n *Node) publish(evs []mvccpb.Event) {
	if len(evs) == 0 {
		return
	}
	n.trackLeases(evs)
	n.subMu.Lock()
	defer n.subMu.Unlock()
	if n.onEvents != nil {
		n.onEvents(n.store.Rev(), evs)
	}
}

// Subscribe registers the (single) receiver of applied events and of snapshot restores, and
// returns the store revision at registration: every revision after it is delivered to
// onEvents, in order, on the apply goroutine; onEvents must not block.
func (n *Node) Subscribe(onEvents func(rev int64, evs []mvccpb.Event), onRestore func(rev int64)) int64 {
	n.subMu.Lock()
	defer n.subMu.Unlock()
	n.onEvents, n.onRestore = onEvents, onRestore
	return n.store.Rev()
}

func (n *Node) restore(rc io.ReadCloser) error {
	defer rc.Close()
	restored, err := n.store.RestoreNewer(rc)
	if err != nil {
		return fmt.Errorf("raftstore: restore snapshot: %w", err)
	}
	if !restored {
		// The backend already holds everything the snapshot does (see RestoreNewer); raft
		// now sends the entries after the snapshot's index and applyLogs skips those the
		// backend has applied.
		return nil
	}
	n.applied.set(n.store.ConsistentIndex())
	n.resetAlarms()
	if err := n.rebuildLessor(); err != nil {
		return fmt.Errorf("raftstore: reload leases: %w", err)
	}
	if err := n.loadAuth(); err != nil {
		return err
	}
	if n.lessor.Primary() {
		n.lessor.Promote(n.cfg.ElectionTimeout)
	}
	n.subMu.Lock()
	if n.onRestore != nil {
		n.onRestore(n.store.Rev())
	}
	n.subMu.Unlock()
	n.log.Info("restored snapshot", "applied_index", n.store.ConsistentIndex(), "revision", n.store.Rev())
	return nil
}

// fsmSnapshot streams a consistent copy of the mvcc backend. The copy may be newer than the
// raft index the snapshot is labelled with; that is safe because the copy carries its own
// applied index and newer entries are skipped when re-applied.
type fsmSnapshot struct{ n *Node }

func (s *fsmSnapshot) Persist(sink raft.SnapshotSink) error {
	failpoint.Inject(failpoint.RaftBeforeSaveSnap)
	if _, err := s.n.store.Snapshot(sink); err != nil {
		_ = sink.Cancel()
		return fmt.Errorf("raftstore: write snapshot: %w", err)
	}
	failpoint.Inject(failpoint.RaftAfterSaveSnap)
	return sink.Close()
}

func (s *fsmSnapshot) Release() {}

func mustMarshal(m proto.Message) []byte {
	b, err := proto.Marshal(m)
	if err != nil {
		panic(fmt.Sprintf("raftstore: marshal %T: %v", m, err))
	}
	return b
}

func mustUnmarshal(b []byte, m proto.Message, index uint64) {
	if err := proto.Unmarshal(b, m); err != nil {
		panic(fmt.Sprintf("raftstore: undecodable %T at index %d: %v", m, index, err))
	}
}

func beAppend(b []byte, v uint64) []byte { return binary.BigEndian.AppendUint64(b, v) }
func beUint64(b []byte) uint64           { return binary.BigEndian.Uint64(b) }
