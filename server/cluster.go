package server

import (
	"context"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
)

type clusterServer struct {
	pb.UnimplementedClusterServer
	s *Server
}

// MemberList lists every member with its client and peer URLs.
func (c *clusterServer) MemberList(ctx context.Context, r *pb.MemberListRequest) (*pb.MemberListResponse, error) {
	if r.Linearizable {
		if err := c.s.linearize(ctx); err != nil {
			return nil, toGRPCError(err)
		}
	}
	members, err := c.s.node.Members()
	if err != nil {
		return nil, toGRPCError(err)
	}
	resp := &pb.MemberListResponse{Header: c.s.header()}
	resp.Header.Revision = 0 // etcd leaves the revision unset on Cluster responses
	for _, m := range members {
		resp.Members = append(resp.Members, &pb.Member{
			ID: m.ID, Name: m.Name, PeerURLs: m.PeerURLs, ClientURLs: m.ClientURLs, IsLearner: m.IsLearner,
		})
	}
	return resp, nil
}

type authServer struct {
	pb.UnimplementedAuthServer
}

// Authenticate tells clients configured with a user that auth is off; clientv3 then goes on
// without a token.
func (authServer) Authenticate(context.Context, *pb.AuthenticateRequest) (*pb.AuthenticateResponse, error) {
	return nil, rpctypes.ErrGRPCAuthNotEnabled
}

// AuthStatus reports auth as disabled.
func (authServer) AuthStatus(context.Context, *pb.AuthStatusRequest) (*pb.AuthStatusResponse, error) {
	return &pb.AuthStatusResponse{}, nil
}
