package mvcc

import (
	"fmt"
	"path/filepath"
	"testing"
)

func benchStore(b *testing.B) *Store {
	b.Helper()
	s, err := Open(Config{Path: filepath.Join(b.TempDir(), "kv.db")})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Close() })
	return s
}

// BenchmarkPut measures one write transaction with one Put over a fixed key space, with
// the default batching (commits included, amortized).
func BenchmarkPut(b *testing.B) {
	for _, keys := range []int{1000, 100000} {
		b.Run(fmt.Sprint("keys=", keys), func(b *testing.B) {
			s := benchStore(b)
			val := make([]byte, 256)
			index := uint64(0)
			b.ReportAllocs()
			for b.Loop() {
				index++
				w := s.Write(index)
				w.Put([]byte(fmt.Sprintf("key%08d", index%uint64(keys))), val, 0)
				w.End()
			}
		})
	}
}

// BenchmarkRange measures a committed range read of limit keys out of 10000.
func BenchmarkRange(b *testing.B) {
	const keys = 10000
	s := benchStore(b)
	val := make([]byte, 256)
	for i := range keys {
		w := s.Write(uint64(i + 1))
		w.Put([]byte(fmt.Sprintf("key%08d", i)), val, 0)
		w.End()
	}
	if err := s.Commit(); err != nil {
		b.Fatal(err)
	}
	for _, limit := range []int64{1, 100} {
		b.Run(fmt.Sprint("limit=", limit), func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				i++
				r := s.Read()
				key := []byte(fmt.Sprintf("key%08d", i%keys))
				if _, err := r.Range(key, []byte{0}, RangeOptions{Limit: limit}); err != nil {
					b.Fatal(err)
				}
				r.End()
			}
		})
	}
	b.Run("single", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			i++
			r := s.Read()
			if _, err := r.Range([]byte(fmt.Sprintf("key%08d", i%keys)), nil, RangeOptions{}); err != nil {
				b.Fatal(err)
			}
			r.End()
		}
	})
}
