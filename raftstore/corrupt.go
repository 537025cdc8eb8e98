package raftstore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/hashicorp/raft"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
)

// Corruption detection, as etcd's (etcdserver/corrupt.go): members compare HashKV — a hash of
// the MVCC history in (compaction, revision] — at one revision. The initial check runs before
// a member serves clients and refuses to start it on a mismatch; the periodic check runs on
// the leader and raises a CORRUPT alarm through the log for the member whose hash differs.
// docs/RELIABILITY.md "Corruption checks".

// ErrCorrupt is returned for a write applied while a CORRUPT alarm is active: the entry is
// committed but changes nothing. The server maps it to etcd's "etcdserver: corrupt cluster"
// (codes.DataLoss).
var ErrCorrupt = errors.New("raftstore: corrupt cluster")

func init() { errorCodes["corrupt"] = ErrCorrupt }

// Corrupt reports whether a CORRUPT alarm of any member is active (as applied here): writes
// (puts, deletes, txns that write, compactions, lease grants and revokes) are then refused
// with ErrCorrupt on every member, as etcd's corrupt applier refuses them. Reads go on.
func (n *Node) Corrupt() bool {
	n.alarms.mu.Lock()
	defer n.alarms.mu.Unlock()
	n.ensureAlarmsLoadedLocked()
	for k := range n.alarms.active {
		if k.alarm == pb.AlarmType_CORRUPT {
			return true
		}
	}
	return false
}

// MemberHash is one member's HashKV: the hash of its history in (CompactRevision, Revision].
type MemberHash struct {
	ID              uint64
	Hash            uint32
	Revision        int64
	CompactRevision int64
}

// comparable reports whether two hashes cover the same history, so that they must be equal.
func (h MemberHash) comparable(o MemberHash) bool {
	return h.Revision == o.Revision && h.CompactRevision == o.CompactRevision
}

// initialMismatches is the initial check's verdict (etcd's): the peers whose hash at the
// local member's revision differs from the local one with the same compaction revision.
// Peers at another revision or compaction revision say nothing.
func initialMismatches(local MemberHash, peers []MemberHash) []uint64 {
	var out []uint64
	for _, p := range peers {
		if local.comparable(p) && p.Hash != local.Hash {
			out = append(out, p.ID)
		}
	}
	return out
}

// corruptMembers is the periodic check's verdict: the members to raise CORRUPT for, given the
// leader's hash and the peers' answers at the leader's revision, in a cluster of voters
// members. Only answers covering the leader's history (same revision and compaction
// revision) count. If a quorum of voters agrees on one hash, the members with another hash
// are corrupt — the leader among them, if it is in the minority. Without such a quorum the
// leader's hash is the reference, as in etcd's check: every member that differs from it.
func corruptMembers(voters int, leader MemberHash, peers []MemberHash) []uint64 {
	same := []MemberHash{leader}
	for _, p := range peers {
		if leader.comparable(p) {
			same = append(same, p)
		}
	}
	counts := map[uint32]int{}
	for _, m := range same {
		counts[m.Hash]++
	}
	if len(counts) < 2 {
		return nil
	}
	ref := leader.Hash
	for h, c := range counts {
		if c >= voters/2+1 {
			ref = h
		}
	}
	var out []uint64
	for _, m := range same {
		if m.Hash != ref {
			out = append(out, m.ID)
		}
	}
	slices.Sort(out)
	return out
}

// localHash hashes this member's history at rev (0: its current revision).
func (n *Node) localHash(rev int64) (MemberHash, error) {
	h, at, c, err := n.store.HashKV(rev)
	if err != nil {
		return MemberHash{}, fmt.Errorf("raftstore: hash: %w", err)
	}
	return MemberHash{ID: n.id, Hash: h, Revision: at, CompactRevision: c}, nil
}

// peerHashes asks every other member for its HashKV at rev over the peer transport (the
// Maintenance service the peer gRPC server carries). Members that do not answer, are behind
// (rev is in their future; with waitBehind, still after cfg.RequestTimeout) or have
// compacted past rev are logged and left out.
func (n *Node) peerHashes(ctx context.Context, rev int64, waitBehind bool) []MemberHash {
	f := n.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		n.log.Warn("hash check: reading the membership failed", "error", err)
		return nil
	}
	var out []MemberHash
	for _, s := range f.Configuration().Servers {
		id := parseServerID(s.ID)
		if id == n.id {
			continue
		}
		h, err := n.peerHash(ctx, s, rev, waitBehind)
		if err != nil {
			n.log.Warn("hash check: cannot fetch a peer's hash", "peer_id", fmt.Sprintf("%x", id),
				"revision", rev, "error", err)
			continue
		}
		out = append(out, h)
	}
	return out
}

// peerHash asks member s for its HashKV at rev. With waitBehind, a member that has not
// applied rev yet (a follower a few entries behind under write load) is asked again every
// heartbeat interval until it has or cfg.RequestTimeout passes, so that the periodic check
// compares the members that are merely lagging instead of skipping them.
func (n *Node) peerHash(ctx context.Context, s raft.Server, rev int64, waitBehind bool) (MemberHash, error) {
	ctx, cancel := context.WithTimeout(ctx, n.cfg.RequestTimeout)
	defer cancel()
	mc, err := n.peers.maintenance(string(s.Address))
	if err != nil {
		return MemberHash{}, err
	}
	for {
		resp, err := mc.HashKV(ctx, &pb.HashKVRequest{Revision: rev})
		if err == nil {
			return MemberHash{ID: parseServerID(s.ID), Hash: resp.Hash, Revision: resp.HashRevision,
				CompactRevision: resp.CompactRevision}, nil
		}
		if !waitBehind || !isFutureRev(err) {
			return MemberHash{}, err
		}
		t := time.NewTimer(n.cfg.HeartbeatInterval)
		select {
		case <-ctx.Done():
			t.Stop()
			return MemberHash{}, fmt.Errorf("still behind revision %d: %w", rev, err)
		case <-t.C:
		}
	}
}

// isFutureRev reports whether err is a peer's HashKV refusal of a revision it has not
// applied yet (etcd's ErrGRPCFutureRev, as a gRPC status).
func isFutureRev(err error) bool {
	return err != nil && rpctypes.ErrorDesc(err) == rpctypes.ErrorDesc(rpctypes.ErrGRPCFutureRev)
}

// InitialCorruptCheck compares this member's HashKV at its current revision with every
// peer's at that revision (etcd's --experimental-initial-corrupt-check), to be called after
// Open and before serving clients. It returns an error naming the peers if one answers with
// a different hash for the same history; peers that cannot answer are only logged.
func (n *Node) InitialCorruptCheck(ctx context.Context) error {
	local, err := n.localHash(0)
	if err != nil {
		return err
	}
	n.log.Info("initial corruption check", "revision", local.Revision, "compact_revision", local.CompactRevision)
	peers := n.peerHashes(ctx, local.Revision, false)
	bad := initialMismatches(local, peers)
	if len(bad) == 0 {
		n.log.Info("initial corruption check passed", "peers_checked", len(peers))
		return nil
	}
	ids := make([]string, len(bad))
	for i, id := range bad {
		ids[i] = fmt.Sprintf("%x", id)
	}
	return fmt.Errorf("raftstore: %x found data inconsistency with peers %v: hash at revision %d differs",
		n.id, ids, local.Revision)
}

// runCorruptCheck is the periodic check's loop: every cfg.CorruptCheckInterval the leader
// compares hashes and raises CORRUPT for the members that differ. It is re-raised after a
// disarm as long as the mismatch stays.
func (n *Node) runCorruptCheck() {
	t := time.NewTicker(n.cfg.CorruptCheckInterval)
	defer t.Stop()
	for {
		select {
		case <-n.stop:
			return
		case <-t.C:
		}
		if !n.IsLeader() {
			continue
		}
		if err := n.checkHashes(n.ctx); err != nil {
			n.log.Warn("corruption check failed", "error", err)
		}
	}
}

// checkHashes runs one periodic check (on the leader).
func (n *Node) checkHashes(ctx context.Context) error {
	leader, err := n.localHash(0)
	if err != nil {
		return err
	}
	peers := n.peerHashes(ctx, leader.Revision, true)
	bad := corruptMembers(n.voters(), leader, peers)
	n.metrics.hashChecks.Inc()
	if len(bad) == 0 {
		return nil
	}
	return n.raiseCorrupt(ctx, bad, leader.Revision, leader.CompactRevision)
}
