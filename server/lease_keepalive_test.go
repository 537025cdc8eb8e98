package server_test

import (
	"errors"
	"io"
	"testing"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"

	"github.com/keeldb/keel/internal/testcluster"
)

// A keepalive stream answers every request, in order, however many are in flight: requests
// sent back to back are renewed together (one leadership confirmation per batch) and answered
// one by one, with TTL 0 for a lease that does not exist. On the leader and through a
// follower, which forwards the renewals.
func TestKeepAliveStreamAnswersEveryRequestInOrder(t *testing.T) {
	c := testcluster.Start(t, 3)
	ctx := ctxT(t)
	lc := pb.NewLeaseClient(c.Client(0).ActiveConnection())
	const leases, ttl = 200, 30
	var ids []int64
	for range leases {
		g, err := lc.LeaseGrant(ctx, &pb.LeaseGrantRequest{TTL: ttl})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, g.ID)
	}
	const unknown = 0x7777
	reqs := append([]int64{unknown}, ids...)
	reqs = append(reqs, ids[0], unknown)
	for _, m := range []int{c.Leader(), c.Follower()} {
		stream, err := pb.NewLeaseClient(c.Client(m).ActiveConnection()).LeaseKeepAlive(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, id := range reqs {
			if err := stream.Send(&pb.LeaseKeepAliveRequest{ID: id}); err != nil {
				t.Fatalf("member %d: send: %v", m, err)
			}
		}
		if err := stream.CloseSend(); err != nil {
			t.Fatal(err)
		}
		for i, id := range reqs {
			r, err := stream.Recv()
			if err != nil {
				t.Fatalf("member %d: response %d of %d: %v", m, i, len(reqs), err)
			}
			want := int64(ttl)
			if id == unknown {
				want = 0
			}
			if r.ID != id || r.TTL != want {
				t.Fatalf("member %d: response %d: lease %x TTL %d, want lease %x TTL %d", m, i, r.ID, r.TTL, id, want)
			}
		}
		if _, err := stream.Recv(); !errors.Is(err, io.EOF) {
			t.Fatalf("member %d: after the last response: %v, want EOF", m, err)
		}
	}
}
