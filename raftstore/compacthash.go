package raftstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/raft"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"google.golang.org/grpc"
)

// The compaction-time hash check (etcd's --experimental-compact-hash-check-enabled): every
// member's compactor records the HashKV of the history each compaction erases
// (mvcc.Store.CompactHashes); every cfg.CompactHashCheckInterval the leader compares its
// newest record with the members' records of the same compaction and raises CORRUPT for those
// that differ, as the periodic check does. It finds a corruption of history that is compacted
// away before a periodic check could see it. docs/RELIABILITY.md "Corruption checks".

// compactHashMethod is the peer RPC a member answers with its record of one compaction. It is
// declared by hand (no Keel proto): the request and response are etcd's HashKVRequest and
// HashKVResponse, Revision naming the compaction revision; a response with HashRevision 0
// means the member kept no record of it.
const compactHashMethod = "/keel.CompactHash/Get"

// RegisterCompactHashService registers the compaction-hash peer RPC of this member on the
// peer gRPC server g.
func (n *Node) RegisterCompactHashService(g grpc.ServiceRegistrar) {
	g.RegisterService(&grpc.ServiceDesc{
		ServiceName: "keel.CompactHash",
		HandlerType: (*any)(nil),
		Methods: []grpc.MethodDesc{{MethodName: "Get", Handler: func(_ any, _ context.Context, dec func(any) error,
			_ grpc.UnaryServerInterceptor) (any, error) {
			var req pb.HashKVRequest
			if err := dec(&req); err != nil {
				return nil, err
			}
			resp := &pb.HashKVResponse{Header: &pb.ResponseHeader{MemberId: n.id}}
			if h, ok := n.store.CompactHashAt(req.Revision); ok {
				resp.Hash, resp.HashRevision, resp.CompactRevision = h.Hash, h.Revision, h.CompactRevision
			}
			return resp, nil
		}}},
	}, n)
}

// peerCompactHash asks member s for its record of the compaction to rev; ok is false if it
// kept none.
func (n *Node) peerCompactHash(ctx context.Context, s raft.Server, rev int64) (h MemberHash, ok bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, n.cfg.RequestTimeout)
	defer cancel()
	conn, err := n.peers.conn(string(s.Address))
	if err != nil {
		return MemberHash{}, false, err
	}
	var resp pb.HashKVResponse
	if err := conn.Invoke(ctx, compactHashMethod, &pb.HashKVRequest{Revision: rev}, &resp); err != nil {
		return MemberHash{}, false, err
	}
	if resp.HashRevision == 0 {
		return MemberHash{}, false, nil
	}
	return MemberHash{ID: parseServerID(s.ID), Hash: resp.Hash, Revision: resp.HashRevision,
		CompactRevision: resp.CompactRevision}, true, nil
}

// runCompactHashCheck is the compaction-hash check's loop (on the leader).
func (n *Node) runCompactHashCheck() {
	t := time.NewTicker(n.cfg.CompactHashCheckInterval)
	defer t.Stop()
	var checked int64 // the newest compaction revision compared with every member
	for {
		select {
		case <-n.stop:
			return
		case <-t.C:
		}
		if !n.IsLeader() {
			continue
		}
		rev, err := n.checkCompactHashes(n.ctx, checked)
		if err != nil {
			n.log.Warn("compaction hash check failed", "error", err)
		}
		checked = max(checked, rev)
	}
}

// checkCompactHashes compares this member's compaction records newer than checked, newest
// first, with every other member's, until one is compared with all of them; it raises CORRUPT
// for the members that differ. It returns the revision compared with all (0 if none).
func (n *Node) checkCompactHashes(ctx context.Context, checked int64) (int64, error) {
	f := n.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return 0, raftError(err)
	}
	servers := f.Configuration().Servers
	for _, own := range n.store.CompactHashes() {
		if own.Revision <= checked {
			return 0, nil
		}
		leader := MemberHash{ID: n.id, Hash: own.Hash, Revision: own.Revision, CompactRevision: own.CompactRevision}
		var peers []MemberHash
		for _, s := range servers {
			if parseServerID(s.ID) == n.id {
				continue
			}
			h, ok, err := n.peerCompactHash(ctx, s, own.Revision)
			if err != nil {
				n.log.Warn("compaction hash check: cannot fetch a peer's record", "peer_id", string(s.ID),
					"revision", own.Revision, "error", err)
			}
			if ok && leader.comparable(h) {
				peers = append(peers, h)
			}
		}
		n.metrics.hashChecks.Inc()
		if bad := corruptMembers(n.voters(), leader, peers); len(bad) > 0 {
			// Not marked checked: the next round raises it again after a disarm.
			return 0, n.raiseCorrupt(ctx, bad, own.Revision, own.CompactRevision)
		}
		if len(peers) == len(servers)-1 {
			return own.Revision, nil
		}
	}
	return 0, nil
}

// raiseCorrupt proposes a CORRUPT alarm for each member of bad, found by a check at rev.
func (n *Node) raiseCorrupt(ctx context.Context, bad []uint64, rev, compactRev int64) error {
	var errs []error
	for _, id := range bad {
		n.log.Error("corruption check: hash mismatch, raising CORRUPT", "alarm_member_id", fmt.Sprintf("%x", id),
			"revision", rev, "compact_revision", compactRev)
		n.metrics.hashMismatches.Inc()
		ctx, cancel := context.WithTimeout(ctx, n.cfg.RequestTimeout)
		_, err := n.Alarm(ctx, &pb.AlarmRequest{Action: pb.AlarmRequest_ACTIVATE, MemberID: id, Alarm: pb.AlarmType_CORRUPT})
		cancel()
		if err != nil {
			errs = append(errs, fmt.Errorf("raise CORRUPT for %x: %w", id, err))
		}
	}
	return errors.Join(errs...)
}
