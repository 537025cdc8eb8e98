package server

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"os"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/keeldb/keel/raftstore"
)

type maintenanceServer struct {
	pb.UnimplementedMaintenanceServer
	s *Server
}

// Status describes this member; it works without a leader and on learners.
func (m *maintenanceServer) Status(ctx context.Context, _ *pb.StatusRequest) (*pb.StatusResponse, error) {
	n := m.s.node
	size, inUse := n.Store().Size()
	resp := &pb.StatusResponse{
		Header:           m.s.header(),
		Version:          Version,
		DbSize:           size,
		DbSizeInUse:      inUse,
		Leader:           n.Leader(),
		RaftIndex:        n.CommitIndex(),
		RaftTerm:         n.Term(),
		RaftAppliedIndex: n.AppliedIndex(),
		IsLearner:        n.IsLearner(),
		DbSizeQuota:      m.s.cfg.QuotaBackendBytes,
		StorageVersion:   "3.6.0",
		DowngradeInfo:    &pb.DowngradeInfo{},
	}
	if resp.Leader == 0 {
		resp.Errors = append(resp.Errors, rpctypes.ErrNoLeader.Error()) // the bare message, as etcd
	}
	for _, a := range n.Alarms() {
		resp.Errors = append(resp.Errors, alarmString(a))
	}
	return resp, nil
}

// alarmString formats an alarm as etcd's Status errors list it.
func alarmString(a *pb.AlarmMember) string {
	return fmt.Sprintf("memberID:%d alarm:%s", a.MemberID, a.Alarm)
}

// MoveLeader hands leadership to the voter TargetID (forwarded to the leader if need be).
func (m *maintenanceServer) MoveLeader(ctx context.Context, r *pb.MoveLeaderRequest) (*pb.MoveLeaderResponse, error) {
	ctx, cancel := m.s.requestContext(ctx)
	defer cancel()
	if err := m.s.node.TransferLeadership(ctx, r.TargetID); err != nil {
		return nil, toGRPCError(err)
	}
	return &pb.MoveLeaderResponse{Header: m.s.header()}, nil
}

// Alarm lists the cluster's active alarms (GET, after a linearizable barrier), or activates or
// deactivates one alarm of one member through the raft log (etcdctl alarm disarm deactivates
// each listed alarm). The response lists the alarms changed (none if already in that state).
func (m *maintenanceServer) Alarm(ctx context.Context, r *pb.AlarmRequest) (*pb.AlarmResponse, error) {
	ctx, cancel := m.s.requestContext(ctx)
	defer cancel()
	resp, err := m.s.node.Alarm(ctx, r)
	if err != nil {
		return nil, toGRPCError(err)
	}
	resp.Header = m.s.fillHeader(resp.Header)
	return resp, nil
}

// Defragment rewrites this member's backend file compactly (etcd's defrag, per member, not
// through raft), returning the space compaction freed to the file system; Status.dbSize
// shrinks accordingly. Reads and writes go on while it runs (mvcc.Store.Defrag copies in the
// background, carries the writes made meanwhile over, then swaps). It first waits (as long as
// ctx allows) for the member's store to finish the compaction it has applied, whose
// removals run in the background: defragmenting each member after a compaction answered
// by one of them then gives the space back everywhere.
func (m *maintenanceServer) Defragment(ctx context.Context, _ *pb.DefragmentRequest) (*pb.DefragmentResponse, error) {
	st := m.s.node.Store()
	if err := st.WaitCompacted(ctx, st.CompactRev()); err != nil {
		return nil, toGRPCError(err)
	}
	if err := st.Defrag(); err != nil {
		return nil, toGRPCError(err)
	}
	return &pb.DefragmentResponse{Header: m.s.header()}, nil
}

// Hash hashes this member's whole key-value backend: the MVCC history kept since the
// compaction point, and that point. Like etcd's, it is equal on members that applied the same
// entries (local state — the applied index, the member identity — is left out), and it is
// meant for comparing members at rest; HashKV compares at a chosen revision.
func (m *maintenanceServer) Hash(ctx context.Context, _ *pb.HashRequest) (*pb.HashResponse, error) {
	h, _, compactRev, err := m.s.node.Store().HashKV(0)
	if err != nil {
		return nil, toGRPCError(err)
	}
	sum := crc32.New(crc32.MakeTable(crc32.Castagnoli))
	_, _ = sum.Write(binary.BigEndian.AppendUint32(nil, h))
	_, _ = sum.Write(binary.BigEndian.AppendUint64(nil, uint64(compactRev)))
	return &pb.HashResponse{Header: m.s.header(), Hash: sum.Sum32()}, nil
}

// HashKV hashes the MVCC history up to a revision; equal on every member with equal history.
func (m *maintenanceServer) HashKV(ctx context.Context, r *pb.HashKVRequest) (*pb.HashKVResponse, error) {
	h, hashRev, compactRev, err := m.s.node.Store().HashKV(r.Revision)
	if err != nil {
		return nil, toGRPCError(err)
	}
	return &pb.HashKVResponse{Header: m.s.header(), Hash: h, CompactRevision: compactRev, HashRevision: hashRev}, nil
}

// snapshotChunk is etcd's snapshot message size.
const snapshotChunk = 32 * 1024

// Snapshot streams a consistent copy of the backend followed by its SHA-256, as etcdctl
// snapshot save expects. The copy also carries etcd's lease bucket and compaction
// revisions (raftstore.ExportSnapshot), so etcd restores it as well as keelctl does.
func (m *maintenanceServer) Snapshot(_ *pb.SnapshotRequest, stream grpc.ServerStreamingServer[pb.SnapshotResponse]) error {
	f, err := os.CreateTemp("", "keel-snapshot-*")
	if err != nil {
		return status.Error(codes.Internal, err.Error())
	}
	defer os.Remove(f.Name())
	defer f.Close()
	header := m.s.header()
	if _, err := m.s.node.Store().Snapshot(f); err != nil {
		return toGRPCError(err)
	}
	if err := f.Close(); err != nil {
		return status.Error(codes.Internal, err.Error())
	}
	if err := raftstore.ExportSnapshot(f.Name()); err != nil {
		return status.Error(codes.Internal, err.Error())
	}
	if f, err = os.Open(f.Name()); err != nil {
		return status.Error(codes.Internal, err.Error())
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return status.Error(codes.Internal, err.Error())
	}
	size := st.Size()
	h := sha256.New()
	buf := make([]byte, snapshotChunk)
	sent := int64(0)
	for sent < size {
		n, err := io.ReadFull(f, buf[:min(int64(len(buf)), size-sent)])
		if err != nil {
			return status.Error(codes.Internal, err.Error())
		}
		h.Write(buf[:n])
		sent += int64(n)
		resp := &pb.SnapshotResponse{RemainingBytes: uint64(size - sent), Blob: buf[:n], Version: Version}
		if header != nil {
			resp.Header, header = header, nil
		}
		if err := stream.Send(resp); err != nil {
			return err
		}
	}
	return stream.Send(&pb.SnapshotResponse{Blob: h.Sum(nil), Version: Version})
}
