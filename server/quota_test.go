package server

import (
	"testing"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"google.golang.org/protobuf/proto"
)

func TestQuotaCost(t *testing.T) {
	put := func(k, v string) *pb.RequestOp {
		return &pb.RequestOp{Request: &pb.RequestOp_RequestPut{RequestPut: &pb.PutRequest{Key: []byte(k), Value: []byte(v)}}}
	}
	del := &pb.RequestOp{Request: &pb.RequestOp_RequestDeleteRange{RequestDeleteRange: &pb.DeleteRangeRequest{Key: []byte("k")}}}
	get := &pb.RequestOp{Request: &pb.RequestOp_RequestRange{RequestRange: &pb.RangeRequest{Key: []byte("k")}}}
	tests := []struct {
		name string
		req  proto.Message
		want int64
	}{
		{"put", &pb.PutRequest{Key: []byte("key"), Value: []byte("value")}, kvOverhead + 8},
		{"lease grant", &pb.LeaseGrantRequest{TTL: 10}, leaseOverhead},
		{"delete", &pb.DeleteRangeRequest{Key: []byte("k")}, 0},
		{"compaction", &pb.CompactionRequest{Revision: 3}, 0},
		{"lease revoke", &pb.LeaseRevokeRequest{ID: 1}, 0},
		{"delete-only txn", &pb.TxnRequest{Success: []*pb.RequestOp{del, get}, Failure: []*pb.RequestOp{del}}, 0},
		{"txn takes the costlier branch", &pb.TxnRequest{Success: []*pb.RequestOp{put("a", "1")},
			Failure: []*pb.RequestOp{put("b", "22"), put("c", "3")}}, 2*kvOverhead + 5},
		{"nested put counts", &pb.TxnRequest{Success: []*pb.RequestOp{del, {Request: &pb.RequestOp_RequestTxn{
			RequestTxn: &pb.TxnRequest{Failure: []*pb.RequestOp{put("n", "1")}}}}}}, kvOverhead + 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := quotaCost(tt.req); got != tt.want {
				t.Errorf("quotaCost = %d, want %d", got, tt.want)
			}
		})
	}
}
