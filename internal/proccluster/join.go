package proccluster

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
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
	m := &member{
		idx:       i,
		name:      fmt.Sprintf("m%d", i),
		clientURL: fmt.Sprintf("http://127.0.0.1:%d", ports[0]),
		peerURL:   fmt.Sprintf("http://127.0.0.1:%d", ports[1]),
	}
	m.dataDir = filepath.Join(c.cfg.DataDir, m.name)
	m.logPath = filepath.Join(c.cfg.LogDir, m.name+".log")
	var initial []string
	for _, o := range c.members {
		initial = append(initial, o.name+"="+o.peerURL)
	}
	initial = append(initial, m.name+"="+m.peerURL)
	m.args = []string{
		"--name", m.name,
		"--data-dir", m.dataDir,
		"--listen-client-urls", m.clientURL,
		"--advertise-client-urls", m.clientURL,
		"--listen-peer-urls", m.peerURL,
		"--initial-advertise-peer-urls", m.peerURL,
		"--initial-cluster", strings.Join(initial, ","),
		"--initial-cluster-state", "existing",
		"--initial-cluster-token", c.token,
	}
	m.args = append(m.args, c.cfg.ExtraArgs...)
	c.members = append(c.members, m)
	return i
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
