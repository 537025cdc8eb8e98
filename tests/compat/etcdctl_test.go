package compat_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/keeldb/keel/internal/proccluster"
)

// TestEtcdctl drives Debian's etcdctl (API v3) against a 3-member cluster of each binary. The
// etcd run proves the expectations; the keel run checks that Keel satisfies them. The Keel run
// skips while cmd/keeld does not exist.
func TestEtcdctl(t *testing.T) {
	t.Run("etcd", func(t *testing.T) {
		etcdctlSuite(t, proccluster.EtcdctlBinary(t), proccluster.EtcdBinary(t))
	})
	t.Run("keel", func(t *testing.T) {
		etcdctlSuite(t, proccluster.EtcdctlBinary(t), proccluster.BuildKeeld(t))
	})
}

// ctl runs etcdctl against every endpoint of a cluster.
type ctl struct {
	t       *testing.T
	etcdctl string
	c       *proccluster.Cluster
	eps     []string // endpoints to use; nil means every member's
}

// run executes etcdctl with args and stdin; it returns stdout, stderr and whether it exited 0.
func (x ctl) run(stdin string, args ...string) (stdout, stderr string, ok bool) {
	x.t.Helper()
	ctx, cancel := context.WithTimeout(x.t.Context(), 60*time.Second)
	defer cancel()
	eps := x.eps
	if eps == nil {
		eps = x.c.Endpoints()
	}
	full := append([]string{"--endpoints=" + strings.Join(eps, ","), "--dial-timeout=10s", "--command-timeout=20s"}, args...)
	cmd := exec.CommandContext(ctx, x.etcdctl, full...)
	cmd.Env = append(etcdctlFreeEnv(), "ETCDCTL_API=3")
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if err != nil {
		if _, exited := err.(*exec.ExitError); !exited {
			x.t.Fatalf("etcdctl %s: %v", strings.Join(args, " "), err)
		}
	}
	return out.String(), errb.String(), err == nil
}

// must runs etcdctl and fails the test unless it exits 0; it returns stdout.
func (x ctl) must(stdin string, args ...string) string {
	x.t.Helper()
	out, errOut, ok := x.run(stdin, args...)
	if !ok {
		x.t.Fatalf("etcdctl %s failed:\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), out, errOut)
	}
	return out
}

// etcdctlFreeEnv is the test environment without ETCDCTL_* settings that could redirect it.
func etcdctlFreeEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "ETCDCTL_") {
			env = append(env, kv)
		}
	}
	return env
}

// rangeJSON is etcdctl's `get -w json` output: the RangeResponse marshaled with encoding/json,
// so bytes are base64 (decoded into []byte here) and field names are the proto names.
type rangeJSON struct {
	Header struct {
		ClusterID uint64 `json:"cluster_id"`
		MemberID  uint64 `json:"member_id"`
		Revision  int64  `json:"revision"`
		RaftTerm  uint64 `json:"raft_term"`
	} `json:"header"`
	Kvs []struct {
		Key            []byte `json:"key"`
		CreateRevision int64  `json:"create_revision"`
		ModRevision    int64  `json:"mod_revision"`
		Version        int64  `json:"version"`
		Value          []byte `json:"value"`
		Lease          int64  `json:"lease"`
	} `json:"kvs"`
	More  bool  `json:"more"`
	Count int64 `json:"count"`
}

// kvString renders the kvs compactly for comparisons: key=value@create/mod/version.
func (r rangeJSON) kvString() string {
	var parts []string
	for _, kv := range r.Kvs {
		parts = append(parts, fmt.Sprintf("%s=%s@%d/%d/%d", kv.Key, kv.Value, kv.CreateRevision, kv.ModRevision, kv.Version))
	}
	return strings.Join(parts, " ")
}

func etcdctlSuite(t *testing.T, etcdctl, binary string) {
	c := proccluster.Start(t, proccluster.Config{Binary: binary, Members: 3})
	x := ctl{t: t, etcdctl: etcdctl, c: c}
	var ids []uint64
	for i := range c.Size() {
		ids = append(ids, c.MemberID(i))
	}

	// Revisions: /p/a 2, /p/b 3, /p/c 4, foo 5, /p/a again 6.
	for _, kv := range [][2]string{{"/p/a", "1"}, {"/p/b", "2"}, {"/p/c", "3"}, {"foo", "bar"}, {"/p/a", "1x"}} {
		if out := x.must("", "put", kv[0], kv[1]); out != "OK\n" {
			t.Fatalf("put %s %s: stdout %q, want %q", kv[0], kv[1], out, "OK\n")
		}
	}

	t.Run("get-prefix-rev-limit-json", func(t *testing.T) {
		var r rangeJSON
		out := x.must("", "get", "/p/", "--prefix", "--rev", "4", "--limit", "2", "-w", "json")
		if err := json.Unmarshal([]byte(out), &r); err != nil {
			t.Fatalf("parsing %q: %v", out, err)
		}
		if r.Header.Revision != 6 || r.Header.ClusterID == 0 || r.Header.RaftTerm == 0 || !slices.Contains(ids, r.Header.MemberID) {
			t.Errorf("header = %+v, want revision 6, non-zero cluster_id and raft_term, member_id in %x", r.Header, ids)
		}
		if got, want := r.kvString(), "/p/a=1@2/2/1 /p/b=2@3/3/1"; got != want {
			t.Errorf("kvs = %s, want %s", got, want)
		}
		if !r.More || r.Count != 3 {
			t.Errorf("more, count = %v, %d; want true, 3", r.More, r.Count)
		}
		out = x.must("", "get", "/p/a", "-w", "json")
		r = rangeJSON{}
		if err := json.Unmarshal([]byte(out), &r); err != nil {
			t.Fatalf("parsing %q: %v", out, err)
		}
		if got, want := r.kvString(), "/p/a=1x@2/6/2"; got != want || r.More || r.Count != 1 {
			t.Errorf("latest /p/a: kvs %s more %v count %d; want %s false 1", got, r.More, r.Count, want)
		}
	})

	t.Run("del-prev-kv", func(t *testing.T) { // revision 7
		if out, want := x.must("", "del", "/p/a", "--prev-kv"), "1\n/p/a\n1x\n"; out != want {
			t.Errorf("del --prev-kv: stdout %q, want %q", out, want)
		}
		if out, want := x.must("", "del", "/p/none"), "0\n"; out != want {
			t.Errorf("del of a missing key: stdout %q, want %q", out, want)
		}
	})

	t.Run("txn-interactive", func(t *testing.T) {
		// Success branch (revision 8): both compares hold.
		script := "mod(\"/p/b\") > \"0\"\nvalue(\"/p/c\") = \"3\"\n\nput /p/c 33\nget /p/c\n\nput /p/c nope\n\n"
		out := x.must(script, "txn", "-i")
		if want := "SUCCESS\n\nOK\n\n/p/c\n33\n"; !strings.HasSuffix(out, want) {
			t.Errorf("txn -i (success): stdout %q, want suffix %q", out, want)
		}
		// Failure branch (revision 9): /p/c is no longer "3".
		script = "value(\"/p/c\") = \"3\"\n\nput /p/c never\n\nput /p/f failed\nget /p/f\n\n"
		out = x.must(script, "txn", "-i")
		if want := "FAILURE\n\nOK\n\n/p/f\nfailed\n"; !strings.HasSuffix(out, want) {
			t.Errorf("txn -i (failure): stdout %q, want suffix %q", out, want)
		}
		if out, want := x.must("", "get", "/p/c", "--print-value-only"), "33\n"; out != want {
			t.Errorf("get /p/c after txns: %q, want %q", out, want)
		}
	})

	t.Run("compaction", func(t *testing.T) {
		if out, want := x.must("", "compaction", "5"), "compacted revision 5\n"; out != want {
			t.Errorf("compaction 5: stdout %q, want %q", out, want)
		}
		_, errOut, ok := x.run("", "get", "/p/", "--prefix", "--rev", "4")
		if ok || !strings.Contains(errOut, "etcdserver: mvcc: required revision has been compacted") {
			t.Errorf("get --rev 4 after compaction: ok=%v stderr %q, want the compacted error", ok, errOut)
		}
		if out, want := x.must("", "get", "/p/", "--prefix", "--rev", "5", "--keys-only"), "/p/a\n\n/p/b\n\n/p/c\n\n"; out != want {
			t.Errorf("get --rev 5 --keys-only: %q, want %q", out, want)
		}
		_, errOut, ok = x.run("", "compaction", "5")
		if ok || !strings.Contains(errOut, "required revision has been compacted") {
			t.Errorf("second compaction 5: ok=%v stderr %q, want the compacted error", ok, errOut)
		}
	})

	t.Run("endpoint-status-table", func(t *testing.T) {
		checkStatusTable(t, c, x.must("", "endpoint", "status", "-w", "table"))
	})

	t.Run("endpoint-health", func(t *testing.T) {
		out, errOut, ok := x.run("", "endpoint", "health")
		all := out + errOut // etcdctl 3.4 reports health on stderr
		if !ok {
			t.Fatalf("endpoint health failed:\n%s", all)
		}
		for _, ep := range c.Endpoints() {
			if !strings.Contains(all, ep+" is healthy: successfully committed proposal") {
				t.Errorf("endpoint health: no healthy line for %s in:\n%s", ep, all)
			}
		}
	})

	t.Run("member-list", func(t *testing.T) {
		var want []string
		for i := range c.Size() {
			want = append(want, fmt.Sprintf("%x, started, %s, %s, %s, false", c.MemberID(i), c.Name(i), c.PeerURL(i), c.Endpoint(i)))
		}
		got := strings.Split(strings.TrimSpace(x.must("", "member", "list")), "\n")
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("member list:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	})
	// Last: it enables auth, and disables it again.
	t.Run("user-role-auth", func(t *testing.T) { etcdctlAuthSuite(t, x) })
}

// checkStatusTable checks `endpoint status -w table`: one row per endpoint with that member's
// ID, a version and no errors, and exactly one leader, which is the member Leader reports.
func checkStatusTable(t *testing.T, c *proccluster.Cluster, out string) {
	t.Helper()
	var header []string
	rows := map[string]map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		if !strings.HasPrefix(line, "|") {
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		for i := range cells {
			cells[i] = strings.TrimSpace(cells[i])
		}
		if header == nil {
			header = cells
			continue
		}
		row := map[string]string{}
		for i, h := range header {
			if i < len(cells) {
				row[h] = cells[i]
			}
		}
		rows[row["ENDPOINT"]] = row
	}
	for _, col := range []string{"ENDPOINT", "ID", "VERSION", "DB SIZE", "IS LEADER", "RAFT TERM", "RAFT INDEX", "ERRORS"} {
		if !slices.Contains(header, col) {
			t.Fatalf("endpoint status table has no %s column:\n%s", col, out)
		}
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	leader, err := c.Leader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	leaders := 0
	for i, ep := range c.Endpoints() {
		row, ok := rows[ep]
		if !ok {
			t.Errorf("endpoint status: no row for %s:\n%s", ep, out)
			continue
		}
		if want := fmt.Sprintf("%x", c.MemberID(i)); row["ID"] != want {
			t.Errorf("%s: ID %q, want %q", ep, row["ID"], want)
		}
		if row["VERSION"] == "" || row["DB SIZE"] == "" || row["RAFT TERM"] == "0" || row["ERRORS"] != "" {
			t.Errorf("%s: row %v: want a version, a db size, a non-zero raft term and no errors", ep, row)
		}
		if row["IS LEADER"] == "true" {
			leaders++
			if i != leader {
				t.Errorf("%s (m%d) is leader in the table, but Leader() = m%d", ep, i, leader)
			}
		}
	}
	if leaders != 1 || len(rows) != c.Size() {
		t.Errorf("endpoint status: %d rows with %d leaders, want %d rows and 1 leader:\n%s", len(rows), leaders, c.Size(), out)
	}
}
