package server

import (
	"context"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
)

// requiresLeader reports whether the caller asked for a leader (clientv3 WithRequireLeader).
func requiresLeader(ctx context.Context) bool {
	md, ok := metadata.FromIncomingContext(ctx)
	if !ok {
		return false
	}
	v := md.Get(rpctypes.MetadataRequireLeaderKey)
	return len(v) > 0 && v[0] == rpctypes.MetadataHasLeader
}

// unaryLeaderInterceptor fails a call that requires a leader when none is known.
func (s *Server) unaryLeaderInterceptor(ctx context.Context, req any, _ *grpc.UnaryServerInfo,
	h grpc.UnaryHandler) (any, error) {
	if requiresLeader(ctx) && s.node.Leader() == 0 {
		return nil, rpctypes.ErrGRPCNoLeader
	}
	return h(ctx, req)
}

// streamLeaderInterceptor refuses to open a stream that requires a leader when none is known.
func (s *Server) streamLeaderInterceptor(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo,
	h grpc.StreamHandler) error {
	if requiresLeader(ss.Context()) && s.node.Leader() == 0 {
		return rpctypes.ErrGRPCNoLeader
	}
	return h(srv, ss)
}
