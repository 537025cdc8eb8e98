package server

import (
	"context"
	"net/url"

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
	members, err := c.members()
	if err != nil {
		return nil, err
	}
	return &pb.MemberListResponse{Header: c.header(), Members: members}, nil
}

// header is a Cluster response header: etcd leaves the revision unset on them.
func (c *clusterServer) header() *pb.ResponseHeader {
	h := c.s.header()
	h.Revision = 0
	return h
}

func (c *clusterServer) members() ([]*pb.Member, error) {
	ms, err := c.s.node.Members()
	if err != nil {
		return nil, toGRPCError(err)
	}
	out := make([]*pb.Member, 0, len(ms))
	for _, m := range ms {
		out = append(out, &pb.Member{
			ID: m.ID, Name: m.Name, PeerURLs: m.PeerURLs, ClientURLs: m.ClientURLs, IsLearner: m.IsLearner,
		})
	}
	return out, nil
}

// checkPeerURLs validates peer URLs as etcd does (scheme http or https, host and port).
func checkPeerURLs(urls []string) error {
	if len(urls) == 0 {
		return rpctypes.ErrGRPCMemberBadURLs
	}
	for _, s := range urls {
		u, err := url.Parse(s)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Port() == "" || u.Path != "" {
			return rpctypes.ErrGRPCMemberBadURLs
		}
	}
	return nil
}

// MemberAdd adds a voter, or a learner to be promoted once it has caught up.
func (c *clusterServer) MemberAdd(ctx context.Context, r *pb.MemberAddRequest) (*pb.MemberAddResponse, error) {
	if err := checkPeerURLs(r.PeerURLs); err != nil {
		return nil, err
	}
	ctx, cancel := c.s.requestContext(ctx)
	defer cancel()
	m, err := c.s.node.AddMember(ctx, r.PeerURLs, r.IsLearner)
	if err != nil {
		return nil, toGRPCError(err)
	}
	members, err := c.members()
	if err != nil {
		return nil, err
	}
	return &pb.MemberAddResponse{Header: c.header(), Members: members,
		Member: &pb.Member{ID: m.ID, PeerURLs: m.PeerURLs, IsLearner: m.IsLearner}}, nil
}

// MemberRemove removes a member; removing the leader makes it step down.
func (c *clusterServer) MemberRemove(ctx context.Context, r *pb.MemberRemoveRequest) (*pb.MemberRemoveResponse, error) {
	ctx, cancel := c.s.requestContext(ctx)
	defer cancel()
	if err := c.s.node.RemoveMember(ctx, r.ID); err != nil {
		return nil, toGRPCError(err)
	}
	members, err := c.members()
	if err != nil {
		return nil, err
	}
	return &pb.MemberRemoveResponse{Header: c.header(), Members: members}, nil
}

// MemberUpdate changes a member's peer URLs.
func (c *clusterServer) MemberUpdate(ctx context.Context, r *pb.MemberUpdateRequest) (*pb.MemberUpdateResponse, error) {
	if err := checkPeerURLs(r.PeerURLs); err != nil {
		return nil, err
	}
	ctx, cancel := c.s.requestContext(ctx)
	defer cancel()
	if err := c.s.node.UpdateMember(ctx, r.ID, r.PeerURLs); err != nil {
		return nil, toGRPCError(err)
	}
	members, err := c.members()
	if err != nil {
		return nil, err
	}
	return &pb.MemberUpdateResponse{Header: c.header(), Members: members}, nil
}

// MemberPromote makes a caught-up learner a voter.
func (c *clusterServer) MemberPromote(ctx context.Context, r *pb.MemberPromoteRequest) (*pb.MemberPromoteResponse, error) {
	ctx, cancel := c.s.requestContext(ctx)
	defer cancel()
	if err := c.s.node.PromoteMember(ctx, r.ID); err != nil {
		return nil, toGRPCError(err)
	}
	members, err := c.members()
	if err != nil {
		return nil, err
	}
	return &pb.MemberPromoteResponse{Header: c.header(), Members: members}, nil
}
