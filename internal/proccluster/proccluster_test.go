package proccluster_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/keeldb/keel/internal/poll"

	"github.com/keeldb/keel/internal/netfault"
	"github.com/keeldb/keel/internal/proccluster"
)

func TestMain(m *testing.M) {
	code := m.Run()
	proccluster.RemoveBuilds()
	os.Exit(code)
}

// waitCtx bounds one wait in these tests; it is a deadline for polling, not a timing assertion.
func waitCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func put(ctx context.Context, cli *clientv3.Client, k, v string) error {
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	_, err := cli.Put(cctx, k, v)
	return err
}

func TestStartFlagsAndEndpoints(t *testing.T) {
	c := proccluster.Start(t, proccluster.Config{Binary: proccluster.EtcdBinary(t), Members: 3})

	eps := c.Endpoints()
	if len(eps) != 3 {
		t.Fatalf("Endpoints() = %v, want 3", eps)
	}
	var initial []string
	for i := range 3 {
		initial = append(initial, fmt.Sprintf("m%d=%s", i, c.PeerURL(i)))
	}
	seenPorts := map[string]bool{}
	for i, ep := range eps {
		if ep != c.Endpoint(i) {
			t.Errorf("Endpoint(%d) = %q, Endpoints()[%d] = %q", i, c.Endpoint(i), i, ep)
		}
		for _, u := range []string{ep, c.PeerURL(i)} {
			if !strings.HasPrefix(u, "http://127.0.0.1:") || strings.HasSuffix(u, ":2379") || strings.HasSuffix(u, ":2380") {
				t.Errorf("member %d URL %q: want a non-default loopback port", i, u)
			}
			if seenPorts[u] {
				t.Errorf("URL %q used twice", u)
			}
			seenPorts[u] = true
		}
		args := c.Args(i)
		for _, kv := range [][2]string{
			{"--name", fmt.Sprintf("m%d", i)},
			{"--data-dir", c.DataDir(i)},
			{"--listen-client-urls", ep},
			{"--advertise-client-urls", ep},
			{"--listen-peer-urls", c.PeerURL(i)},
			{"--initial-advertise-peer-urls", c.PeerURL(i)},
			{"--initial-cluster", strings.Join(initial, ",")},
			{"--initial-cluster-state", "new"},
		} {
			j := slices.Index(args, kv[0])
			if j < 0 || j+1 >= len(args) || args[j+1] != kv[1] {
				t.Errorf("member %d args %v: want %s %s", i, args, kv[0], kv[1])
			}
		}
		if c.MemberID(i) == 0 {
			t.Errorf("MemberID(%d) = 0 after Start", i)
		}
	}

	ctx := waitCtx(t)
	cli := c.Client(t)
	if err := put(ctx, cli, "k", "v"); err != nil {
		t.Fatalf("put through all endpoints: %v", err)
	}
	for i := range 3 {
		resp, err := c.Client(t, i).Get(ctx, "k")
		if err != nil || len(resp.Kvs) != 1 || string(resp.Kvs[0].Value) != "v" {
			t.Errorf("member %d: Get(k) = %v, %v; want v", i, resp, err)
		}
	}
}

// TestKillLeaderRestart kills the leader with SIGKILL, checks that the survivors elect a new
// one and keep accepting writes, restarts the old leader from its data dir and checks that it
// rejoins with every write.
func TestKillLeaderRestart(t *testing.T) {
	c := proccluster.Start(t, proccluster.Config{Binary: proccluster.EtcdBinary(t), Members: 3})
	ctx := waitCtx(t)
	cli := c.Client(t)
	if err := put(ctx, cli, "before", "1"); err != nil {
		t.Fatal(err)
	}

	old, err := c.Leader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	c.Kill(old)
	if c.Running(old) {
		t.Fatalf("member %d still running after Kill", old)
	}

	leader, err := c.WaitLeader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if leader == old {
		t.Fatalf("WaitLeader() = %d, the killed member", leader)
	}
	var survivors []int
	for i := range c.Size() {
		if i != old {
			survivors = append(survivors, i)
		}
	}
	survivorsCli := c.Client(t, survivors...)
	poll.Until(t, ctx, "put after leader kill", func(ctx context.Context) error {
		return put(ctx, survivorsCli, "after", "2")
	})

	c.Restart(old)
	if err := c.WaitHealthy(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Leader(ctx); err != nil {
		t.Fatal(err)
	}
	restarted := c.Client(t, old)
	poll.Until(t, ctx, "linearizable read on the restarted member", func(ctx context.Context) error {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		resp, err := restarted.Get(cctx, "after")
		if err != nil {
			return err
		}
		if len(resp.Kvs) != 1 || string(resp.Kvs[0].Value) != "2" {
			return fmt.Errorf("Get(after) = %v, want value 2", resp.Kvs)
		}
		return nil
	})
}

// TestStopPauseResume covers graceful stop and restart of a follower and SIGSTOP/SIGCONT.
func TestStopPauseResume(t *testing.T) {
	c := proccluster.Start(t, proccluster.Config{Binary: proccluster.EtcdBinary(t), Members: 3})
	ctx := waitCtx(t)
	leader, err := c.Leader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	follower := (leader + 1) % c.Size()
	leaderCli := c.Client(t, leader)

	c.Stop(follower)
	if c.Running(follower) {
		t.Fatalf("member %d running after Stop", follower)
	}
	if err := c.WaitHealthy(ctx); err != nil {
		t.Fatalf("WaitHealthy with one member stopped: %v", err)
	}
	poll.Until(t, ctx, "put with one member stopped", func(ctx context.Context) error {
		return put(ctx, leaderCli, "stopped", "1")
	})
	c.Restart(follower)
	if err := c.WaitMember(ctx, follower); err != nil {
		t.Fatal(err)
	}
	if err := c.WaitHealthy(ctx); err != nil {
		t.Fatal(err)
	}

	c.Pause(follower)
	if !c.Running(follower) {
		t.Fatalf("paused member %d reported as not running", follower)
	}
	if err := c.WaitHealthy(ctx); err != nil {
		t.Fatalf("WaitHealthy with one member paused: %v", err)
	}
	poll.Until(t, ctx, "put with one member paused", func(ctx context.Context) error {
		return put(ctx, leaderCli, "paused", "1")
	})
	c.Resume(follower)
	if err := c.WaitHealthy(ctx); err != nil {
		t.Fatal(err)
	}
	followerCli := c.Client(t, follower)
	poll.Until(t, ctx, "read on the resumed member", func(ctx context.Context) error {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		resp, err := followerCli.Get(cctx, "paused")
		if err != nil {
			return err
		}
		if resp.Count != 1 {
			return fmt.Errorf("Get(paused) count = %d, want 1", resp.Count)
		}
		return nil
	})
}

// TestKeeldSkipsOrBuilds checks the Keel binary helper: a skip while cmd/keeld is missing, an
// executable path once it exists.
func TestKeeldSkipsOrBuilds(t *testing.T) {
	p := proccluster.BuildKeeld(t)
	st, err := os.Stat(p)
	if err != nil || st.Mode()&0o111 == 0 {
		t.Fatalf("BuildKeeld() = %q (%v): not an executable", p, err)
	}
	if p2 := proccluster.BuildKeeld(t); p2 != p {
		t.Errorf("second BuildKeeld() = %q, want the cached %q", p2, p)
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  proccluster.Config
		want []string // substrings of the error; none means valid
	}{
		{"valid", proccluster.Config{Binary: "/bin/sh", Members: 1}, nil},
		{"everything wrong", proccluster.Config{Members: 0, StartTimeout: -1}, []string{"Binary is empty", "Members = 0", "negative timeout"}},
		{"missing binary", proccluster.Config{Binary: "/nonexistent/keeld", Members: 3}, []string{"no such file"}},
		{"directory", proccluster.Config{Binary: "/", Members: 3}, []string{"not an executable"}},
		{"TLS files", proccluster.Config{Binary: "/bin/sh", Members: 1,
			TLS: &proccluster.TLSFiles{CAFile: "/nonexistent/ca.crt", CertFile: "/bin/sh"}},
			[]string{"TLS.CAFile: stat /nonexistent/ca.crt", "TLS.KeyFile is empty"}},
		{"two peer URL mappings", proccluster.Config{Binary: "/bin/sh", Members: 1, PeerProxies: true,
			AdvertisePeerURL: func(_ int, u string) string { return u }},
			[]string{"PeerProxies and Config.AdvertisePeerURL both set"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate() = nil, want errors containing %q", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Validate() = %v, want it to contain %q", err, w)
				}
			}
		})
	}
}

// With PeerProxies, every member advertises its proxy and dials through it, so each proxy
// relays traffic both to and from its member.
func TestPeerProxies(t *testing.T) {
	c := proccluster.Start(t, proccluster.Config{Binary: proccluster.BuildKeeld(t), Members: 3, PeerProxies: true})
	ctx := waitCtx(t)
	cli := c.Client(t)
	poll.Until(t, ctx, "a put", func(ctx context.Context) error { return put(ctx, cli, "k", "v") })
	for i := range c.Size() {
		p := c.PeerProxy(i)
		if want := "http://" + p.Addr(); c.AdvertisedPeerURL(i) != want {
			t.Errorf("m%d advertises %s, want its proxy %s", i, c.AdvertisedPeerURL(i), want)
		}
		if !slices.Contains(c.Args(i), p.DialAddr()) {
			t.Errorf("m%d args %v lack --peer-dial-proxy %s", i, c.Args(i), p.DialAddr())
		}
		st := p.Stats()
		if st.Rx.ForwardedBytes == 0 || st.Tx.ForwardedBytes == 0 {
			t.Errorf("m%d proxy stats %+v: want traffic both ways", i, st)
		}
	}
	// The proxies outlive their members: a follower killed and restarted behind its proxy
	// rejoins (while it is down, the proxy resets the others' connections to it).
	leader, err := c.WaitLeader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	f := (leader + 1) % c.Size()
	c.Kill(f)
	poll.Until(t, ctx, "a put without m"+fmt.Sprint(f), func(ctx context.Context) error { return put(ctx, cli, "k", "v2") })
	c.Restart(f)
	if err := c.WaitHealthy(ctx); err != nil {
		t.Fatal(err)
	}
	fcli := c.Client(t, f)
	poll.Until(t, ctx, "a linearizable read through the restarted member", func(ctx context.Context) error {
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		get, err := fcli.Get(rctx, "k")
		if err != nil {
			return err
		}
		if len(get.Kvs) != 1 || string(get.Kvs[0].Value) != "v2" {
			return fmt.Errorf("got %v", get.Kvs)
		}
		return nil
	})

	c.PeerProxy(0).Delay(netfault.Tx, time.Millisecond, 0)
	c.HealPeers()
	log, err := os.ReadFile(c.LogPath(0))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(log), `"msg":"fault set"`) || !strings.Contains(string(log), `"msg":"healed"`) {
		t.Errorf("m0's log does not record its proxy's fault changes:\n%s", log)
	}
}
