package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"

	"github.com/keeldb/keel/internal/testcluster"
	"github.com/keeldb/keel/raftstore"
)

// keelctl runs the command line and returns its stdout; it fails the test on an error.
func keelctl(t *testing.T, args ...string) string {
	t.Helper()
	out, err := keelctlErr(t, args...)
	if err != nil {
		t.Fatalf("keelctl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func keelctlErr(t *testing.T, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	var stdout, stderr bytes.Buffer
	err := run(ctx, args, &stdout, &stderr)
	return stdout.String() + stderr.String(), err
}

func TestParseInitialCluster(t *testing.T) {
	tests := []struct {
		in      string
		want    string
		wantErr bool
	}{
		{in: "a=http://h1:2380,b=http://h2:2380", want: "a[http://h1:2380] b[http://h2:2380]"},
		{in: "a=http://h1:2380,a=https://h1b:2380", want: "a[http://h1:2380 https://h1b:2380]"},
		{in: "", wantErr: true},
		{in: "a", wantErr: true},
		{in: "a=h1:2380", wantErr: true},
		{in: "=http://h:1", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			ms, err := parseInitialCluster(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			var parts []string
			for _, m := range ms {
				parts = append(parts, fmt.Sprintf("%s%v", m.Name, m.PeerURLs))
			}
			if got := strings.Join(parts, " "); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestRestoreFlagsMustAgree(t *testing.T) {
	dir := t.TempDir()
	_, err := keelctlErr(t, "snapshot", "restore", filepath.Join(dir, "none.db"), "--name", "m1",
		"--initial-cluster", "m0=http://a:1,m1=http://b:2", "--initial-advertise-peer-urls", "http://c:3",
		"--data-dir", filepath.Join(dir, "d"))
	if err == nil || !strings.Contains(err.Error(), "--initial-advertise-peer-urls") {
		t.Errorf("mismatched advertise URL: err = %v", err)
	}
	_, err = keelctlErr(t, "snapshot", "restore", filepath.Join(dir, "none.db"), "--name", "m9",
		"--initial-cluster", "m0=http://a:1", "--data-dir", filepath.Join(dir, "d"))
	if err == nil || !strings.Contains(err.Error(), "not in --initial-cluster") {
		t.Errorf("unknown name: err = %v", err)
	}
	if _, err := keelctlErr(t, "snapshot", "bogus"); err == nil {
		t.Error("unknown command succeeded")
	}
	if _, err := keelctlErr(t, "-w", "yaml", "defrag"); err == nil {
		t.Error("unknown output format accepted")
	}
}

func TestWriteTable(t *testing.T) {
	var b bytes.Buffer
	if err := writeTable(&b, []string{"A", "LONG"}, [][]string{{"xyz", "1"}}); err != nil {
		t.Fatal(err)
	}
	want := "+-----+------+\n" +
		"|  A  | LONG |\n" +
		"+-----+------+\n" +
		"| xyz | 1    |\n" +
		"+-----+------+\n"
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
	for n, want := range map[int64]string{0: "0 B", 999: "999 B", 16 << 20: "17 MB", 24576: "25 kB", 1500: "1.5 kB"} {
		if got := humanBytes(n); got != want {
			t.Errorf("humanBytes(%d) = %q, want %q", n, got, want)
		}
	}
}

// TestMaintenanceCommands runs alarm, defrag, endpoint status and snapshot save/status/restore
// against an in-process cluster.
func TestMaintenanceCommands(t *testing.T) {
	c := testcluster.Start(t, 3)
	cli := c.Client()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	for i := range 50 {
		if _, err := cli.Put(ctx, fmt.Sprintf("k%02d", i), strings.Repeat("v", 1000)); err != nil {
			t.Fatal(err)
		}
	}
	eps := "--endpoints=" + strings.Join(c.Endpoints(), ",")

	if out := keelctl(t, eps, "alarm", "list"); out != "" {
		t.Fatalf("alarm list on a healthy cluster = %q", out)
	}
	l := c.Leader()
	id := c.Members[l].Node.ID()
	mc := pb.NewMaintenanceClient(cli.ActiveConnection())
	if _, err := mc.Alarm(ctx, &pb.AlarmRequest{Action: pb.AlarmRequest_ACTIVATE, MemberID: id, Alarm: pb.AlarmType_NOSPACE}); err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("memberID:%d alarm:NOSPACE \n", id)
	if out := keelctl(t, "alarm", "list", eps); out != want {
		t.Fatalf("alarm list = %q, want %q", out, want)
	}
	if out := keelctl(t, eps, "alarm", "disarm"); out != want {
		t.Fatalf("alarm disarm = %q, want %q", out, want)
	}
	if out := keelctl(t, eps, "alarm", "list"); out != "" {
		t.Fatalf("alarm list after disarm = %q", out)
	}

	out := keelctl(t, eps, "defrag")
	if n := strings.Count(out, "Finished defragmenting etcd member["); n != 3 {
		t.Fatalf("defrag output:\n%s", out)
	}

	var st []endpointStatus
	if err := json.Unmarshal([]byte(keelctl(t, eps, "endpoint", "status", "-w", "json")), &st); err != nil {
		t.Fatal(err)
	}
	if len(st) != 3 || st[0].Status.DbSize <= 0 {
		t.Fatalf("endpoint status = %+v", st)
	}
	if out := keelctl(t, eps, "endpoint", "status", "-w", "table"); !strings.Contains(out, "RAFT APPLIED INDEX") {
		t.Errorf("endpoint status table:\n%s", out)
	}

	dir := t.TempDir()
	snap := filepath.Join(dir, "snap.db")
	if _, err := keelctlErr(t, eps, "snapshot", "save", snap); err == nil {
		t.Error("snapshot save against three endpoints succeeded (etcdctl wants exactly one)")
	}
	if out := keelctl(t, "--endpoints", c.Endpoints()[0], "snapshot", "save", snap); !strings.Contains(out, "Snapshot saved at "+snap) {
		t.Fatalf("snapshot save: %q", out)
	}
	var status struct {
		Hash      uint32 `json:"hash"`
		Revision  int64  `json:"revision"`
		TotalKey  int    `json:"totalKey"`
		TotalSize int64  `json:"totalSize"`
	}
	if err := json.Unmarshal([]byte(keelctl(t, "snapshot", "status", snap, "-w", "json")), &status); err != nil {
		t.Fatal(err)
	}
	hk, err := cli.HashKV(ctx, c.Endpoints()[0], status.Revision)
	if err != nil {
		t.Fatal(err)
	}
	if status.Revision != 51 || status.TotalKey != 50 || status.TotalSize <= 0 || status.Hash != hk.Hash {
		t.Errorf("snapshot status = %+v; want revision 51, 50 keys, hash %d", status, hk.Hash)
	}
	if out := keelctl(t, "snapshot", "status", snap, "-w", "table"); !strings.Contains(out, "TOTAL KEYS") {
		t.Errorf("snapshot status table:\n%s", out)
	}

	dataDir := filepath.Join(dir, "restored")
	keelctl(t, "snapshot", "restore", snap, "--name", "n1", "--data-dir", dataDir,
		"--initial-cluster", "n1=http://127.0.0.1:1,n2=http://127.0.0.1:2", "--initial-cluster-token", "tok",
		"--initial-advertise-peer-urls", "http://127.0.0.1:1")
	for _, f := range []string{"member/kv.db", "member/wal/wal-meta.db"} {
		if _, err := os.Stat(filepath.Join(dataDir, f)); err != nil {
			t.Errorf("restored data dir: %v", err)
		}
	}
	// The restored backend is the snapshot's under a new cluster, read back as a snapshot.
	info, err := raftstore.ReadSnapshotInfo(filepath.Join(dataDir, "member", "kv.db"), true)
	if err != nil {
		t.Fatal(err)
	}
	ids := []uint64{raftstore.MemberID([]string{"http://127.0.0.1:1"}, "tok"), raftstore.MemberID([]string{"http://127.0.0.1:2"}, "tok")}
	if info.Revision != 51 || info.ConsistentIndex != 0 || info.ClusterID != raftstore.ClusterID(ids) {
		t.Errorf("restored backend = %+v; want revision 51, consistent index 0, cluster %x", info, raftstore.ClusterID(ids))
	}
}

// TestVersionCommand runs keelctl version: etcd-style build information, no endpoint needed.
func TestVersionCommand(t *testing.T) {
	out := keelctl(t, "version", "--endpoints", "127.0.0.1:1")
	for _, want := range []string{"keelctl Version: ", "Git SHA: ", "Go Version: ", "API Version: "} {
		if !strings.Contains(out, want) {
			t.Errorf("keelctl version printed %q, missing %q", out, want)
		}
	}
}

// TestAlarmListCorrupt: keelctl lists a CORRUPT alarm as etcdctl does, a put under it fails
// with etcd's "etcdserver: corrupt cluster", and alarm disarm clears it.
func TestAlarmListCorrupt(t *testing.T) {
	c := testcluster.Start(t, 3)
	cli := c.Client()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	eps := "--endpoints=" + strings.Join(c.Endpoints(), ",")
	id := c.Members[c.Leader()].Node.ID()
	mc := pb.NewMaintenanceClient(cli.ActiveConnection())
	if _, err := mc.Alarm(ctx, &pb.AlarmRequest{Action: pb.AlarmRequest_ACTIVATE, MemberID: id, Alarm: pb.AlarmType_CORRUPT}); err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("memberID:%d alarm:CORRUPT \n", id)
	if out := keelctl(t, eps, "alarm", "list"); out != want {
		t.Fatalf("alarm list = %q, want %q", out, want)
	}
	if out, err := keelctlErr(t, eps, "put", "k", "v"); err == nil || !strings.Contains(err.Error()+out, "etcdserver: corrupt cluster") {
		t.Fatalf("put under CORRUPT = %v (%q), want etcdserver: corrupt cluster", err, out)
	}
	if out := keelctl(t, eps, "alarm", "disarm"); out != want {
		t.Fatalf("alarm disarm = %q, want %q", out, want)
	}
	keelctl(t, eps, "put", "k", "v")
}
