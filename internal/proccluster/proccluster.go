package proccluster

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/keeldb/keel/internal/netfault"
)

// Defaults applied by Start to zero Config fields.
const (
	DefaultMembers      = 3
	DefaultStartTimeout = 60 * time.Second
	DefaultStopTimeout  = 30 * time.Second
	// maxStartAttempts bounds how often Start retries with new ports after a bind failure.
	maxStartAttempts = 3
	// logTailBytes is how much of each member log is printed when a test fails.
	logTailBytes = 16 << 10
)

// Config describes a cluster to start. Zero values mean defaults.
type Config struct {
	// Binary is the server executable: EtcdBinary(t) or BuildKeeld(t). Required.
	Binary string
	// Members is the cluster size; 0 means DefaultMembers (3).
	Members int
	// DataDir is the parent of the per-member data dirs (<DataDir>/m<i>); "" means t.TempDir().
	DataDir string
	// ExtraArgs are appended to every member's flags (e.g. "--log-level", "debug").
	ExtraArgs []string
	// Env entries ("K=V") are appended to the test process environment for every member.
	Env []string
	// LogDir receives <LogDir>/m<i>.log with each member's stdout and stderr; "" means DataDir.
	// Set it to a directory outside t.TempDir() to keep logs after the test.
	LogDir string
	// StartTimeout bounds how long Start waits for a healthy cluster; 0 means 60 s.
	StartTimeout time.Duration
	// StopTimeout bounds how long Stop waits after SIGTERM before it fails the test and
	// SIGKILLs the member; 0 means 30 s.
	StopTimeout time.Duration
	// TLS, when set, makes every client and peer URL https with mutual TLS on both (etcd's
	// --cert-file, --key-file, --trusted-ca-file, --client-cert-auth and their --peer-* twins),
	// and makes Status and Client use the same certificate as a client certificate. nil keeps
	// plain http.
	TLS *TLSFiles
	// AdvertisePeerURL, when set, maps member i's peer URL (the one it listens on) to the peer
	// URL it advertises and --initial-cluster names, e.g. a test proxy in front of the member's
	// peer port. nil advertises the listen URL. It is called again for the new ports when
	// Start retries.
	AdvertisePeerURL func(i int, listenURL string) string
	// MemberEnv, when set, returns extra environment entries ("K=V") for member i, appended
	// after Env each time the member starts (Start, its retries, Restart); e.g. the
	// GOFAIL_HTTP address of a keeld built with failpoints (FreePorts picks ports). nil adds
	// nothing.
	MemberEnv func(i int) []string
	// PeerProxies, when set, puts an internal/netfault proxy in front of every member for
	// network faults (docs/RELIABILITY.md "Network faults"): the member advertises the
	// proxy's forwarding address as its peer URL and dials its peers through the proxy's
	// CONNECT listener (keeld --peer-dial-proxy), so all of its peer traffic, both ways,
	// crosses it. PeerProxy(i) returns it; its fault changes are logged in the member's log.
	// keeld only (etcd has no --peer-dial-proxy); not with AdvertisePeerURL.
	PeerProxies bool
	// PeerProxySeed seeds member i's proxy with PeerProxySeed+i (jitter and drop decisions).
	PeerProxySeed uint64
	// GofailHTTP, when set, gives every member of a keeld built with failpoints
	// (BuildKeeldWithTags(t, "failpoints")) its own gofail endpoint, GOFAIL_HTTP on a free
	// loopback port kept across restarts, for ArmFailpoint, DisarmFailpoint and FailpointCount
	// (docs/RELIABILITY.md "Failpoints").
	GofailHTTP bool
}

func (cfg Config) withDefaults(t testing.TB) Config {
	t.Helper()
	if cfg.Members == 0 {
		cfg.Members = DefaultMembers
	}
	if cfg.DataDir == "" {
		cfg.DataDir = t.TempDir()
	}
	if cfg.LogDir == "" {
		cfg.LogDir = cfg.DataDir
	}
	if cfg.StartTimeout == 0 {
		cfg.StartTimeout = DefaultStartTimeout
	}
	if cfg.StopTimeout == 0 {
		cfg.StopTimeout = DefaultStopTimeout
	}
	return cfg
}

// Validate reports every problem with cfg (after defaults) at once.
func (cfg Config) Validate() error {
	var errs []error
	if cfg.Binary == "" {
		errs = append(errs, errors.New("proccluster: Config.Binary is empty"))
	} else if st, err := os.Stat(cfg.Binary); err != nil {
		errs = append(errs, fmt.Errorf("proccluster: Config.Binary: %w", err))
	} else if st.IsDir() || st.Mode()&0o111 == 0 {
		errs = append(errs, fmt.Errorf("proccluster: Config.Binary %q is not an executable file", cfg.Binary))
	}
	if cfg.Members < 1 {
		errs = append(errs, fmt.Errorf("proccluster: Config.Members = %d, want >= 1", cfg.Members))
	}
	if cfg.StartTimeout < 0 || cfg.StopTimeout < 0 {
		errs = append(errs, errors.New("proccluster: negative timeout"))
	}
	if cfg.TLS != nil {
		errs = append(errs, cfg.TLS.validate())
	}
	if cfg.PeerProxies && cfg.AdvertisePeerURL != nil {
		errs = append(errs, errors.New("proccluster: Config.PeerProxies and Config.AdvertisePeerURL both set"))
	}
	return errors.Join(errs...)
}

// Cluster is a running set of member processes. Create it with Start; it is torn down by the
// t.Cleanup that Start registers.
type Cluster struct {
	t       testing.TB
	cfg     Config
	token   string
	members []*member
	// clientTLS is the client side of Config.TLS; nil for plain http.
	clientTLS *tls.Config
	// logsDumped makes teardown print the member logs at most once.
	logsDumped atomic.Bool
	// gofailPorts are the members' GOFAIL_HTTP ports with Config.GofailHTTP, else nil.
	gofailPorts []int
}

// clusterSeq makes initial-cluster tokens unique within the test binary.
var clusterSeq atomic.Int64

// Start launches cfg.Members processes of cfg.Binary with etcd's clustering flags and returns
// once every member answers Status and all agree on a leader (see the package doc). It fails the
// test, printing the member logs, if the cluster does not get there within cfg.StartTimeout.
// It registers a t.Cleanup that SIGKILLs and reaps every member.
func Start(t testing.TB, cfg Config) *Cluster {
	t.Helper()
	cfg = cfg.withDefaults(t)
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	for attempt := 1; ; attempt++ {
		c, err := tryStart(t, cfg)
		if err == nil {
			return c
		}
		c.teardown(false)
		if errors.Is(err, errPortInUse) && attempt < maxStartAttempts {
			t.Logf("proccluster: attempt %d: %v; retrying with new ports", attempt, err)
			c.logsDumped.Store(true) // abandoned: its Cleanup must not print the moved logs
			for _, m := range c.members {
				// Keep the failed attempt's log aside, so the next attempt's bind check does
				// not see its "address already in use".
				_ = os.Rename(m.logPath, fmt.Sprintf("%s.attempt%d", m.logPath, attempt))
				if rerr := os.RemoveAll(m.dataDir); rerr != nil {
					t.Fatalf("proccluster: removing %s: %v", m.dataDir, rerr)
				}
			}
			continue
		}
		c.teardown(true)
		t.Fatalf("proccluster: starting %d members of %s: %v", cfg.Members, cfg.Binary, err)
	}
}

// tryStart makes one attempt; on error the caller tears the returned cluster down.
func tryStart(t testing.TB, cfg Config) (*Cluster, error) {
	t.Helper()
	c := &Cluster{
		t:     t,
		cfg:   cfg,
		token: fmt.Sprintf("proccluster-%d-%d", os.Getpid(), clusterSeq.Add(1)),
	}
	if cfg.TLS != nil {
		var err error
		if c.clientTLS, err = cfg.TLS.ClientConfig(); err != nil {
			return c, err
		}
	}
	n := 2 * cfg.Members
	if cfg.GofailHTTP {
		n += cfg.Members // picked together, so no gofail port repeats a member's port
	}
	ports, err := freePorts(n)
	if err != nil {
		return c, err
	}
	if cfg.GofailHTTP {
		c.gofailPorts = ports[2*cfg.Members:]
	}
	initial := make([]string, cfg.Members)
	for i := range cfg.Members {
		m := c.newMember(i, ports[2*i], ports[2*i+1])
		initial[i] = m.name + "=" + m.advPeerURL
		c.members = append(c.members, m)
	}
	for _, m := range c.members {
		m.args = c.memberArgs(m, initial, "new")
	}
	if err := os.MkdirAll(cfg.LogDir, 0o755); err != nil {
		return c, err
	}
	t.Cleanup(func() { c.teardown(t.Failed()) })
	for _, m := range c.members {
		if err := m.start(cfg.Binary, c.memberEnv(m.idx)); err != nil {
			return c, err
		}
	}
	ctx, cancel := context.WithTimeout(t.Context(), cfg.StartTimeout)
	defer cancel()
	if err := c.WaitHealthy(ctx); err != nil {
		if c.portInUse() {
			return c, fmt.Errorf("%w: %v", errPortInUse, err)
		}
		return c, err
	}
	return c, nil
}

// memberEnv returns the environment entries member i starts with: Config.Env, its
// GOFAIL_HTTP with Config.GofailHTTP, then Config.MemberEnv(i).
func (c *Cluster) memberEnv(i int) []string {
	env := append(append([]string(nil), c.cfg.Env...), c.gofailEnv(i)...)
	if c.cfg.MemberEnv != nil {
		env = append(env, c.cfg.MemberEnv(i)...)
	}
	return env
}

// teardown SIGKILLs and reaps every member and closes the peer proxies; it is idempotent.
// With dumpLogs it prints the tail of every member log, once per cluster.
func (c *Cluster) teardown(dumpLogs bool) {
	for _, m := range c.members {
		m.kill()
	}
	for _, m := range c.members {
		if m.proxy != nil {
			_ = m.proxy.Close()
		}
	}
	if !dumpLogs || c.logsDumped.Swap(true) {
		return
	}
	for _, m := range c.members {
		c.t.Logf("proccluster: ---- %s (%s) log %s ----\n%s", m.name, m.clientURL, m.logPath, tail(m.logPath, logTailBytes))
	}
}

// portInUse reports whether a member log mentions a bind failure.
func (c *Cluster) portInUse() bool {
	for _, m := range c.members {
		if strings.Contains(tail(m.logPath, logTailBytes), "address already in use") {
			return true
		}
	}
	return false
}

// Size returns the number of members.
func (c *Cluster) Size() int { return len(c.members) }

// Endpoints returns every member's client URL, in member order.
func (c *Cluster) Endpoints() []string {
	eps := make([]string, len(c.members))
	for i, m := range c.members {
		eps[i] = m.clientURL
	}
	return eps
}

// Endpoint returns member i's client URL ("http://127.0.0.1:<port>", or https with
// Config.TLS).
func (c *Cluster) Endpoint(i int) string { return c.members[i].clientURL }

// PeerURL returns member i's peer URL (the one it listens on).
func (c *Cluster) PeerURL(i int) string { return c.members[i].peerURL }

// AdvertisedPeerURL returns member i's advertised peer URL: PeerURL unless
// Config.AdvertisePeerURL maps it elsewhere.
func (c *Cluster) AdvertisedPeerURL(i int) string { return c.members[i].advPeerURL }

// PeerProxy returns member i's network fault proxy (Config.PeerProxies), or nil without
// PeerProxies. Its faults are safe to change from any goroutine; it lives until the test's
// cleanup, across Kill and Restart of the member.
func (c *Cluster) PeerProxy(i int) *netfault.Proxy { return c.members[i].proxy }

// BlackholeBetween discards all peer traffic from member from to member to, leaving both
// members' traffic with everyone else alone: from's requests on the connections it dials to
// to (from's proxy, Tx) and from's answers on the connections to dials to it (to's proxy,
// Rx), with netfault.Proxy.BlackholePeer. Call it again with the members swapped to cut the
// pair both ways. HealPeers ends it. It needs Config.PeerProxies; call it from the test
// goroutine.
func (c *Cluster) BlackholeBetween(from, to int) {
	c.t.Helper()
	a, b := c.members[from], c.members[to]
	if a.proxy == nil || b.proxy == nil {
		c.t.Fatal("proccluster: BlackholeBetween needs Config.PeerProxies")
	}
	a.proxy.BlackholePeer(b.proxy.Addr(), netfault.Tx)
	b.proxy.BlackholePeer(a.proxy.Addr(), netfault.Rx)
}

// HealPeers heals every member's peer proxy (netfault.Proxy.Heal); a no-op without
// Config.PeerProxies.
func (c *Cluster) HealPeers() {
	for _, m := range c.members {
		if m.proxy != nil {
			m.proxy.Heal()
		}
	}
}

// ClientTLS returns a copy of the client TLS configuration Status and Client use (Config.TLS's
// CA and certificate), or nil when the cluster runs plain http.
func (c *Cluster) ClientTLS() *tls.Config {
	if c.clientTLS == nil {
		return nil
	}
	return c.clientTLS.Clone()
}

// Name returns member i's --name ("m<i>").
func (c *Cluster) Name(i int) string { return c.members[i].name }

// DataDir returns member i's --data-dir.
func (c *Cluster) DataDir(i int) string { return c.members[i].dataDir }

// LogPath returns the file that receives member i's stdout and stderr.
func (c *Cluster) LogPath(i int) string { return c.members[i].logPath }

// Args returns a copy of the flags member i is started with.
func (c *Cluster) Args(i int) []string { return append([]string(nil), c.members[i].args...) }

// Running reports whether member i's process is alive (it may be paused).
func (c *Cluster) Running(i int) bool { return c.members[i].running() }

// Client returns a clientv3 client over the given members' endpoints (every member when none
// are given). It is closed by t.Cleanup. Call it from the test goroutine.
func (c *Cluster) Client(t testing.TB, members ...int) *clientv3.Client {
	t.Helper()
	eps := c.Endpoints()
	if len(members) > 0 {
		eps = eps[:0:0]
		for _, i := range members {
			eps = append(eps, c.Endpoint(i))
		}
	}
	// The client's own logger warns on every failed RPC, which buries test output in noise
	// for the error cases tests provoke on purpose.
	cli, err := clientv3.New(clientv3.Config{Endpoints: eps, DialTimeout: 10 * time.Second, Logger: zap.NewNop(),
		TLS: c.ClientTLS()})
	if err != nil {
		t.Fatalf("proccluster: clientv3.New(%v): %v", eps, err)
	}
	t.Cleanup(func() { _ = cli.Close() })
	return cli
}

// Kill sends SIGKILL to member i and waits for the process to exit. Killing a member that is
// not running is a no-op. Call it from the test goroutine.
func (c *Cluster) Kill(i int) {
	c.t.Helper()
	c.members[i].kill()
}

// Stop sends SIGTERM to member i and waits for it to exit. If it has not exited within
// Config.StopTimeout, Stop fails the test (a server must shut down on SIGTERM) and SIGKILLs it.
// Stopping a member that is not running is a no-op. Call it from the test goroutine.
func (c *Cluster) Stop(i int) {
	c.t.Helper()
	m := c.members[i]
	exited, err := m.terminate(c.cfg.StopTimeout)
	if !exited {
		c.t.Errorf("proccluster: %s did not exit within %v of SIGTERM; sent SIGKILL", m.name, c.cfg.StopTimeout)
		m.kill()
		return
	}
	// etcd re-raises SIGTERM after its shutdown, so "signal: terminated" is a clean exit too.
	var ee *exec.ExitError
	if err != nil && !(errors.As(err, &ee) && ee.ProcessState.Sys().(syscall.WaitStatus).Signal() == syscall.SIGTERM) {
		c.t.Logf("proccluster: %s exited after SIGTERM: %v", m.name, err)
	}
}

// Restart starts member i again with exactly the same flags and data dir (so
// --initial-cluster-state stays "new", which etcd ignores for an existing data dir). A running
// member is first stopped with SIGTERM as Stop does. Restart returns once the process has been
// started; use WaitMember or WaitHealthy to wait for it to serve. Call it from the test
// goroutine.
func (c *Cluster) Restart(i int) {
	c.t.Helper()
	if c.members[i].running() {
		c.Stop(i)
	}
	if err := c.members[i].start(c.cfg.Binary, c.memberEnv(i)); err != nil {
		c.t.Fatalf("proccluster: restarting %s: %v", c.members[i].name, err)
	}
}

// Pause sends SIGSTOP to member i. A paused member is left out of Leader, WaitLeader and
// WaitHealthy. Call it from the test goroutine.
func (c *Cluster) Pause(i int) {
	c.t.Helper()
	if err := c.members[i].signalPause(true); err != nil {
		c.t.Fatalf("proccluster: pausing %s: %v", c.members[i].name, err)
	}
}

// Resume sends SIGCONT to member i after Pause. Call it from the test goroutine.
func (c *Cluster) Resume(i int) {
	c.t.Helper()
	if err := c.members[i].signalPause(false); err != nil {
		c.t.Fatalf("proccluster: resuming %s: %v", c.members[i].name, err)
	}
}

// tail returns at most n bytes from the end of the file at path, or a note saying why not.
func tail(path string, n int64) string {
	f, err := os.Open(path)
	if err != nil {
		return "(" + err.Error() + ")"
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return "(" + err.Error() + ")"
	}
	off := max(st.Size()-n, 0)
	buf := make([]byte, st.Size()-off)
	if _, err := f.ReadAt(buf, off); err != nil {
		return "(" + err.Error() + ")"
	}
	prefix := ""
	if off > 0 {
		prefix = fmt.Sprintf("[... %d bytes cut ...]\n", off)
	}
	return prefix + string(buf)
}
