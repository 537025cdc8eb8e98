package raftstore_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.uber.org/goleak"
	"google.golang.org/grpc"

	keelpb "github.com/keeldb/keel/api/proto"
	"github.com/keeldb/keel/apply"
	"github.com/keeldb/keel/raftstore"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// hashicorp/raft leaves transport consumer goroutines and timers that end shortly after Shutdown.
		goleak.IgnoreTopFunction("github.com/hashicorp/raft.(*InmemTransport).AppendEntriesPipeline.func1"),
		goleak.IgnoreTopFunction("time.Sleep"),
		goleak.IgnoreAnyFunction("github.com/hashicorp/raft.(*inmemPipeline).decodeResponses"),
		// A leadership transfer started just before Shutdown keeps its TimeoutNow RPC to a
		// stopped in-memory peer until that RPC times out; raft does not cancel it.
		goleak.IgnoreAnyFunction("github.com/hashicorp/raft.(*InmemTransport).makeRPC"),
		goleak.IgnoreTopFunction("github.com/hashicorp/raft.(*Raft).leaderLoop.func2"),
		// Node.wait detaches from a future raft may never answer once it is shut down (a
		// future still queued for the leader loop); that goroutine is left behind by design.
		goleak.IgnoreAnyFunction("github.com/keeldb/keel/raftstore.(*Node).wait.func1"),
	)
}

// cluster is an in-process cluster on raft's in-memory transport. Forwarded requests call the
// leader's real Peer service handlers directly (the in-memory stand-in for the peer network).
type cluster struct {
	t      *testing.T
	names  []string
	dirs   []string
	nodes  []*raftstore.Node
	trans  []*raft.InmemTransport
	byAddr map[string]*raftstore.Node
	init   []raftstore.Member
	token  string

	// configure, when set, adjusts member i's configuration before each start.
	configure func(i int, cfg *raftstore.Config)

	mu  sync.Mutex
	cut map[int]bool // isolated members: peer calls to or from them fail
}

func (c *cluster) isCut(i int) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cut[i]
}

func addr(i int) string { return fmt.Sprintf("node%d:2380", i) }

func newCluster(t *testing.T, size int) *cluster {
	t.Helper()
	dirs := make([]string, size)
	for i := range dirs {
		dirs[i] = t.TempDir()
	}
	return newClusterOn(t, dirs, "test")
}

// newClusterOn starts a cluster of len(dirs) members on the given data dirs (empty, or
// prepared for members named m<i> at addr(i) with token).
func newClusterOn(t *testing.T, dirs []string, token string) *cluster {
	t.Helper()
	return newClusterWith(t, dirs, token, nil)
}

// newClusterWith is newClusterOn with configure applied to every member's configuration.
func newClusterWith(t *testing.T, dirs []string, token string, configure func(i int, cfg *raftstore.Config)) *cluster {
	t.Helper()
	size := len(dirs)
	c := &cluster{t: t, byAddr: map[string]*raftstore.Node{}, cut: map[int]bool{}, token: token, dirs: dirs,
		configure: configure}
	for i := range size {
		c.names = append(c.names, fmt.Sprintf("m%d", i))
		c.init = append(c.init, raftstore.Member{Name: c.names[i], PeerURLs: []string{"http://" + addr(i)}})
	}
	c.nodes = make([]*raftstore.Node, size)
	c.trans = make([]*raft.InmemTransport, size)
	for i := range size {
		c.start(i)
	}
	t.Cleanup(func() {
		for i, n := range c.nodes {
			if n != nil {
				_ = n.Close()
				c.nodes[i] = nil
			}
		}
	})
	return c
}

// start opens member i on a fresh in-memory transport connected to every running member.
func (c *cluster) start(i int) {
	c.t.Helper()
	_, tr := raft.NewInmemTransport(raft.ServerAddress(addr(i)))
	c.trans[i] = tr
	for j, other := range c.trans {
		if j != i && other != nil && c.nodes[j] != nil {
			tr.Connect(raft.ServerAddress(addr(j)), other)
			other.Connect(raft.ServerAddress(addr(i)), tr)
		}
	}
	cfg := raftstore.Config{
		Name: c.names[i], DataDir: c.dirs[i], InitialCluster: c.init, NewCluster: true, Token: c.token,
		ClientURLs:        []string{fmt.Sprintf("http://client%d:2379", i)},
		HeartbeatInterval: 50 * time.Millisecond, ElectionTimeout: 500 * time.Millisecond,
		Transport: tr,
		PeerClients: func(a string) (keelpb.PeerClient, error) {
			for j := range c.names {
				if addr(j) == a {
					return directPeer{c: c, from: i, to: j}, nil
				}
			}
			return nil, errors.New("unknown peer " + a)
		},
	}
	if c.configure != nil {
		c.configure(i, &cfg)
	}
	n, err := raftstore.Open(cfg)
	if err != nil {
		c.t.Fatalf("open member %d: %v", i, err)
	}
	c.mu.Lock()
	c.nodes[i] = n
	c.byAddr[addr(i)] = n
	c.mu.Unlock()
}

func (c *cluster) stop(i int) {
	c.t.Helper()
	if err := c.nodes[i].Close(); err != nil {
		c.t.Logf("close member %d: %v", i, err)
	}
	c.mu.Lock()
	c.nodes[i] = nil
	c.byAddr[addr(i)] = nil
	c.mu.Unlock()
	for j, other := range c.trans {
		if j != i && other != nil {
			other.Disconnect(raft.ServerAddress(addr(i)))
		}
	}
}

// isolate cuts member i off from every other member.
func (c *cluster) isolate(i int) {
	c.mu.Lock()
	c.cut[i] = true
	c.mu.Unlock()
	c.trans[i].DisconnectAll()
	for j, other := range c.trans {
		if j != i && other != nil {
			other.Disconnect(raft.ServerAddress(addr(i)))
		}
	}
}

func (c *cluster) leader(t *testing.T) int {
	t.Helper()
	var idx int
	eventually(t, 10*time.Second, func() error {
		for i, n := range c.nodes {
			if n != nil && n.IsLeader() {
				idx = i
				return nil
			}
		}
		return errors.New("no leader")
	})
	return idx
}

func (c *cluster) follower(t *testing.T, not ...int) int {
	t.Helper()
	l := c.leader(t)
	for i, n := range c.nodes {
		if n != nil && i != l && !contains(not, i) {
			return i
		}
	}
	t.Fatal("no follower")
	return -1
}

func contains(xs []int, x int) bool {
	for _, y := range xs {
		if x == y {
			return true
		}
	}
	return false
}

// directPeer calls another member's Peer service handlers without a network, failing like a
// cut link when either end is isolated.
type directPeer struct {
	c        *cluster
	from, to int
}

var errCut = errors.New("peer unreachable")

func (d directPeer) server() (keelpb.PeerServer, error) {
	if d.c.isCut(d.from) || d.c.isCut(d.to) {
		return nil, errCut
	}
	d.c.mu.Lock()
	n := d.c.byAddr[addr(d.to)]
	d.c.mu.Unlock()
	if n == nil {
		return nil, errCut
	}
	return n.PeerService(), nil
}

func (d directPeer) Propose(ctx context.Context, in *keelpb.ProposeRequest, _ ...grpc.CallOption) (*keelpb.ProposeResponse, error) {
	s, err := d.server()
	if err != nil {
		return nil, err
	}
	return s.Propose(ctx, in)
}

func (d directPeer) ReadIndex(ctx context.Context, in *keelpb.ReadIndexRequest, _ ...grpc.CallOption) (*keelpb.ReadIndexResponse, error) {
	s, err := d.server()
	if err != nil {
		return nil, err
	}
	return s.ReadIndex(ctx, in)
}

func (d directPeer) LeaseRenew(ctx context.Context, in *keelpb.LeaseRenewRequest, _ ...grpc.CallOption) (*keelpb.LeaseRenewResponse, error) {
	s, err := d.server()
	if err != nil {
		return nil, err
	}
	return s.LeaseRenew(ctx, in)
}

func (d directPeer) LeaseTimeToLive(ctx context.Context, in *keelpb.LeaseTimeToLiveRequest, _ ...grpc.CallOption) (*keelpb.LeaseTimeToLiveResponse, error) {
	s, err := d.server()
	if err != nil {
		return nil, err
	}
	return s.LeaseTimeToLive(ctx, in)
}

func (d directPeer) Members(ctx context.Context, in *keelpb.MembersRequest, _ ...grpc.CallOption) (*keelpb.MembersResponse, error) {
	s, err := d.server()
	if err != nil {
		return nil, err
	}
	return s.Members(ctx, in)
}

func (d directPeer) ConfChange(ctx context.Context, in *keelpb.ConfChangeRequest, _ ...grpc.CallOption) (*keelpb.ConfChangeResponse, error) {
	s, err := d.server()
	if err != nil {
		return nil, err
	}
	return s.ConfChange(ctx, in)
}

func (d directPeer) TransferLeadership(ctx context.Context, in *keelpb.TransferLeadershipRequest, _ ...grpc.CallOption) (*keelpb.TransferLeadershipResponse, error) {
	s, err := d.server()
	if err != nil {
		return nil, err
	}
	return s.TransferLeadership(ctx, in)
}

func (d directPeer) Progress(ctx context.Context, in *keelpb.ProgressRequest, _ ...grpc.CallOption) (*keelpb.ProgressResponse, error) {
	s, err := d.server()
	if err != nil {
		return nil, err
	}
	return s.Progress(ctx, in)
}

func (d directPeer) ConfirmTerm(ctx context.Context, in *keelpb.ConfirmTermRequest, _ ...grpc.CallOption) (*keelpb.ConfirmTermResponse, error) {
	s, err := d.server()
	if err != nil {
		return nil, err
	}
	return s.ConfirmTerm(ctx, in)
}

func (d directPeer) ProposeBatch(ctx context.Context, in *keelpb.ProposeBatchRequest, _ ...grpc.CallOption) (*keelpb.ProposeBatchResponse, error) {
	s, err := d.server()
	if err != nil {
		return nil, err
	}
	return s.ProposeBatch(ctx, in)
}

// eventually polls f until it returns nil or the deadline passes, reporting the last error.
func eventually(t *testing.T, d time.Duration, f func() error) {
	t.Helper()
	deadline := time.Now().Add(d)
	var err error
	for time.Now().Before(deadline) {
		if err = f(); err == nil {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("condition not met within %v: %v", d, err)
}

func get(t *testing.T, n *raftstore.Node, key string, serializable bool) *pb.RangeResponse {
	t.Helper()
	if !serializable {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := n.LinearizableBarrier(ctx); err != nil {
			t.Fatalf("linearizable barrier: %v", err)
		}
	}
	view := n.Store().Read()
	defer view.End()
	resp, err := apply.Range(view, &pb.RangeRequest{Key: []byte(key)})
	if err != nil {
		t.Fatalf("range %q: %v", key, err)
	}
	return resp
}

func put(ctx context.Context, n *raftstore.Node, key, val string) (*pb.PutResponse, error) {
	return n.Put(ctx, &pb.PutRequest{Key: []byte(key), Value: []byte(val)})
}

func TestFollowerWriteThenLinearizableReadOnAnotherFollower(t *testing.T) {
	c := newCluster(t, 3)
	f1 := c.follower(t)
	f2 := c.follower(t, f1)
	ctx := context.Background()
	for i := range 20 {
		resp, err := put(ctx, c.nodes[f1], "k", fmt.Sprint(i))
		if err != nil {
			t.Fatalf("put %d via follower: %v", i, err)
		}
		if got, want := resp.Header.Revision, int64(i+2); got != want {
			t.Fatalf("put %d: revision %d, want %d", i, got, want)
		}
		r := get(t, c.nodes[f2], "k", false)
		if len(r.Kvs) != 1 || string(r.Kvs[0].Value) != fmt.Sprint(i) {
			t.Fatalf("linearizable read on other follower after put %d: got %v", i, r.Kvs)
		}
	}
}

func TestIsolatedMemberServesSerializableButNotLinearizableReads(t *testing.T) {
	c := newCluster(t, 3)
	ctx := context.Background()
	if _, err := put(ctx, c.nodes[c.leader(t)], "a", "1"); err != nil {
		t.Fatal(err)
	}
	f := c.follower(t)
	eventually(t, 5*time.Second, func() error {
		if len(get(t, c.nodes[f], "a", true).Kvs) != 1 {
			return errors.New("follower has not applied the put")
		}
		return nil
	})
	c.isolate(f)
	if r := get(t, c.nodes[f], "a", true); len(r.Kvs) != 1 {
		t.Fatalf("serializable read on isolated member: got %v", r.Kvs)
	}
	rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if err := c.nodes[f].LinearizableBarrier(rctx); err == nil {
		t.Fatal("linearizable read on an isolated member succeeded")
	}
}

func TestLeaderRestartKeepsAcknowledgedWritesAndHashesConverge(t *testing.T) {
	c := newCluster(t, 3)
	ctx := context.Background()
	acked := map[string]string{}
	for i := range 50 {
		k, v := fmt.Sprintf("k%02d", i), fmt.Sprint(i)
		if _, err := put(ctx, c.nodes[c.leader(t)], k, v); err != nil {
			t.Fatalf("put %s: %v", k, err)
		}
		acked[k] = v
	}
	old := c.leader(t)
	c.stop(old)
	nl := c.leader(t)
	for i := 50; i < 80; i++ {
		k, v := fmt.Sprintf("k%02d", i), fmt.Sprint(i)
		if _, err := put(ctx, c.nodes[nl], k, v); err != nil {
			t.Fatalf("put %s after leader stop: %v", k, err)
		}
		acked[k] = v
	}
	c.start(old)
	rev := c.nodes[nl].Store().Rev()
	eventually(t, 10*time.Second, func() error {
		if got := c.nodes[old].Store().Rev(); got != rev {
			return fmt.Errorf("restarted member at revision %d, want %d", got, rev)
		}
		return nil
	})
	for k, v := range acked {
		r := get(t, c.nodes[old], k, true)
		if len(r.Kvs) != 1 || string(r.Kvs[0].Value) != v {
			t.Fatalf("restarted member lost %s=%s: got %v", k, v, r.Kvs)
		}
	}
	var hashes []uint32
	for _, n := range c.nodes {
		h, _, _, err := n.Store().HashKV(rev)
		if err != nil {
			t.Fatal(err)
		}
		hashes = append(hashes, h)
	}
	if hashes[0] != hashes[1] || hashes[1] != hashes[2] {
		t.Fatalf("HashKV differs across members: %v", hashes)
	}
}

func TestMembersPublishTheirClientURLs(t *testing.T) {
	c := newCluster(t, 3)
	eventually(t, 10*time.Second, func() error {
		for i, n := range c.nodes {
			ms, err := n.Members()
			if err != nil {
				return err
			}
			if len(ms) != 3 {
				return fmt.Errorf("member %d sees %d members", i, len(ms))
			}
			for _, m := range ms {
				if m.Name == "" || len(m.ClientURLs) != 1 {
					return fmt.Errorf("member %d: incomplete %+v", i, m)
				}
			}
		}
		return nil
	})
}
