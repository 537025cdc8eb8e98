package server_test

import (
	"errors"
	"fmt"
	"io"
	"testing"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/keeldb/keel/internal/testcluster"
)

// rangeStream runs a RangeStream on kv and returns its messages, or the stream's error.
func rangeStream(t *testing.T, kv pb.KVClient, r *pb.RangeRequest, onChunk func(i int)) ([]*pb.RangeResponse, error) {
	t.Helper()
	stream, err := kv.RangeStream(ctxT(t), r)
	if err != nil {
		return nil, err
	}
	var chunks []*pb.RangeResponse
	for {
		resp, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return chunks, nil
		}
		if err != nil {
			return chunks, err
		}
		chunks = append(chunks, resp.RangeResponse)
		if onChunk != nil {
			onChunk(len(chunks) - 1)
		}
	}
}

// mergeChunks checks the wire contract (Header, Count and More only on the final message)
// and returns the merged response.
func mergeChunks(t *testing.T, chunks []*pb.RangeResponse) *pb.RangeResponse {
	t.Helper()
	merged := &pb.RangeResponse{}
	for i, c := range chunks {
		if i < len(chunks)-1 && (c.Header != nil || c.Count != 0 || c.More) {
			t.Fatalf("message %d of %d: header %v count %d more %v, want kvs only", i, len(chunks), c.Header, c.Count, c.More)
		}
		proto.Merge(merged, c)
	}
	if len(chunks) == 0 || chunks[len(chunks)-1].Header == nil {
		t.Fatalf("%d messages, the last without header", len(chunks))
	}
	return merged
}

// putKeys puts prefix0000.. and returns the revision of the last put.
func putKeys(t *testing.T, cli *clientv3.Client, prefix string, n int) int64 {
	t.Helper()
	var rev int64
	for i := range n {
		idempotent(t, func() error {
			resp, err := cli.Put(ctxT(t), fmt.Sprintf("%s%04d", prefix, i), fmt.Sprint("value-", i))
			if err == nil {
				rev = resp.Header.Revision
			}
			return err
		})
	}
	return rev
}

// idempotent runs an idempotent write until it succeeds, retrying only
// "etcdserver: leader changed" (a slow machine may change leaders just after start).
func idempotent(t *testing.T, write func() error) {
	t.Helper()
	ctx := ctxT(t)
	for {
		err := write()
		if err == nil {
			return
		}
		if !errors.Is(err, rpctypes.ErrLeaderChanged) || ctx.Err() != nil {
			t.Fatal(err)
		}
	}
}

// TestRangeStreamMatchesRange streams through a follower (linearizable by default, with its
// read index) and the leader: each merged stream equals the plain Range at the stream's
// revision, a large range arrives in several messages, and clientv3's GetStream agrees.
func TestRangeStreamMatchesRange(t *testing.T) {
	c := testcluster.Start(t, 3)
	f := c.Follower()
	cli := c.Client(f)
	last := putKeys(t, cli, "s/", 150)
	idempotent(t, func() error { _, err := cli.Delete(ctxT(t), "s/0007"); return err })
	kv := pb.NewKVClient(cli.ActiveConnection())
	cases := map[string]*pb.RangeRequest{
		"prefix":           {Key: []byte("s/"), RangeEnd: []byte("s0")},
		"single key":       {Key: []byte("s/0003")},
		"missing key":      {Key: []byte("nope")},
		"limit":            {Key: []byte("s/"), RangeEnd: []byte("s0"), Limit: 42},
		"keys only":        {Key: []byte("s/"), RangeEnd: []byte("s0"), KeysOnly: true},
		"count only":       {Key: []byte("s/"), RangeEnd: []byte("s0"), CountOnly: true},
		"revision":         {Key: []byte("s/"), RangeEnd: []byte("s0"), Revision: last - 70},
		"serializable":     {Key: []byte("s/"), RangeEnd: []byte("s0"), Serializable: true},
		"sort descending":  {Key: []byte("s/"), RangeEnd: []byte("s0"), SortOrder: pb.RangeRequest_DESCEND, Limit: 12},
		"mod filter":       {Key: []byte("s/"), RangeEnd: []byte("s0"), MinModRevision: last - 20},
		"every key, limit": {Key: []byte{0}, RangeEnd: []byte{0}, Limit: 100},
	}
	for name, r := range cases {
		t.Run(name, func(t *testing.T) {
			chunks, err := rangeStream(t, kv, r, nil)
			if err != nil {
				t.Fatal(err)
			}
			got := mergeChunks(t, chunks)
			at := proto.Clone(r).(*pb.RangeRequest)
			if at.Revision == 0 {
				at.Revision = got.Header.Revision // the plain Range at the stream's revision
			}
			want, err := kv.Range(ctxT(t), at)
			if err != nil {
				t.Fatal(err)
			}
			got.Header, want.Header = nil, nil
			if !proto.Equal(got, want) {
				t.Fatalf("merged stream = %v\nwant Range = %v", got, want)
			}
		})
	}

	t.Run("a large range arrives in several messages", func(t *testing.T) {
		chunks, err := rangeStream(t, kv, cases["prefix"], nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(chunks) < 3 {
			t.Fatalf("149 keys arrived in %d messages, want several", len(chunks))
		}
		if got := mergeChunks(t, chunks); got.Count != 149 || len(got.Kvs) != 149 || got.Header.Revision < last+1 {
			t.Fatalf("got count %d, %d kvs at revision %d, want 149 at >= %d", got.Count, len(got.Kvs), got.Header.Revision, last+1)
		}
	})

	t.Run("clientv3 GetStream", func(t *testing.T) {
		ch, err := cli.GetStream(ctxT(t), "s/", clientv3.WithPrefix())
		if err != nil {
			t.Fatal(err)
		}
		got, err := clientv3.GetStreamToGetResponse(ch)
		if err != nil {
			t.Fatal(err)
		}
		want, err := cli.Get(ctxT(t), "s/", clientv3.WithPrefix(), clientv3.WithRev(got.Header.Revision))
		if err != nil {
			t.Fatal(err)
		}
		if len(got.Kvs) != len(want.Kvs) || got.Count != want.Count {
			t.Fatalf("GetStream: %d kvs count %d, want %d count %d", len(got.Kvs), got.Count, len(want.Kvs), want.Count)
		}
		for i := range got.Kvs {
			if !proto.Equal(got.Kvs[i], want.Kvs[i]) {
				t.Fatalf("kv %d = %v, want %v", i, got.Kvs[i], want.Kvs[i])
			}
		}
	})
}

// TestRangeStreamIgnoresWritesDuringTheStream overwrites and adds keys after the first
// message: the stream still shows only the revision it started at.
func TestRangeStreamIgnoresWritesDuringTheStream(t *testing.T) {
	c := testcluster.Start(t, 1)
	cli := c.Client()
	last := putKeys(t, cli, "w/", 120)
	kv := pb.NewKVClient(cli.ActiveConnection())
	r := &pb.RangeRequest{Key: []byte("w/"), RangeEnd: []byte("w0")}
	chunks, err := rangeStream(t, kv, r, func(i int) {
		if i == 0 {
			putKeys(t, cli, "w/", 130) // overwrite every key, add 10
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	got := mergeChunks(t, chunks)
	if got.Header.Revision != last {
		t.Fatalf("stream at revision %d, want %d", got.Header.Revision, last)
	}
	if got.Count != 120 || len(got.Kvs) != 120 {
		t.Fatalf("count %d, %d kvs, want 120", got.Count, len(got.Kvs))
	}
	for _, kv := range got.Kvs {
		if kv.ModRevision > last {
			t.Fatalf("key %s at mod revision %d: a write after the stream's revision %d shows", kv.Key, kv.ModRevision, last)
		}
	}
}

// TestRangeStreamErrorsMatchRange sends bad requests to both RPCs: RangeStream fails with
// Range's code and message.
func TestRangeStreamErrorsMatchRange(t *testing.T) {
	c := testcluster.Start(t, 1)
	cli := c.Client()
	last := putKeys(t, cli, "e/", 10)
	idempotent(t, func() error { _, err := cli.Compact(ctxT(t), last-3); return err })
	kv := pb.NewKVClient(cli.ActiveConnection())
	cases := []struct {
		name string
		r    *pb.RangeRequest
		want error
	}{
		{"empty key", &pb.RangeRequest{}, rpctypes.ErrGRPCEmptyKey},
		{"future revision", &pb.RangeRequest{Key: []byte("e/"), Revision: 1 << 40}, rpctypes.ErrGRPCFutureRev},
		{"compacted revision", &pb.RangeRequest{Key: []byte("e/"), RangeEnd: []byte("e0"), Revision: last - 5}, rpctypes.ErrGRPCCompacted},
		{"compacted, serializable", &pb.RangeRequest{Key: []byte("e/"), Revision: 2, Serializable: true}, rpctypes.ErrGRPCCompacted},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, rangeErr := kv.Range(ctxT(t), tc.r)
			_, streamErr := rangeStream(t, kv, tc.r, nil)
			want := status.Convert(tc.want)
			for what, err := range map[string]error{"Range": rangeErr, "RangeStream": streamErr} {
				got := status.Convert(err)
				if got.Code() != want.Code() || got.Message() != want.Message() {
					t.Fatalf("%s: got %v %q, want %v %q", what, got.Code(), got.Message(), want.Code(), want.Message())
				}
			}
		})
	}
}
