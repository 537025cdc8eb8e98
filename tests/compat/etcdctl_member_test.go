package compat_test

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/keeldb/keel/internal/proccluster"
)

// TestEtcdctlMembership grows a 3-member cluster to 4 with etcdctl (a learner that joins with
// --initial-cluster-state existing and is promoted), updates it, moves leadership to it and
// removes it again while it leads. The etcd run proves the expectations.
func TestEtcdctlMembership(t *testing.T) {
	if testing.Short() {
		t.Skip("starts and reconfigures two clusters")
	}
	t.Run("etcd", func(t *testing.T) {
		etcdctlMemberSuite(t, proccluster.EtcdctlBinary(t), proccluster.EtcdBinary(t))
	})
	t.Run("keel", func(t *testing.T) {
		etcdctlMemberSuite(t, proccluster.EtcdctlBinary(t), proccluster.BuildKeeld(t))
	})
}

var memberAdded = regexp.MustCompile(`Member +([0-9a-f]+) added to cluster +([0-9a-f]+)`)

func etcdctlMemberSuite(t *testing.T, etcdctl, binary string) {
	c := proccluster.Start(t, proccluster.Config{Binary: binary, Members: 3})
	x := ctl{t: t, etcdctl: etcdctl, c: c}
	x.must("", "put", "before", "join")

	// Add a learner and start it with etcd's joining flags. Promotion goes to the voters: a
	// learner refuses it ("rpc not supported for learner") and etcd 3.4's etcdctl may pick it.
	voters := c.Endpoints()
	i := c.AddSlot()
	out := x.mustSettled("member", "add", c.Name(i), "--peer-urls="+c.PeerURL(i), "--learner")
	m := memberAdded.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("member add: %q, want %q", out, "Member <id> added to cluster <cid>")
	}
	id := m[1]
	if !strings.Contains(out, "ETCD_INITIAL_CLUSTER_STATE=\"existing\"") {
		t.Errorf("member add: output does not give the joining member's settings:\n%s", out)
	}
	list := x.must("", "member", "list")
	if !strings.Contains(list, id+", unstarted, , "+c.PeerURL(i)+", , true") {
		t.Errorf("member list after add: no unstarted learner %s:\n%s", id, list)
	}
	c.Restart(i) // first start of the new slot
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	if err := c.WaitMember(ctx, i); err != nil {
		t.Fatal(err)
	}
	// Promotion fails until the learner has caught up; poll it.
	var promoteErr string
	for {
		out, errOut, ok := x.runAt(voters, "member", "promote", id)
		if ok {
			if want := fmt.Sprintf("Member %s promoted in cluster", id); !strings.Contains(squeeze(out), want) {
				t.Errorf("member promote: %q, want %q", out, want)
			}
			break
		}
		promoteErr = errOut
		if !strings.Contains(errOut, "can only promote a learner member which is in sync with leader") {
			t.Fatalf("member promote: %s", errOut)
		}
		select {
		case <-ctx.Done():
			t.Fatalf("learner never became ready: %s", promoteErr)
		case <-time.After(200 * time.Millisecond):
		}
	}
	_, errOut, ok := x.runAt(voters, "member", "promote", id)
	if ok || !strings.Contains(errOut, "etcdserver: can only promote a learner member") {
		t.Errorf("promoting a voter: ok=%v stderr %q, want the not-a-learner error", ok, errOut)
	}
	want := fmt.Sprintf("%s, started, %s, %s, %s, false", id, c.Name(i), c.PeerURL(i), c.Endpoint(i))
	pollOutput(t, x, want, "member", "list")

	// The new member serves reads and writes.
	y := ctl{t: t, etcdctl: etcdctl, c: c}
	if got := y.mustAt([]string{c.Endpoint(i)}, "get", "before", "--print-value-only"); got != "join\n" {
		t.Errorf("get on the new member: %q, want %q", got, "join\n")
	}
	y.mustAt([]string{c.Endpoint(i)}, "put", "after", "join")

	// Update it with its own URL (the only one it listens on).
	if out := x.must("", "member", "update", id, "--peer-urls="+c.PeerURL(i)); !strings.Contains(squeeze(out), "Member "+id+" updated in cluster") {
		t.Errorf("member update: %q", out)
	}
	_, errOut, ok = x.run("", "member", "update", "1234", "--peer-urls=http://127.0.0.1:1")
	if ok || !strings.Contains(errOut, "etcdserver: member not found") {
		t.Errorf("update of an unknown member: ok=%v stderr %q, want member not found", ok, errOut)
	}
	_, errOut, ok = x.runSettled("member", "add", "dup", "--peer-urls="+c.PeerURL(0))
	if ok || !strings.Contains(errOut, "etcdserver: Peer URLs already exists") {
		t.Errorf("add with a used peer URL: ok=%v stderr %q, want the peer-URL error", ok, errOut)
	}

	// Move leadership to it, then remove it while it leads.
	all := append(c.Endpoints()[:0:0], c.Endpoints()...)
	out = y.mustAt(all, "move-leader", id)
	if !strings.Contains(out, "Leadership transferred from") || !strings.Contains(out, "to "+id) {
		t.Errorf("move-leader: %q", out)
	}
	leader, err := c.WaitLeader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if leader != i {
		t.Fatalf("leader after move-leader is m%d, want m%d", leader, i)
	}
	if out := x.mustSettled("member", "remove", id); !strings.Contains(squeeze(out), "Member "+id+" removed from cluster") {
		t.Errorf("member remove: %q", out)
	}
	if _, err := c.WaitExit(ctx, i); err != nil {
		t.Fatalf("the removed member did not stop: %v", err)
	}
	rest := []string{c.Endpoint(0), c.Endpoint(1), c.Endpoint(2)}
	y.eps = rest
	y.mustSettled("put", "after", "remove")
	if got := y.mustAt(rest, "get", "after", "--print-value-only"); got != "remove\n" {
		t.Errorf("get after removing the leader: %q", got)
	}
	if list := y.mustAt(rest, "member", "list"); strings.Contains(list, id) || len(strings.Split(strings.TrimSpace(list), "\n")) != 3 {
		t.Errorf("member list after remove:\n%s", list)
	}
	_, errOut, ok = y.runAt(rest, "member", "remove", id)
	if ok || !strings.Contains(errOut, "etcdserver: member not found") {
		t.Errorf("second remove: ok=%v stderr %q, want member not found", ok, errOut)
	}
}

// squeeze collapses runs of spaces: etcdctl pads IDs to 16 columns.
func squeeze(s string) string { return strings.Join(strings.Fields(s), " ") }

// mustSettled runs a membership command, retrying while etcd refuses it because a member has
// not been connected for long enough ("unhealthy cluster", its strict reconfiguration check).
func (x ctl) mustSettled(args ...string) string {
	x.t.Helper()
	out, errOut, ok := x.runSettled(args...)
	if !ok {
		x.t.Fatalf("etcdctl %s failed:\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), out, errOut)
	}
	return out
}

// runSettled is run, retried while the answer is one a client retries: etcd's "unhealthy
// cluster" refusal of a reconfiguration, or a write lost to a leader change.
func (x ctl) runSettled(args ...string) (out, errOut string, ok bool) {
	x.t.Helper()
	ctx, cancel := context.WithTimeout(x.t.Context(), 60*time.Second)
	defer cancel()
	for {
		out, errOut, ok = x.run("", args...)
		if ok || ctx.Err() != nil || !(strings.Contains(errOut, "etcdserver: unhealthy cluster") ||
			strings.Contains(errOut, "etcdserver: request timed out") || strings.Contains(errOut, "etcdserver: leader changed") ||
			strings.Contains(errOut, "etcdserver: no leader")) {
			return out, errOut, ok
		}
		select {
		case <-ctx.Done():
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// mustAt runs etcdctl against the given endpoints and fails unless it exits 0.
func (x ctl) mustAt(eps []string, args ...string) string {
	x.t.Helper()
	out, errOut, ok := x.runAt(eps, args...)
	if !ok {
		x.t.Fatalf("etcdctl %s failed:\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), out, errOut)
	}
	return out
}

// runAt is run against the given endpoints instead of every member's.
func (x ctl) runAt(eps []string, args ...string) (string, string, bool) {
	x.t.Helper()
	x.eps = eps
	return x.run("", args...)
}

// pollOutput runs etcdctl until its output contains want.
func pollOutput(t *testing.T, x ctl, want string, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	var out string
	for ctx.Err() == nil {
		out = x.must("", args...)
		if strings.Contains(out, want) {
			return
		}
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
	t.Fatalf("etcdctl %s: never showed %q; last:\n%s", strings.Join(args, " "), want, out)
}
