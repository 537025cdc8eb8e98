package watch

import (
	"fmt"
	"testing"

	"go.etcd.io/etcd/api/v3/mvccpb"
)

// emptyHistory serves no events: the benchmark keeps every watcher synced.
type emptyHistory struct{}

func (emptyHistory) Events(int64, int64, int) ([]*mvccpb.Event, error) { return nil, nil }
func (emptyHistory) CompactRev() int64                                 { return 0 }

// BenchmarkNotify10kWatchers measures Notify, the apply path's cost of the watch hub, with
// 10,000 watchers over 100 streams shaped like tests/watchscale: 70% on one of 100 keys,
// 28% on one of 10 prefixes, 2% on the whole prefix. Each revision puts one key. Streams are
// drained between revisions so nobody falls behind.
func BenchmarkNotify10kWatchers(b *testing.B) {
	h := New(Config{OutboxLimit: 1 << 20}, emptyHistory{}, 1)
	var streams []*Stream
	for s := range 100 {
		st := h.NewStream()
		streams = append(streams, st)
		for i := range 100 {
			n := s*100 + i
			var r Request
			switch {
			case n%50 == 0:
				r = Request{Key: []byte("ws/"), End: []byte("ws0")}
			case n%10 < 3:
				p := fmt.Sprintf("ws/%d/", n%10)
				r = Request{Key: []byte(p), End: []byte(p[:len(p)-1] + "0")}
			default:
				r = Request{Key: []byte(fmt.Sprintf("ws/%d/%02d", n%10, n%100))}
			}
			if _, err := st.Watch(r); err != nil {
				b.Fatal(err)
			}
		}
	}
	done := make(chan struct{})
	close(done)
	rev := int64(1)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		rev++
		key := fmt.Sprintf("ws/%d/%02d", i%10, (i*7)%100)
		h.Notify(rev, []*mvccpb.Event{{Type: mvccpb.PUT, Kv: &mvccpb.KeyValue{Key: []byte(key), ModRevision: rev}}})
		if i%64 == 63 {
			b.StopTimer()
			for _, st := range streams {
				_, _ = st.Next(done)
			}
			b.StartTimer()
		}
	}
}
