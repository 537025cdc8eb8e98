package apply

import (
	"errors"
	"strings"
	"testing"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
)

func opPut(k string) *pb.RequestOp {
	return &pb.RequestOp{Request: &pb.RequestOp_RequestPut{RequestPut: &pb.PutRequest{Key: []byte(k)}}}
}

func opDel(k, end string) *pb.RequestOp {
	return &pb.RequestOp{Request: &pb.RequestOp_RequestDeleteRange{
		RequestDeleteRange: &pb.DeleteRangeRequest{Key: []byte(k), RangeEnd: []byte(end)}}}
}

func opGet(k string) *pb.RequestOp {
	return &pb.RequestOp{Request: &pb.RequestOp_RequestRange{RequestRange: &pb.RangeRequest{Key: []byte(k)}}}
}

func opTxn(success, failure []*pb.RequestOp) *pb.RequestOp {
	return &pb.RequestOp{Request: &pb.RequestOp_RequestTxn{RequestTxn: &pb.TxnRequest{Success: success, Failure: failure}}}
}

func ops(n int) []*pb.RequestOp {
	out := make([]*pb.RequestOp, n)
	for i := range out {
		out[i] = opGet("k")
	}
	return out
}

func TestValidateTxn(t *testing.T) {
	cases := []struct {
		name string
		txn  *pb.TxnRequest
		want error
	}{
		{"empty", &pb.TxnRequest{}, nil},
		{"128 ops", &pb.TxnRequest{Success: ops(128)}, nil},
		{"129 ops", &pb.TxnRequest{Success: ops(129)}, ErrTooManyOps},
		{"129 compares", &pb.TxnRequest{Compare: make([]*pb.Compare, 129)}, ErrTooManyOps},
		{"nested over what is left", &pb.TxnRequest{Success: append(ops(100), opTxn(ops(28), nil))}, ErrTooManyOps},
		{"nested within what is left", &pb.TxnRequest{Success: append(ops(100), opTxn(ops(27), nil))}, nil},
		{"compare empty key", &pb.TxnRequest{Compare: []*pb.Compare{{}}}, ErrEmptyKey},
		{"empty op", &pb.TxnRequest{Success: []*pb.RequestOp{{}}}, ErrKeyNotFound},
		{"put empty key", &pb.TxnRequest{Success: []*pb.RequestOp{opPut("")}}, ErrEmptyKey},
		{"two puts", &pb.TxnRequest{Success: []*pb.RequestOp{opPut("a"), opPut("a")}}, ErrDuplicateKey},
		{"puts in both branches", &pb.TxnRequest{Success: []*pb.RequestOp{opPut("a")}, Failure: []*pb.RequestOp{opPut("a")}}, nil},
		{"put inside delete", &pb.TxnRequest{Success: []*pb.RequestOp{opDel("a", "c"), opPut("b")}}, ErrDuplicateKey},
		{"put after delete end", &pb.TxnRequest{Success: []*pb.RequestOp{opDel("a", "c"), opPut("c")}}, nil},
		{"put inside from-key delete", &pb.TxnRequest{Success: []*pb.RequestOp{opDel("a", "\x00"), opPut("z")}}, ErrDuplicateKey},
		{"overlapping deletes", &pb.TxnRequest{Success: []*pb.RequestOp{opDel("a", "c"), opDel("b", "d")}}, nil},
		{"nested put vs outer put", &pb.TxnRequest{Success: []*pb.RequestOp{opPut("a"), opTxn([]*pb.RequestOp{opPut("a")}, nil)}}, ErrDuplicateKey},
		{"nested put vs outer delete", &pb.TxnRequest{Success: []*pb.RequestOp{opDel("a", ""), opTxn([]*pb.RequestOp{opPut("a")}, nil)}}, ErrDuplicateKey},
		{"nested branches overlap", &pb.TxnRequest{Success: []*pb.RequestOp{opTxn([]*pb.RequestOp{opPut("a")}, []*pb.RequestOp{opPut("a")})}}, nil},
		{"two nested txns put one key", &pb.TxnRequest{Success: []*pb.RequestOp{
			opTxn([]*pb.RequestOp{opPut("a")}, nil), opTxn(nil, []*pb.RequestOp{opPut("a")})}}, ErrDuplicateKey},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := ValidateTxn(tc.txn, Limits{}); !errors.Is(got, tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestValidatePutAndRange(t *testing.T) {
	cases := []struct {
		name string
		err  error
		want error
	}{
		{"put ok", ValidatePut(&pb.PutRequest{Key: []byte("a")}), nil},
		{"put empty key", ValidatePut(&pb.PutRequest{}), ErrEmptyKey},
		{"ignore value with value", ValidatePut(&pb.PutRequest{Key: []byte("a"), Value: []byte("v"), IgnoreValue: true}), ErrValueProvided},
		{"ignore lease with lease", ValidatePut(&pb.PutRequest{Key: []byte("a"), Lease: 1, IgnoreLease: true}), ErrLeaseProvided},
		{"range empty key", ValidateRange(&pb.RangeRequest{}), ErrEmptyKey},
		{"bad sort order", ValidateRange(&pb.RangeRequest{Key: []byte("a"), SortOrder: 9}), ErrInvalidSortOption},
		{"bad sort target", ValidateRange(&pb.RangeRequest{Key: []byte("a"), SortTarget: 9}), ErrInvalidSortOption},
		{"delete empty key", ValidateDeleteRange(&pb.DeleteRangeRequest{}), ErrEmptyKey},
		{"too large", CheckSize(&pb.PutRequest{Key: []byte("a"), Value: []byte(strings.Repeat("x", DefaultMaxRequestBytes))}, Limits{}), ErrRequestTooLarge},
	}
	for _, tc := range cases {
		if !errors.Is(tc.err, tc.want) {
			t.Errorf("%s: got %v, want %v", tc.name, tc.err, tc.want)
		}
	}
}

func TestIsReadOnlyTxn(t *testing.T) {
	if !IsReadOnlyTxn(&pb.TxnRequest{Success: []*pb.RequestOp{opGet("a"), opTxn([]*pb.RequestOp{opGet("b")}, nil)}}) {
		t.Error("ranges only: want read-only")
	}
	if IsReadOnlyTxn(&pb.TxnRequest{Failure: []*pb.RequestOp{opTxn(nil, []*pb.RequestOp{opDel("a", "")})}}) {
		t.Error("a nested delete in a failure branch: want a write")
	}
}
