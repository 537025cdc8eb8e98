package server

import (
	"context"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc"

	"github.com/keeldb/keel/lease"
)

type leaseServer struct {
	pb.UnimplementedLeaseServer
	s *Server
}

// LeaseGrant proposes a lease; the TTL is raised to the minimum (1.5 election timeouts).
func (l *leaseServer) LeaseGrant(ctx context.Context, r *pb.LeaseGrantRequest) (*pb.LeaseGrantResponse, error) {
	if r.TTL > lease.MaxTTL {
		return nil, rpctypes.ErrGRPCLeaseTTLTooLarge
	}
	if err := l.s.checkQuota(ctx, r); err != nil {
		return nil, err
	}
	ctx, cancel := l.s.requestContext(ctx)
	defer cancel()
	resp, err := l.s.node.LeaseGrant(ctx, r)
	if err != nil {
		return nil, toGRPCError(err)
	}
	resp.Header = l.s.fillHeader(resp.Header)
	return resp, nil
}

// LeaseRevoke revokes a lease and deletes its keys in one revision.
func (l *leaseServer) LeaseRevoke(ctx context.Context, r *pb.LeaseRevokeRequest) (*pb.LeaseRevokeResponse, error) {
	ctx, cancel := l.s.requestContext(ctx)
	defer cancel()
	resp, err := l.s.node.LeaseRevoke(ctx, r)
	if err != nil {
		return nil, toGRPCError(err)
	}
	resp.Header = l.s.fillHeader(resp.Header)
	return resp, nil
}

// LeaseKeepAlive renews leases on the leader for each request; an unknown or expired lease
// gets TTL 0 (not an error), as clientv3 expects.
func (l *leaseServer) LeaseKeepAlive(stream grpc.BidiStreamingServer[pb.LeaseKeepAliveRequest, pb.LeaseKeepAliveResponse]) error {
	for {
		req, err := stream.Recv()
		if err != nil {
			return streamEndError(err)
		}
		ctx, cancel := l.s.requestContext(stream.Context())
		ttl, err := l.s.node.LeaseRenew(ctx, req.ID)
		cancel()
		if err != nil {
			return toGRPCError(err)
		}
		if err := stream.Send(&pb.LeaseKeepAliveResponse{Header: l.s.header(), ID: req.ID, TTL: ttl}); err != nil {
			return err
		}
	}
}

// LeaseTimeToLive reports a lease's remaining time (-1 if it does not exist) and its keys.
func (l *leaseServer) LeaseTimeToLive(ctx context.Context, r *pb.LeaseTimeToLiveRequest) (*pb.LeaseTimeToLiveResponse, error) {
	ctx, cancel := l.s.requestContext(ctx)
	defer cancel()
	remaining, granted, err := l.s.node.LeaseTimeToLive(ctx, r.ID)
	if err != nil {
		return nil, toGRPCError(err)
	}
	resp := &pb.LeaseTimeToLiveResponse{Header: l.s.header(), ID: r.ID, TTL: remaining, GrantedTTL: granted}
	if r.Keys && remaining >= 0 {
		if err := l.s.node.LinearizableBarrier(ctx); err != nil {
			return nil, toGRPCError(err)
		}
		if info, err := l.s.node.Lessor().Lookup(r.ID); err == nil {
			for _, k := range info.Keys {
				resp.Keys = append(resp.Keys, []byte(k))
			}
		}
	}
	return resp, nil
}

// LeaseLeases lists every lease.
func (l *leaseServer) LeaseLeases(ctx context.Context, _ *pb.LeaseLeasesRequest) (*pb.LeaseLeasesResponse, error) {
	if err := l.s.linearize(ctx); err != nil {
		return nil, toGRPCError(err)
	}
	resp := &pb.LeaseLeasesResponse{Header: l.s.header()}
	for _, id := range l.s.node.Lessor().Leases() {
		resp.Leases = append(resp.Leases, &pb.LeaseStatus{ID: id})
	}
	return resp, nil
}
