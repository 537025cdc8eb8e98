package server

import (
	"context"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/protobuf/proto"
)

// Quota costs, etcd's (server/etcdserver/quota.go): a put's key and value plus an overhead
// for its revision and index entries, and a flat cost for a lease.
const (
	kvOverhead    = 256
	leaseOverhead = 64
)

// quotaCost returns the bytes a write may add to the backend: 0 for requests that add
// nothing (deletes, reads, txns without a put), so they pass the quota.
func quotaCost(r proto.Message) int64 {
	switch r := r.(type) {
	case *pb.PutRequest:
		return kvOverhead + int64(len(r.Key)+len(r.Value))
	case *pb.TxnRequest:
		return txnCost(r)
	case *pb.LeaseGrantRequest:
		return leaseOverhead
	}
	return 0
}

// txnCost is the cost of a txn's costlier branch (nested txns included).
func txnCost(r *pb.TxnRequest) int64 {
	var branches [2]int64
	for i, ops := range [][]*pb.RequestOp{r.Success, r.Failure} {
		for _, op := range ops {
			switch {
			case op.GetRequestPut() != nil:
				branches[i] += quotaCost(op.GetRequestPut())
			case op.GetRequestTxn() != nil:
				branches[i] += txnCost(op.GetRequestTxn())
			}
		}
	}
	return max(branches[0], branches[1])
}

// checkQuota refuses a write that could grow the backend, before it is proposed, as etcd's
// quota interceptor does: while a NOSPACE alarm is active (as of the leader's commit index),
// or when this member's backend plus the request's cost would reach the quota; in that case
// it also raises this member's NOSPACE alarm through the log (best effort: the refusal does
// not depend on it). Writes that cost nothing (deletes, compactions, revokes) always pass.
// The apply path refuses the same writes while the alarm is active (raftstore.ErrNoSpace),
// so a write that passed here before the alarm was raised cannot slip through.
func (s *Server) checkQuota(ctx context.Context, r proto.Message) error {
	cost := quotaCost(r)
	if cost == 0 {
		return nil
	}
	ctx, cancel := s.requestContext(ctx)
	defer cancel()
	if s.node.NoSpace() {
		// The alarm may have been disarmed in an entry this member has not applied yet: catch
		// up with the leader's commit index before refusing (a rare path, only while alarmed).
		if err := s.node.LinearizableBarrier(ctx); err != nil || s.node.NoSpace() {
			return rpctypes.ErrGRPCNoSpace
		}
	}
	if q := s.cfg.QuotaBackendBytes; q < 0 || s.node.Store().BackendSize()+cost < q { // < 0: no quota, as etcd
		return nil
	}
	_, err := s.node.Alarm(ctx, &pb.AlarmRequest{Action: pb.AlarmRequest_ACTIVATE, MemberID: s.node.ID(),
		Alarm: pb.AlarmType_NOSPACE})
	if err != nil {
		s.log.Warn("raising the NOSPACE alarm failed", "error", err)
	}
	return rpctypes.ErrGRPCNoSpace
}
