package apply

import (
	"path/filepath"
	"testing"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"google.golang.org/protobuf/proto"

	"github.com/keeldb/keel/mvcc"
)

func seedTxns(f *testing.F) {
	for _, r := range []*pb.TxnRequest{
		{},
		{Compare: []*pb.Compare{{Key: []byte("a"), Target: pb.Compare_VALUE, TargetUnion: &pb.Compare_Value{Value: []byte("x")}}},
			Success: []*pb.RequestOp{opPut("a"), opGet("a")}, Failure: []*pb.RequestOp{opDel("a", "b")}},
		{Success: []*pb.RequestOp{opTxn([]*pb.RequestOp{opPut("a")}, []*pb.RequestOp{opPut("a")}), opGet("a")}},
	} {
		b, _ := proto.Marshal(r)
		f.Add(b)
	}
}

// FuzzValidateTxn checks that validation never panics and that every txn it accepts applies
// to a real store without panicking (a panic in apply would stop every replica).
func FuzzValidateTxn(f *testing.F) {
	seedTxns(f)
	store, err := mvcc.Open(mvcc.Config{Path: filepath.Join(f.TempDir(), "kv.db")})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = store.Close() })
	w := store.Write(1)
	w.Put([]byte("a"), []byte("x"), 0)
	w.Put([]byte("b"), []byte("y"), 0)
	w.End()
	index := uint64(1)
	f.Fuzz(func(t *testing.T, data []byte) {
		var r pb.TxnRequest
		if proto.Unmarshal(data, &r) != nil {
			return
		}
		if ValidateTxn(&r, Limits{}) != nil {
			return
		}
		index++
		w := store.Write(index)
		_, _ = Txn(w, nil, &r)
		w.End()
		view := store.Read()
		defer view.End()
		if IsReadOnlyTxn(&r) {
			_, _ = ReadTxn(view, &r)
		}
	})
}

// FuzzValidateRange checks that validation and ranges never panic.
func FuzzValidateRange(f *testing.F) {
	for _, r := range []*pb.RangeRequest{
		{Key: []byte("a")},
		{Key: []byte{0}, RangeEnd: []byte{0}, Limit: 1, SortOrder: pb.RangeRequest_DESCEND, SortTarget: pb.RangeRequest_CREATE},
		{Key: []byte("a"), RangeEnd: []byte("c"), MinModRevision: 2, KeysOnly: true, Revision: 2},
	} {
		b, _ := proto.Marshal(r)
		f.Add(b)
	}
	store, err := mvcc.Open(mvcc.Config{Path: filepath.Join(f.TempDir(), "kv.db")})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = store.Close() })
	w := store.Write(1)
	w.Put([]byte("a"), []byte("x"), 0)
	w.Put([]byte("b"), []byte("y"), 0)
	w.End()
	f.Fuzz(func(t *testing.T, data []byte) {
		var r pb.RangeRequest
		if proto.Unmarshal(data, &r) != nil || ValidateRange(&r) != nil {
			return
		}
		view := store.Read()
		defer view.End()
		resp, err := Range(view, &r)
		if err == nil && r.Limit > 0 && int64(len(resp.Kvs)) > r.Limit {
			t.Fatalf("limit %d returned %d kvs", r.Limit, len(resp.Kvs))
		}
	})
}
