package apply

import (
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"testing"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"google.golang.org/protobuf/proto"

	"github.com/keeldb/keel/mvcc"
)

var streamSeed = flag.Uint64("rangestream.seed", 0, "seed of TestRangeStreamMatchesRange (0: a fixed default)")

// streamStore opens a store holding keys k000..k(n-1) written one per revision, with values
// of varying size, then overwrites every third key and deletes every fifth.
func streamStore(t *testing.T, n int) *mvcc.Store {
	t.Helper()
	s, err := mvcc.Open(mvcc.Config{Path: filepath.Join(t.TempDir(), "kv.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	index := uint64(0)
	write := func(f func(w *mvcc.WriteTxn)) {
		index++
		w := s.Write(index)
		f(w)
		w.End()
	}
	for i := range n {
		write(func(w *mvcc.WriteTxn) { w.Put(streamKey(i), make([]byte, i%97), int64(i%3)) })
	}
	for i := 0; i < n; i += 3 {
		write(func(w *mvcc.WriteTxn) { w.Put(streamKey(i), []byte(fmt.Sprint("v2-", i)), 0) })
	}
	for i := 0; i < n; i += 5 {
		write(func(w *mvcc.WriteTxn) { w.DeleteRange(streamKey(i), nil) })
	}
	return s
}

func streamKey(i int) []byte { return []byte(fmt.Sprintf("k%03d", i)) }

// collect runs RangeStream and returns its chunks.
func collect(t *testing.T, view mvcc.ReadView, r *pb.RangeRequest) ([]*pb.RangeResponse, error) {
	t.Helper()
	var chunks []*pb.RangeResponse
	err := RangeStream(view, r, 1<<20, func(resp *pb.RangeResponse) error {
		chunks = append(chunks, proto.Clone(resp).(*pb.RangeResponse))
		return nil
	})
	return chunks, err
}

// checkStream checks the wire contract of a stream's chunks (disjoint Kvs; Header, Count and
// More only on the last) and that merging them gives want.
func checkStream(t *testing.T, chunks []*pb.RangeResponse, want *pb.RangeResponse) {
	t.Helper()
	if len(chunks) == 0 {
		t.Fatal("no chunk")
	}
	merged := &pb.RangeResponse{}
	for i, c := range chunks {
		if i < len(chunks)-1 && (c.Header != nil || c.Count != 0 || c.More) {
			t.Fatalf("chunk %d of %d carries header %v count %d more %v, want only kvs", i, len(chunks), c.Header, c.Count, c.More)
		}
		proto.Merge(merged, c)
	}
	if chunks[len(chunks)-1].Header == nil {
		t.Fatal("final chunk has no header")
	}
	if !proto.Equal(merged, want) {
		t.Fatalf("merged stream = %v\nwant Range = %v", merged, want)
	}
}

// TestRangeStreamMatchesRange is a differential test: for fixed and random requests the
// merged chunks equal Range's response.
func TestRangeStreamMatchesRange(t *testing.T) {
	const n = 400
	s := streamStore(t, n)
	view := s.Read()
	defer view.End()
	cases := map[string]*pb.RangeRequest{
		"all":                {Key: []byte{0}, RangeEnd: []byte{0}},
		"prefix":             {Key: []byte("k1"), RangeEnd: []byte("k2")},
		"single key":         {Key: streamKey(7)},
		"deleted single key": {Key: streamKey(10)},
		"missing":            {Key: []byte("zz")},
		"limit in a chunk":   {Key: []byte{0}, RangeEnd: []byte{0}, Limit: 5},
		"limit over chunks":  {Key: []byte{0}, RangeEnd: []byte{0}, Limit: 150},
		"limit = count":      {Key: []byte{0}, RangeEnd: []byte{0}, Limit: n - n/5},
		"limit above count":  {Key: []byte{0}, RangeEnd: []byte{0}, Limit: 10 * n},
		"keys only":          {Key: []byte{0}, RangeEnd: []byte{0}, KeysOnly: true},
		"count only":         {Key: []byte{0}, RangeEnd: []byte{0}, CountOnly: true, Limit: 3},
		"old revision":       {Key: []byte{0}, RangeEnd: []byte{0}, Revision: n / 2},
		"first revision":     {Key: []byte{0}, RangeEnd: []byte{0}, Revision: 1},
		"sort descending":    {Key: []byte{0}, RangeEnd: []byte{0}, SortOrder: pb.RangeRequest_DESCEND, Limit: 20},
		"sort by mod":        {Key: []byte{0}, RangeEnd: []byte{0}, SortTarget: pb.RangeRequest_MOD},
		"key ascending":      {Key: []byte{0}, RangeEnd: []byte{0}, SortOrder: pb.RangeRequest_ASCEND, Limit: 33},
		"mod filter":         {Key: []byte{0}, RangeEnd: []byte{0}, MinModRevision: n},
		"create filter":      {Key: []byte{0}, RangeEnd: []byte{0}, MaxCreateRevision: 50, Limit: 7},
	}
	for name, r := range cases {
		t.Run(name, func(t *testing.T) {
			want, err := Range(view, r)
			if err != nil {
				t.Fatal(err)
			}
			chunks, err := collect(t, view, r)
			if err != nil {
				t.Fatal(err)
			}
			checkStream(t, chunks, want)
		})
	}
	t.Run("a large range arrives in several chunks", func(t *testing.T) {
		chunks, err := collect(t, view, cases["all"])
		if err != nil {
			t.Fatal(err)
		}
		if len(chunks) < 3 {
			t.Fatalf("%d keys arrived in %d chunks, want several", n-n/5, len(chunks))
		}
	})

	seed := *streamSeed
	if seed == 0 {
		seed = 13
	}
	t.Logf("random requests with -rangestream.seed=%d", seed)
	rng := rand.New(rand.NewPCG(seed, seed))
	for i := range 300 {
		a, b := rng.IntN(n+10), rng.IntN(n+10)
		r := &pb.RangeRequest{Key: streamKey(min(a, b)), RangeEnd: streamKey(max(a, b))}
		switch rng.IntN(4) {
		case 0:
			r.RangeEnd = nil
		case 1:
			r.RangeEnd = []byte{0}
		}
		if rng.IntN(2) == 0 {
			r.Limit = int64(rng.IntN(n))
		}
		if rng.IntN(3) == 0 {
			r.Revision = int64(1 + rng.IntN(int(view.Rev())))
		}
		r.KeysOnly = rng.IntN(4) == 0
		r.CountOnly = rng.IntN(8) == 0
		want, err := Range(view, r)
		if err != nil {
			t.Fatal(err)
		}
		chunks, err := collect(t, view, r)
		if err != nil {
			t.Fatal(err)
		}
		t.Run(fmt.Sprint("random ", i), func(t *testing.T) { checkStream(t, chunks, want) })
	}
}

// TestRangeStreamReadsAtOneRevision writes between chunks: the stream still shows the
// revision it started at, and a compaction past that revision ends it with ErrCompacted.
func TestRangeStreamReadsAtOneRevision(t *testing.T) {
	const n = 200
	s := streamStore(t, n)
	r := &pb.RangeRequest{Key: []byte{0}, RangeEnd: []byte{0}}
	index := uint64(1_000)
	writeAll := func() {
		index++
		w := s.Write(index)
		for i := range n + 50 {
			w.Put(streamKey(i), []byte("new"), 0)
		}
		w.End()
	}

	t.Run("writes during the stream are not visible", func(t *testing.T) {
		view := s.Read()
		defer view.End()
		want, err := Range(view, r)
		if err != nil {
			t.Fatal(err)
		}
		var chunks []*pb.RangeResponse
		err = RangeStream(view, r, 1<<20, func(resp *pb.RangeResponse) error {
			chunks = append(chunks, proto.Clone(resp).(*pb.RangeResponse))
			writeAll()
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		checkStream(t, chunks, want)
	})

	t.Run("a compaction overtaking the stream ends it", func(t *testing.T) {
		view := s.Read()
		defer view.End()
		sent := 0
		err := RangeStream(view, r, 1<<20, func(*pb.RangeResponse) error {
			sent++
			if sent == 1 {
				writeAll()
				index++
				if err := s.Compact(index, s.Rev()); err != nil {
					t.Fatal(err)
				}
			}
			return nil
		})
		if !errors.Is(err, mvcc.ErrCompacted) {
			t.Fatalf("stream after compaction: got %v after %d chunks, want %v", err, sent, mvcc.ErrCompacted)
		}
		if sent != 1 {
			t.Fatalf("%d chunks sent, want 1 before the compaction", sent)
		}
	})
}
