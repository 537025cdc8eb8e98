package apply

import (
	"fmt"
	"path/filepath"
	"testing"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"

	"github.com/keeldb/keel/mvcc"
)

// benchKeys is the number of keys the txn benchmarks load.
const benchKeys = 1000

func benchTxnStore(b *testing.B) *mvcc.Store {
	b.Helper()
	s, err := mvcc.Open(mvcc.Config{Path: filepath.Join(b.TempDir(), "kv.db")})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Close() })
	w := s.Write(1)
	for i := range benchKeys {
		w.Put(benchKey(i), make([]byte, 256), 0)
	}
	w.End()
	if err := s.Commit(); err != nil {
		b.Fatal(err)
	}
	return s
}

func benchKey(i int) []byte { return []byte(fmt.Sprintf("key%06d", i)) }

// BenchmarkTxnCompare measures a read-only txn whose compares (all true, on distinct keys)
// pick a branch holding one get: the compare path without writes.
func BenchmarkTxnCompare(b *testing.B) {
	s := benchTxnStore(b)
	for _, n := range []int{1, 8, 64} {
		b.Run(fmt.Sprint("compares=", n), func(b *testing.B) {
			r := &pb.TxnRequest{Success: []*pb.RequestOp{opGet(string(benchKey(0)))}}
			for i := range n {
				r.Compare = append(r.Compare, &pb.Compare{Key: benchKey(i * 7 % benchKeys), Target: pb.Compare_MOD,
					Result: pb.Compare_GREATER, TargetUnion: &pb.Compare_ModRevision{ModRevision: 0}})
			}
			b.ReportAllocs()
			for b.Loop() {
				view := s.Read()
				resp, err := ReadTxn(view, r)
				view.End()
				if err != nil || !resp.Succeeded {
					b.Fatalf("txn: %v, succeeded=%v", err, resp.GetSucceeded())
				}
			}
		})
	}
}

// BenchmarkTxnCAS measures the compare-and-swap the Kubernetes apiserver sends for every
// update: compare one key's mod revision, put it on success, get it on failure; half of
// the txns hit a stale revision and fail.
func BenchmarkTxnCAS(b *testing.B) {
	s := benchTxnStore(b)
	mod := make([]int64, benchKeys) // last known mod revision per key
	for i := range mod {
		mod[i] = 2 // the load ran at revision 2
	}
	index, i := uint64(1), 0
	b.ReportAllocs()
	for b.Loop() {
		i++
		k := i % benchKeys
		want := mod[k]
		if i%2 == 0 {
			want-- // stale: the compare fails
		}
		r := &pb.TxnRequest{
			Compare: []*pb.Compare{{Key: benchKey(k), Target: pb.Compare_MOD, Result: pb.Compare_EQUAL,
				TargetUnion: &pb.Compare_ModRevision{ModRevision: want}}},
			Success: []*pb.RequestOp{{Request: &pb.RequestOp_RequestPut{
				RequestPut: &pb.PutRequest{Key: benchKey(k), Value: make([]byte, 256)}}}},
			Failure: []*pb.RequestOp{opGet(string(benchKey(k)))},
		}
		index++
		w := s.Write(index)
		resp, err := Txn(w, nil, r)
		w.End()
		if err != nil {
			b.Fatal(err)
		}
		if resp.Succeeded {
			mod[k] = resp.Header.Revision
		}
	}
}
