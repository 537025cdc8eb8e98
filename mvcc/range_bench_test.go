package mvcc

import (
	"fmt"
	"testing"
)

// BenchmarkRangeCountOnly measures counting every live key, the read behind a Kubernetes
// list's remaining-item count and etcdctl's --count-only.
func BenchmarkRangeCountOnly(b *testing.B) {
	for _, keys := range []int{1000, 10000} {
		b.Run(fmt.Sprint("keys=", keys), func(b *testing.B) {
			s := benchStore(b)
			val := make([]byte, 64)
			for i := range keys {
				w := s.Write(uint64(i + 1))
				w.Put([]byte(fmt.Sprintf("key%08d", i)), val, 0)
				w.End()
			}
			if err := s.Commit(); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				r := s.Read()
				res, err := r.Range([]byte("key"), []byte("kez"), RangeOptions{CountOnly: true})
				r.End()
				if err != nil || res.Count != keys {
					b.Fatalf("range: %v, %d keys counted; want %d", err, countOf(res), keys)
				}
			}
		})
	}
}

// BenchmarkRangeHistory measures a single-key read of a key with many versions, at the
// current revision and at the oldest one (a watch catch-up or a paginated list at a fixed
// revision reads the past this way).
func BenchmarkRangeHistory(b *testing.B) {
	const versions = 1000
	s := benchStore(b)
	val := make([]byte, 64)
	for i := range versions {
		w := s.Write(uint64(i + 1))
		w.Put([]byte("hot"), val, 0)
		w.End()
	}
	if err := s.Commit(); err != nil {
		b.Fatal(err)
	}
	for _, at := range []struct {
		name string
		rev  int64
	}{{"current", 0}, {"oldest", 2}} {
		b.Run(at.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				r := s.Read()
				res, err := r.Range([]byte("hot"), nil, RangeOptions{Rev: at.rev})
				r.End()
				if err != nil || len(res.KVs) != 1 {
					b.Fatalf("range: %v, %d kvs", err, kvCount(res))
				}
			}
		})
	}
}

func kvCount(res *RangeResult) int {
	if res == nil {
		return 0
	}
	return len(res.KVs)
}

func countOf(res *RangeResult) int {
	if res == nil {
		return 0
	}
	return res.Count
}
