package server_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc/status"

	"github.com/keeldb/keel/internal/testcluster"
)

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestWritesThroughFollowersAreReadLinearizablyEverywhere(t *testing.T) {
	c := testcluster.Start(t, 3)
	f1 := c.Follower()
	f2 := c.Follower(f1)
	w, r := c.Client(f1), c.Client(f2)
	ctx := ctxT(t)
	for i := range 10 {
		put, err := w.Put(ctx, "key", fmt.Sprint(i))
		if err != nil {
			t.Fatalf("put %d: %v", i, err)
		}
		get, err := r.Get(ctx, "key")
		if err != nil {
			t.Fatalf("get %d: %v", i, err)
		}
		if len(get.Kvs) != 1 || string(get.Kvs[0].Value) != fmt.Sprint(i) || get.Header.Revision < put.Header.Revision {
			t.Fatalf("get after put %d: kvs %v header %v, put revision %d", i, get.Kvs, get.Header, put.Header.Revision)
		}
		if get.Header.ClusterId == 0 || get.Header.MemberId != c.Members[f2].Node.ID() || get.Header.RaftTerm == 0 {
			t.Fatalf("incomplete header %v", get.Header)
		}
	}
}

// A follower answers a forwarded write with the leader's response before it has applied the
// entry itself; its serializable reads and watches must still see every write it acknowledged.
func TestFollowerReadsItsOwnAcknowledgedWrites(t *testing.T) {
	c := testcluster.Start(t, 3)
	cli := c.Client(c.Follower())
	ctx := ctxT(t)
	for i := range 50 {
		put, err := cli.Put(ctx, "own", fmt.Sprint(i))
		if err != nil {
			t.Fatalf("put %d: %v", i, err)
		}
		get, err := cli.Get(ctx, "own", clientv3.WithSerializable())
		if err != nil {
			t.Fatalf("serializable get %d: %v", i, err)
		}
		if len(get.Kvs) != 1 || get.Kvs[0].ModRevision != put.Header.Revision || get.Header.Revision < put.Header.Revision {
			t.Fatalf("serializable get after put %d (revision %d): kvs %v header %v", i, put.Header.Revision, get.Kvs, get.Header)
		}
	}
	// A watch from "now" starts after the acknowledged write: the next event is the next write.
	last, err := cli.Put(ctx, "own", "last")
	if err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	wc := cli.Watch(wctx, "own", clientv3.WithCreatedNotify())
	if resp := <-wc; !resp.Created || resp.Header.Revision < last.Header.Revision {
		t.Fatalf("created notification %+v: want created at revision >= %d", resp, last.Header.Revision)
	}
	next, err := cli.Put(ctx, "own", "next")
	if err != nil {
		t.Fatal(err)
	}
	resp := <-wc
	if resp.Err() != nil || len(resp.Events) != 1 || resp.Events[0].Kv.ModRevision != next.Header.Revision {
		t.Fatalf("first event %+v, want only the put at revision %d", resp, next.Header.Revision)
	}
}

func TestErrorsMatchEtcd(t *testing.T) {
	c := testcluster.Start(t, 3)
	cli := c.Client()
	kv := pb.NewKVClient(cli.ActiveConnection())
	ctx := ctxT(t)
	tooMany := &pb.TxnRequest{}
	for i := range 129 {
		tooMany.Success = append(tooMany.Success, &pb.RequestOp{Request: &pb.RequestOp_RequestPut{
			RequestPut: &pb.PutRequest{Key: []byte(fmt.Sprint("k", i))}}})
	}
	cases := []struct {
		name string
		call func() error
		want error
	}{
		{"empty key put", func() error { _, err := kv.Put(ctx, &pb.PutRequest{}); return err }, rpctypes.ErrGRPCEmptyKey},
		{"empty key range", func() error { _, err := kv.Range(ctx, &pb.RangeRequest{}); return err }, rpctypes.ErrGRPCEmptyKey},
		{"too many ops", func() error { _, err := kv.Txn(ctx, tooMany); return err }, rpctypes.ErrGRPCTooManyOps},
		{"too large", func() error {
			_, err := kv.Put(ctx, &pb.PutRequest{Key: []byte("big"), Value: make([]byte, 1600*1024)})
			return err
		}, rpctypes.ErrGRPCRequestTooLarge},
		{"future revision", func() error {
			_, err := kv.Range(ctx, &pb.RangeRequest{Key: []byte("a"), Revision: 1 << 40})
			return err
		}, rpctypes.ErrGRPCFutureRev},
		{"unknown lease", func() error {
			_, err := kv.Put(ctx, &pb.PutRequest{Key: []byte("a"), Lease: 42})
			return err
		}, rpctypes.ErrGRPCLeaseNotFound},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := status.Convert(tc.call())
			want := status.Convert(tc.want)
			if got.Code() != want.Code() || got.Message() != want.Message() {
				t.Fatalf("got %v %q, want %v %q", got.Code(), got.Message(), want.Code(), want.Message())
			}
		})
	}
}

func TestStatusAndMemberList(t *testing.T) {
	c := testcluster.Start(t, 3)
	cli := c.Client()
	ctx := ctxT(t)
	for i, m := range c.Members {
		// A follower learns the leader with its first heartbeat: poll for it.
		var st *clientv3.StatusResponse
		for {
			var err error
			st, err = cli.Status(ctx, m.Endpoint)
			if err != nil {
				t.Fatalf("status of member %d: %v", i, err)
			}
			if st.Leader != 0 {
				break
			}
			if ctx.Err() != nil {
				t.Fatalf("member %d never knew a leader: %+v", i, st)
			}
			time.Sleep(20 * time.Millisecond)
		}
		if st.Version < "3.5.13" || st.DbSize <= 0 || st.Header.MemberId != m.Node.ID() || len(st.Errors) != 0 {
			t.Fatalf("member %d status: %+v", i, st)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		ml, err := cli.MemberList(ctx)
		if err != nil {
			t.Fatal(err)
		}
		complete := len(ml.Members) == 3
		for _, m := range ml.Members {
			complete = complete && m.Name != "" && len(m.ClientURLs) == 1 && len(m.PeerURLs) == 1
		}
		if complete {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("member list incomplete: %v", ml.Members)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestRequireLeaderFailsWithoutQuorum(t *testing.T) {
	c := testcluster.Start(t, 3)
	f := c.Follower()
	// The raw KV client shows the server's answer; clientv3's retry interceptor would retry
	// ErrNoLeader on reads until the deadline, exactly as it does against etcd.
	kv := pb.NewKVClient(c.Client(f).ActiveConnection())
	for i := range c.Members {
		if i != f {
			c.Stop(i)
		}
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(clientv3.WithRequireLeader(context.Background()), time.Second)
		_, err := kv.Range(ctx, &pb.RangeRequest{Key: []byte("a"), Serializable: true})
		cancel()
		got, want := status.Convert(err), status.Convert(rpctypes.ErrGRPCNoLeader)
		if got.Code() == want.Code() && got.Message() == want.Message() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("serializable range with hasleader on a leaderless member: %v, want %v", err, want.Message())
		}
	}
	// Without hasleader the same member still serves serializable reads.
	if _, err := kv.Range(ctxT(t), &pb.RangeRequest{Key: []byte("a"), Serializable: true}); err != nil {
		t.Fatalf("serializable range without hasleader: %v", err)
	}
}

func TestHTTPEndpoints(t *testing.T) {
	c := testcluster.Start(t, 3)
	if _, err := c.Client().Put(ctxT(t), "a", "b"); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/health", "/metrics", "/version", "/livez"} {
		resp, err := http.Get("http://" + c.Members[0].Endpoint + path)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d %s", path, resp.StatusCode, body)
		}
		if path == "/health" && !strings.Contains(string(body), `"health":"true"`) {
			t.Fatalf("/health: %s", body)
		}
	}
}

// Hash and HashKV agree on every member once they applied the same entries, and Hash changes
// with a write and with a compaction.
func TestHashAgreesAcrossMembers(t *testing.T) {
	c := testcluster.Start(t, 3)
	cli := c.Client()
	ctx := ctxT(t)
	var last *clientv3.PutResponse
	for i := range 20 {
		var err error
		if last, err = cli.Put(ctx, fmt.Sprintf("h/%02d", i), fmt.Sprint(i)); err != nil {
			t.Fatal(err)
		}
	}
	hashes := func() []uint32 {
		var out []uint32
		for _, m := range c.Members {
			// A linearizable read on the member first: it has applied every write above.
			if _, err := c.Client(indexOf(c, m.Endpoint)).Get(ctx, "h/00"); err != nil {
				t.Fatal(err)
			}
			mc := pb.NewMaintenanceClient(c.Client(indexOf(c, m.Endpoint)).ActiveConnection())
			h, err := mc.Hash(ctx, &pb.HashRequest{})
			if err != nil {
				t.Fatalf("Hash on %s: %v", m.Endpoint, err)
			}
			kv, err := mc.HashKV(ctx, &pb.HashKVRequest{Revision: last.Header.Revision})
			if err != nil {
				t.Fatalf("HashKV on %s: %v", m.Endpoint, err)
			}
			out = append(out, h.Hash, kv.Hash)
		}
		return out
	}
	first := hashes()
	for i := 2; i < len(first); i += 2 {
		if first[i] != first[0] || first[i+1] != first[1] {
			t.Fatalf("members disagree: hash/hashkv pairs %v", first)
		}
	}
	if _, err := cli.Compact(ctx, last.Header.Revision-5); err != nil {
		t.Fatal(err)
	}
	// The compaction is applied everywhere once a later write is read back on each member.
	if _, err := cli.Put(ctx, "h/after", "x"); err != nil {
		t.Fatal(err)
	}
	second := hashes()
	if second[0] == first[0] {
		t.Fatalf("Hash did not change after a write and a compaction: %x", second[0])
	}
	for i := 2; i < len(second); i += 2 {
		if second[i] != second[0] {
			t.Fatalf("members disagree after compaction: %v", second)
		}
	}
}

func indexOf(c *testcluster.Cluster, endpoint string) int {
	for i, m := range c.Members {
		if m.Endpoint == endpoint {
			return i
		}
	}
	return -1
}
