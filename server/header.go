package server

import (
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
)

// fillHeader completes h (allocating it if nil) with the member's identity and term. The
// revision is left as set by the store, or set to the current revision when it is 0.
func (s *Server) fillHeader(h *pb.ResponseHeader) *pb.ResponseHeader {
	if h == nil {
		h = &pb.ResponseHeader{}
	}
	h.ClusterId = s.node.ClusterID()
	h.MemberId = s.node.ID()
	h.RaftTerm = s.node.Term()
	if h.Revision == 0 {
		h.Revision = s.node.Store().Rev()
	}
	return h
}

// header returns a fresh header at the current revision.
func (s *Server) header() *pb.ResponseHeader { return s.fillHeader(nil) }
