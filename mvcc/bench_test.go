package mvcc

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
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

// BenchmarkCompactWhileWriting compacts a history of revs revisions (single-key puts over
// 1000 keys, 256-byte values, all committed) while one goroutine applies single-put write
// transactions as the FSM would, and another reads one key at a time, each every 200µs.
// An op is one compaction, from Compact until its deletes are committed; the reported
// latencies are the writer's (Write to End) and the reader's during it, writes/op the
// writes made meanwhile, and chunk-max-µs and batch-max-µs the longest index chunk (locks
// held) and backend delete batch (commitMu held), with batch revisions per delete batch.
func BenchmarkCompactWhileWriting(b *testing.B) {
	const revs = 100000
	for _, batch := range []int{1000, DefaultCompactionBatchRevisions} {
		b.Run(fmt.Sprintf("revs=%d/batch=%d", revs, batch), func(b *testing.B) {
			var mu sync.Mutex
			var chunkMax, batchMax time.Duration
			s, err := Open(Config{Path: filepath.Join(b.TempDir(), "kv.db"), CompactionBatchRevisions: batch, CompactionObserver: CompactionObserver{
				IndexChunk: func(d time.Duration) { mu.Lock(); chunkMax = max(chunkMax, d); mu.Unlock() },
				DeleteBatch: func(d time.Duration, _ int) {
					mu.Lock()
					batchMax = max(batchMax, d)
					mu.Unlock()
				},
			}})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _ = s.Close() })
			var index atomic.Uint64
			val := make([]byte, 256)
			write := func() {
				i := index.Add(1)
				w := s.Write(i)
				w.Put([]byte(fmt.Sprintf("key%08d", i%1000)), val, 0)
				w.End()
			}
			var writes, reads []time.Duration
			for b.Loop() {
				b.StopTimer()
				for range revs {
					write()
				}
				if err := s.Commit(); err != nil {
					b.Fatal(err)
				}
				stop := make(chan struct{})
				var wg sync.WaitGroup
				var wl, rl []time.Duration
				wg.Go(func() { wl = timeUntil(stop, write) })
				wg.Go(func() {
					rl = timeUntil(stop, func() {
						r := s.Read()
						_, _ = r.Range([]byte(fmt.Sprintf("key%08d", rand.IntN(1000))), nil, RangeOptions{})
						r.End()
					})
				})
				b.StartTimer()

				rev := s.Rev()
				if err := s.Compact(index.Add(1), rev); err != nil {
					b.Fatal(err)
				}
				if err := s.WaitCompacted(context.Background(), rev); err != nil {
					b.Fatal(err)
				}

				b.StopTimer()
				close(stop)
				wg.Wait()
				writes, reads = append(writes, wl...), append(reads, rl...)
				b.StartTimer()
			}
			reportLatencies(b, "write", writes)
			reportLatencies(b, "read", reads)
			b.ReportMetric(float64(len(writes))/float64(b.N), "writes/op")
			mu.Lock()
			b.ReportMetric(float64(chunkMax.Microseconds()), "chunk-max-µs")
			b.ReportMetric(float64(batchMax.Microseconds()), "batch-max-µs")
			mu.Unlock()
		})
	}
}

// timeUntil runs f every 200µs (or back to back if it is slower) until stop is closed and
// returns each run's duration.
func timeUntil(stop <-chan struct{}, f func()) []time.Duration {
	var out []time.Duration
	t := time.NewTicker(200 * time.Microsecond)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return out
		case <-t.C:
		}
		start := time.Now()
		f()
		out = append(out, time.Since(start))
	}
}

// reportLatencies reports the p99 and the maximum of ds, in microseconds.
func reportLatencies(b *testing.B, name string, ds []time.Duration) {
	if len(ds) == 0 {
		return
	}
	slices.Sort(ds)
	b.ReportMetric(float64(ds[len(ds)*99/100].Microseconds()), name+"-p99-µs")
	b.ReportMetric(float64(ds[len(ds)-1].Microseconds()), name+"-max-µs")
}
