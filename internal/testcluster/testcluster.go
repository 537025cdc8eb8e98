// Package testcluster runs in-process Keel clusters for tests: real raft over TCP on
// 127.0.0.1, real gRPC servers, real data dirs, reached through the real etcd client.
// Only _test.go files may import it.
package testcluster

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc"

	"github.com/keeldb/keel/internal/netfault"
	"github.com/keeldb/keel/raftstore"
	"github.com/keeldb/keel/server"
)

// Member is one in-process member.
type Member struct {
	Name     string
	Node     *raftstore.Node
	Server   *server.Server
	Endpoint string // host:port of the client listener
	// Registry holds the member's metrics (served on http://Endpoint/metrics); a new one at
	// every (re)start.
	Registry *prometheus.Registry

	dir     string
	peerURL string
	// proxy is the member's network fault proxy (Options.PeerProxies), nil without; it lives
	// across restarts.
	proxy  *netfault.Proxy
	sw     *netSwitch // the member's network cable, new at every start
	peerLn net.Listener
	mux    *raftstore.PeerMux
	peer   *grpc.Server
}

// DataDir returns the member's data dir.
func (m *Member) DataDir() string { return m.dir }

// Cluster is a set of in-process members.
type Cluster struct {
	t       testing.TB
	opts    Options
	Members []*Member
	initial []raftstore.Member
}

// Options change how members start. The zero value starts them with the defaults.
type Options struct {
	// Configure, when set, adjusts member i's configuration before each start.
	Configure func(i int, cfg *raftstore.Config)
	// Started, when set, is called after member i started (each start).
	Started func(i int, m *Member)
	// PeerProxies puts an internal/netfault proxy in front of every member's peer listener and
	// routes its outgoing peer dials through the same proxy's CONNECT listener, so that
	// PeerProxy(i) can delay, drop or blackhole member i's peer traffic, either direction
	// (docs/RELIABILITY.md "Network faults").
	PeerProxies bool
	// WatchProgressInterval, when set, is every member's server.Config.WatchProgressInterval
	// (keeld's --experimental-watch-progress-notify-interval).
	WatchProgressInterval time.Duration
}

// Start starts size members and waits for a leader. Everything is stopped at cleanup.
func Start(t testing.TB, size int) *Cluster {
	t.Helper()
	return StartWith(t, size, Options{})
}

// StartWith is Start with options.
func StartWith(t testing.TB, size int, opts Options) *Cluster {
	t.Helper()
	c := &Cluster{t: t, opts: opts}
	for i := range size {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		m := &Member{Name: fmt.Sprintf("m%d", i), dir: t.TempDir(), peerLn: ln, peerURL: "http://" + ln.Addr().String()}
		advertised := m.peerURL
		if opts.PeerProxies {
			p, err := netfault.New(netfault.Config{Target: ln.Addr().String(), Seed: uint64(i)})
			if err != nil {
				t.Fatal(err)
			}
			// Registered before c.Close, so it runs after the members stopped.
			t.Cleanup(func() { _ = p.Close() })
			m.proxy = p
			advertised = "http://" + p.Addr()
		}
		c.Members = append(c.Members, m)
		c.initial = append(c.initial, raftstore.Member{Name: m.Name, PeerURLs: []string{advertised}})
	}
	for _, m := range c.Members {
		c.startMember(m)
	}
	t.Cleanup(c.Close)
	c.WaitLeader()
	return c
}

func (c *Cluster) startMember(m *Member) {
	c.t.Helper()
	if m.peerLn == nil {
		ln, err := net.Listen("tcp", m.peerURL[len("http://"):])
		if err != nil {
			c.t.Fatalf("relisten %s: %v", m.Name, err)
		}
		m.peerLn = ln
	}
	// A restarted member keeps its client address, so clients made before go on reaching it.
	clientAddr := "127.0.0.1:0"
	if m.Endpoint != "" {
		clientAddr = m.Endpoint
	}
	clientLn, err := net.Listen("tcp", clientAddr)
	if err != nil {
		c.t.Fatal(err)
	}
	m.sw = newNetSwitch()
	clientLn = m.sw.listener(clientLn)
	m.Endpoint = clientLn.Addr().String()
	m.Registry = prometheus.NewRegistry()
	var (
		advertise net.Addr
		dial      raftstore.PeerDialer
	)
	if m.proxy != nil {
		if advertise, err = net.ResolveTCPAddr("tcp", m.proxy.Addr()); err != nil {
			c.t.Fatal(err)
		}
		dial = raftstore.NewPeerDialer(m.proxy.DialAddr(), nil)
	}
	m.mux = raftstore.NewPeerMux(m.sw.listener(m.peerLn), advertise, m.sw.dialer(dial))
	go func() { _ = m.mux.Serve() }()
	cfg := raftstore.Config{
		Name: m.Name, DataDir: m.dir, InitialCluster: c.initial, NewCluster: true, Token: "testcluster",
		ClientURLs:        []string{"http://" + m.Endpoint},
		HeartbeatInterval: 50 * time.Millisecond, ElectionTimeout: 500 * time.Millisecond,
		Transport:  raftstore.NewNetworkTransport(m.mux, nil, 0),
		PeerDialer: m.mux.Dialer(),
		Registerer: m.Registry,
	}
	if c.opts.Configure != nil {
		c.opts.Configure(c.index(m), &cfg)
	}
	node, err := raftstore.Open(cfg)
	if err != nil {
		c.t.Fatalf("open %s: %v", m.Name, err)
	}
	m.Node = node
	m.peer = server.NewPeerServer(node)
	go func() { _ = m.peer.Serve(m.mux.GRPCListener()) }()
	m.Server = server.New(server.Config{ElectionTimeout: 500 * time.Millisecond,
		WatchProgressInterval: c.opts.WatchProgressInterval,
		Registerer:            m.Registry, Gatherer: m.Registry}, node)
	go func() { _ = m.Server.Serve(clientLn) }()
	if c.opts.Started != nil {
		c.opts.Started(c.index(m), m)
	}
}

func (c *Cluster) index(m *Member) int {
	for i, x := range c.Members {
		if x == m {
			return i
		}
	}
	panic("testcluster: unknown member")
}

// Stop stops member i (gracefully: its data dir stays for Restart).
func (c *Cluster) Stop(i int) {
	m := c.Members[i]
	if m.Node == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	m.Server.Stop(ctx)
	_ = m.Node.Close()
	m.peer.Stop()
	_ = m.mux.Close()
	m.Node, m.peerLn = nil, nil
}

// Isolate pulls member i's network cable: every connection it has to other members and to
// clients is closed, and new ones fail, until it is stopped. Nothing it does afterwards is seen
// by anyone, as with a machine that lost its power or its network.
func (c *Cluster) Isolate(i int) {
	if m := c.Members[i]; m.sw != nil {
		m.sw.isolate()
	}
}

// PeerProxy returns member i's network fault proxy, or nil without Options.PeerProxies. Its
// faults may be changed from any goroutine.
func (c *Cluster) PeerProxy(i int) *netfault.Proxy { return c.Members[i].proxy }

// BlackholeBetween discards all peer traffic from member from to member to (from's proxy
// drops its requests to to, to's proxy drops from's answers); call it again swapped to cut
// both ways. HealPeers ends it. It needs Options.PeerProxies.
func (c *Cluster) BlackholeBetween(from, to int) {
	c.t.Helper()
	a, b := c.Members[from].proxy, c.Members[to].proxy
	if a == nil || b == nil {
		c.t.Fatal("testcluster: BlackholeBetween needs Options.PeerProxies")
	}
	a.BlackholePeer(b.Addr(), netfault.Tx)
	b.BlackholePeer(a.Addr(), netfault.Rx)
}

// HealPeers heals every member's peer proxy; a no-op without Options.PeerProxies.
func (c *Cluster) HealPeers() {
	for _, m := range c.Members {
		if m.proxy != nil {
			m.proxy.Heal()
		}
	}
}

// Restart starts a stopped member again on its data dir and peer address.
func (c *Cluster) Restart(i int) { c.startMember(c.Members[i]) }

// Close stops every member.
func (c *Cluster) Close() {
	for i := range c.Members {
		c.Stop(i)
	}
}

// Endpoints returns every running member's client endpoint.
func (c *Cluster) Endpoints() []string {
	var eps []string
	for _, m := range c.Members {
		if m.Node != nil {
			eps = append(eps, m.Endpoint)
		}
	}
	return eps
}

// Client returns a clientv3 client on the given members (all running ones when none given),
// closed at cleanup.
func (c *Cluster) Client(members ...int) *clientv3.Client {
	c.t.Helper()
	eps := c.Endpoints()
	if len(members) > 0 {
		eps = nil
		for _, i := range members {
			eps = append(eps, c.Members[i].Endpoint)
		}
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: eps, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() { _ = cli.Close() })
	return cli
}

// Leader returns the index of the leader, waiting for one.
func (c *Cluster) Leader() int { return c.WaitLeader() }

// WaitLeader waits until a running member is leader and returns its index.
func (c *Cluster) WaitLeader() int {
	c.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		for i, m := range c.Members {
			if m.Node != nil && m.Node.IsLeader() {
				return i
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	c.t.Fatal("no leader within 15s")
	return -1
}

// Follower returns the index of a running non-leader member other than those in not.
func (c *Cluster) Follower(not ...int) int {
	c.t.Helper()
	l := c.WaitLeader()
outer:
	for i, m := range c.Members {
		if m.Node == nil || i == l {
			continue
		}
		for _, x := range not {
			if x == i {
				continue outer
			}
		}
		return i
	}
	c.t.Fatal("no follower")
	return -1
}
