package server

import (
	"context"
	"errors"
	"io"

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
	resp, err := retryAuth(l.s, ctx, func(ctx context.Context) (*pb.LeaseRevokeResponse, error) {
		return l.s.node.LeaseRevoke(ctx, r)
	})
	if err != nil {
		return nil, toGRPCError(err)
	}
	resp.Header = l.s.fillHeader(resp.Header)
	return resp, nil
}

// maxKeepAliveBatch bounds the keepalives of one stream renewed together, and the requests
// queued behind them.
const maxKeepAliveBatch = 1024

// LeaseKeepAlive renews leases on the leader for each request; an unknown or expired lease
// gets TTL 0 (not an error), as clientv3 expects. A receive goroutine queues the requests;
// this goroutine renews everything that queued while its previous renewals were in flight in
// one LeaseRenewBatch, so the keepalives of one stream (clientv3 sends all of a client's
// leases on one) share one leadership confirmation instead of paying one each in turn, and
// answers them in request order.
func (l *leaseServer) LeaseKeepAlive(stream grpc.BidiStreamingServer[pb.LeaseKeepAliveRequest, pb.LeaseKeepAliveResponse]) error {
	ctx, cancel := context.WithCancel(stream.Context())
	defer cancel()
	queue := make(chan int64, maxKeepAliveBatch)
	recvErr := make(chan error, 1)
	// The receive loop ends when the client's side does, or, blocked in Recv, when this
	// handler returns and gRPC ends the stream (as Watch's does).
	go func() {
		defer close(queue)
		for {
			req, err := stream.Recv()
			if err != nil {
				recvErr <- err
				return
			}
			select {
			case queue <- req.ID:
			case <-ctx.Done():
				recvErr <- ctx.Err()
				return
			}
		}
	}()
	ids := make([]int64, 0, maxKeepAliveBatch)
	for {
		id, ok := <-queue
		if !ok {
			err := <-recvErr
			if errors.Is(err, io.EOF) {
				return nil // the client closed its side and has every answer, as in etcd
			}
			return streamEndError(err)
		}
		ids = append(ids[:0], id)
	drain:
		for len(ids) < maxKeepAliveBatch {
			select {
			case id, ok := <-queue:
				if !ok {
					break drain // answer these; the next receive sees the end
				}
				ids = append(ids, id)
			default:
				break drain
			}
		}
		rctx, rcancel := l.s.requestContext(ctx)
		ttls, err := l.s.node.LeaseRenewBatch(rctx, ids)
		rcancel()
		if err != nil {
			return toGRPCError(err)
		}
		for i, id := range ids {
			if err := stream.Send(&pb.LeaseKeepAliveResponse{Header: l.s.header(), ID: id, TTL: ttls[i]}); err != nil {
				return err
			}
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
