package proccluster

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/keeldb/keel/internal/netfault"
)

// AddSlot prepares a new member slot for a member that joins the running cluster (after a
// MemberAdd): fresh ports and data dir, and etcd's flags for joining, with
// --initial-cluster-state existing and --initial-cluster listing every slot (this one too).
// The member is not started: add it to the cluster first, then start it with Restart(i). It
// returns the slot's index. Call it from the test goroutine.
func (c *Cluster) AddSlot() int {
	c.t.Helper()
	ports, err := freePorts(2)
	if err != nil {
		c.t.Fatal(err)
	}
	i := len(c.members)
	m := c.newMember(i, ports[0], ports[1])
	var initial []string
	for _, o := range c.members {
		initial = append(initial, o.name+"="+o.advPeerURL)
	}
	initial = append(initial, m.name+"="+m.advPeerURL)
	m.args = c.memberArgs(m, initial, "existing")
	c.members = append(c.members, m)
	return i
}

// newMember makes slot i with the given client and peer ports.
func (c *Cluster) newMember(i, clientPort, peerPort int) *member {
	scheme := "http"
	if c.cfg.TLS != nil {
		scheme = "https"
	}
	m := &member{
		idx:       i,
		name:      fmt.Sprintf("m%d", i),
		clientURL: fmt.Sprintf("%s://127.0.0.1:%d", scheme, clientPort),
		peerURL:   fmt.Sprintf("%s://127.0.0.1:%d", scheme, peerPort),
	}
	m.advPeerURL = m.peerURL
	if c.cfg.AdvertisePeerURL != nil {
		m.advPeerURL = c.cfg.AdvertisePeerURL(i, m.peerURL)
	}
	m.dataDir = filepath.Join(c.cfg.DataDir, m.name)
	m.logPath = filepath.Join(c.cfg.LogDir, m.name+".log")
	if c.cfg.PeerProxies {
		m.proxy = c.startPeerProxy(i, peerPort, m.logPath)
		m.advPeerURL = scheme + "://" + m.proxy.Addr()
	}
	return m
}

// memberArgs returns etcd's flags for m: its URLs, the initial cluster (name=URL entries),
// the initial cluster state, the TLS flags of Config.TLS, then Config.ExtraArgs.
func (c *Cluster) memberArgs(m *member, initial []string, state string) []string {
	args := []string{
		"--name", m.name,
		"--data-dir", m.dataDir,
		"--listen-client-urls", m.clientURL,
		"--advertise-client-urls", m.clientURL,
		"--listen-peer-urls", m.peerURL,
		"--initial-advertise-peer-urls", m.advPeerURL,
		"--initial-cluster", strings.Join(initial, ","),
		"--initial-cluster-state", state,
		"--initial-cluster-token", c.token,
	}
	if c.cfg.TLS != nil {
		args = append(args, c.cfg.TLS.args()...)
	}
	if m.proxy != nil {
		args = append(args, "--peer-dial-proxy", m.proxy.DialAddr())
	}
	return append(args, c.cfg.ExtraArgs...)
}

// startPeerProxy starts member i's network fault proxy in front of its peer port. Its fault
// changes go to the member's log, so they show in the member's timeline. The proxy is closed
// by t.Cleanup, after the teardown that kills the members (registered later).
func (c *Cluster) startPeerProxy(i, peerPort int, logPath string) *netfault.Proxy {
	c.t.Helper()
	p, err := netfault.New(netfault.Config{
		Target: fmt.Sprintf("127.0.0.1:%d", peerPort),
		Seed:   c.cfg.PeerProxySeed + uint64(i),
		Logger: slog.New(slog.NewJSONHandler(appendFile(logPath), nil)),
	})
	if err != nil {
		c.t.Fatalf("proccluster: peer proxy for m%d: %v", i, err)
	}
	c.t.Cleanup(func() { _ = p.Close() })
	return p
}

// WaitExit waits until member i's process exits on its own (e.g. after it was removed from
// the cluster) and records that it is expected to be down. It returns the process's exit error.
func (c *Cluster) WaitExit(ctx context.Context, i int) (error, error) {
	m := c.members[i]
	m.mu.Lock()
	p := m.proc
	m.mu.Unlock()
	if p == nil {
		return nil, fmt.Errorf("proccluster: %s was never started", m.name)
	}
	select {
	case <-p.done:
	case <-ctx.Done():
		return nil, fmt.Errorf("proccluster: %s still running: %w", m.name, ctx.Err())
	}
	m.mu.Lock()
	m.wantRunning = false
	m.mu.Unlock()
	return p.err, nil
}

// appendFile is an io.Writer that appends each write to the file at path, opening it every
// time: the proxy's rare log lines then land in the member's log whatever happened to the
// file (created late, renamed by a retried Start). O_APPEND keeps each line whole beside the
// member process's own writes.
type appendFile string

func (f appendFile) Write(b []byte) (int, error) {
	fd, err := os.OpenFile(string(f), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return 0, err
	}
	n, err := fd.Write(b)
	if cerr := fd.Close(); err == nil {
		err = cerr
	}
	return n, err
}
