// Package upgrade_test starts the current keeld on data dirs written by an earlier release
// (testdata/keel-2026-11.tar.gz: a 3-member cluster of the last release on raft-boltdb, made
// by scripts/upgrade-fixture.sh) and checks that nothing is lost: every key with its
// revisions and version, the store revision, the compaction point and the leases with their
// keys. The members first run on the raft.db they have (a data dir is never rewritten
// silently), then restart with --raft-log-migrate onto the WAL, and must still agree (HashKV).
//
// The fixture's members listen on fixed loopback addresses (127.0.9.1-3, ports 2379/2380),
// because a raft log records its members' peer addresses.
package upgrade_test

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/keeldb/keel/internal/proccluster"
)

var makeFixture = flag.String("upgrade.make-fixture", "",
	"path of an earlier release's keeld: write testdata/"+fixtureName+".* from a cluster it runs instead of testing")

const (
	fixtureName = "keel-2026-11"
	token       = "upgrade-fixture"
	size        = 3
)

func TestMain(m *testing.M) {
	flag.Parse()
	code := m.Run()
	proccluster.RemoveBuilds()
	os.Exit(code)
}

func host(i int) string      { return fmt.Sprintf("127.0.9.%d", i+1) }
func clientURL(i int) string { return "http://" + host(i) + ":2379" }
func peerURL(i int) string   { return "http://" + host(i) + ":2380" }

// expectation is what the fixture's cluster held when it was stopped.
type expectation struct {
	Revision        int64            `json:"revision"`
	CompactRevision int64            `json:"compact_revision"`
	KVs             []kv             `json:"kvs"`
	Leases          map[string]lease `json:"leases"` // by hex ID
}

type kv struct {
	Key            string `json:"key"`
	Value          string `json:"value"`
	CreateRevision int64  `json:"create_revision"`
	ModRevision    int64  `json:"mod_revision"`
	Version        int64  `json:"version"`
	Lease          int64  `json:"lease"`
}

type lease struct {
	TTL  int64    `json:"ttl"`
	Keys []string `json:"keys"`
}

// cluster is 3 keeld processes on the fixture's addresses.
type cluster struct {
	t       *testing.T
	bin     string
	dir     string
	extra   []string
	members []*exec.Cmd
}

func (c *cluster) start() {
	c.t.Helper()
	var initial []string
	for i := range size {
		initial = append(initial, fmt.Sprintf("u%d=%s", i, peerURL(i)))
	}
	c.members = make([]*exec.Cmd, size)
	for i := range size {
		args := append([]string{"--name", fmt.Sprintf("u%d", i), "--data-dir", filepath.Join(c.dir, fmt.Sprintf("u%d", i)),
			"--listen-client-urls", clientURL(i), "--advertise-client-urls", clientURL(i),
			"--listen-peer-urls", peerURL(i), "--initial-advertise-peer-urls", peerURL(i),
			"--initial-cluster", strings.Join(initial, ","), "--initial-cluster-state", "new",
			"--initial-cluster-token", token, "--snapshot-count", "50", "--snapshot-catchup-entries", "20",
			"--snapshot-check-interval", "100ms", "--log-format", "text"}, c.extra...)
		cmd := exec.Command(c.bin, args...)
		logf, err := os.OpenFile(filepath.Join(c.dir, fmt.Sprintf("u%d.log", i)), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
		if err != nil {
			c.t.Fatal(err)
		}
		cmd.Stdout, cmd.Stderr = logf, logf
		if err := cmd.Start(); err != nil {
			c.t.Fatalf("start u%d: %v", i, err)
		}
		_ = logf.Close()
		c.members[i] = cmd
	}
	c.t.Cleanup(c.stop)
	c.waitHealthy()
}

// stop SIGTERMs every member and waits for it to exit.
func (c *cluster) stop() {
	for i, cmd := range c.members {
		if cmd == nil {
			continue
		}
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				c.t.Errorf("u%d exited with %v", i, err)
			}
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-done
			c.t.Errorf("u%d did not stop within 30s", i)
		}
		c.members[i] = nil
	}
}

func (c *cluster) waitHealthy() {
	c.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for i := range size {
		for {
			resp, err := http.Get(clientURL(i) + "/health")
			if err == nil {
				body, _ := io.ReadAll(resp.Body)
				_ = resp.Body.Close()
				if strings.Contains(string(body), `"health":"true"`) {
					break
				}
			}
			if time.Now().After(deadline) {
				c.dumpLogs()
				c.t.Fatalf("u%d not healthy within 60s: %v", i, err)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
}

func (c *cluster) dumpLogs() {
	for i := range size {
		b, _ := os.ReadFile(filepath.Join(c.dir, fmt.Sprintf("u%d.log", i)))
		if len(b) > 8<<10 {
			b = b[len(b)-8<<10:]
		}
		c.t.Logf("u%d log (tail):\n%s", i, b)
	}
}

func (c *cluster) client(members ...int) *clientv3.Client {
	c.t.Helper()
	var eps []string
	for _, i := range members {
		eps = append(eps, host(i)+":2379")
	}
	if len(eps) == 0 {
		for i := range size {
			eps = append(eps, host(i)+":2379")
		}
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: eps, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() { _ = cli.Close() })
	return cli
}

// metric returns the value of one sample line (e.g. `keel_raft_log_backend{backend="bolt"}`)
// on member i's /metrics, or "" if it has none.
func metric(t *testing.T, i int, sample string) string {
	t.Helper()
	resp, err := http.Get(clientURL(i) + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(body), "\n") {
		if rest, ok := strings.CutPrefix(line, sample+" "); ok {
			return rest
		}
	}
	return ""
}

func TestUpgradeFromRaftBoltRelease(t *testing.T) {
	if *makeFixture != "" {
		writeFixture(t, *makeFixture)
		return
	}
	dir := t.TempDir()
	extract(t, filepath.Join("testdata", fixtureName+".tar.gz"), dir)
	var want expectation
	b, err := os.ReadFile(filepath.Join("testdata", fixtureName+".json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &want); err != nil {
		t.Fatal(err)
	}
	for i := range size {
		if _, err := os.Stat(filepath.Join(dir, fmt.Sprintf("u%d", i), "member", "raft.db")); err != nil {
			t.Fatalf("fixture member u%d has no raft.db: %v", i, err)
		}
	}

	c := &cluster{t: t, bin: proccluster.BuildKeeld(t), dir: dir}
	c.start()
	for i := range size {
		if got := metric(t, i, `keel_raft_log_backend{backend="bolt"}`); got != "1" {
			t.Fatalf("u%d: keel_raft_log_backend{backend=\"bolt\"} = %q, want 1 (an existing raft.db is used as it is)", i, got)
		}
	}
	checkState(t, c, want, want.Revision)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	put, err := c.client().Put(ctx, "after-upgrade", "1")
	if err != nil {
		t.Fatalf("put after the upgrade: %v", err)
	}
	want.KVs = append(want.KVs, kv{Key: "after-upgrade", Value: "1", CreateRevision: put.Header.Revision,
		ModRevision: put.Header.Revision, Version: 1})
	slices.SortFunc(want.KVs, func(a, b kv) int { return strings.Compare(a.Key, b.Key) })
	c.stop()

	c.extra = []string{"--raft-log-migrate"}
	c.start()
	for i := range size {
		if got := metric(t, i, `keel_raft_log_backend{backend="wal"}`); got != "1" {
			t.Fatalf("u%d after --raft-log-migrate: keel_raft_log_backend{backend=\"wal\"} = %q, want 1", i, got)
		}
		for _, f := range []string{"raft.db.migrated", "wal/wal-meta.db"} {
			if _, err := os.Stat(filepath.Join(dir, fmt.Sprintf("u%d", i), "member", f)); err != nil {
				t.Fatalf("u%d after migration: %v", i, err)
			}
		}
	}
	checkState(t, c, want, put.Header.Revision)
	checkHashKV(t, c)
}

// checkState compares every member's keys, revisions and leases with want at revision rev.
func checkState(t *testing.T, c *cluster, want expectation, rev int64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for i := range size {
		cli := c.client(i)
		resp, err := cli.Get(ctx, "", clientv3.WithFromKey())
		if err != nil {
			t.Fatalf("u%d: get all: %v", i, err)
		}
		if resp.Header.Revision != rev {
			t.Errorf("u%d: revision %d, want %d", i, resp.Header.Revision, rev)
		}
		var got []kv
		for _, x := range resp.Kvs {
			got = append(got, kv{Key: string(x.Key), Value: string(x.Value), CreateRevision: x.CreateRevision,
				ModRevision: x.ModRevision, Version: x.Version, Lease: x.Lease})
		}
		if d := firstDiff(got, want.KVs); d != "" {
			t.Fatalf("u%d: keys differ from the release's: %s", i, d)
		}
		_, err = cli.Get(ctx, "k", clientv3.WithRev(want.CompactRevision-1))
		if err == nil || !strings.Contains(err.Error(), "compacted") {
			t.Errorf("u%d: read below the compaction revision %d: got %v, want compacted", i, want.CompactRevision, err)
		}
		for id, l := range want.Leases {
			var lid int64
			if _, err := fmt.Sscanf(id, "%x", &lid); err != nil {
				t.Fatal(err)
			}
			ttl, err := cli.TimeToLive(ctx, clientv3.LeaseID(lid), clientv3.WithAttachedKeys())
			if err != nil {
				t.Fatalf("u%d: lease %s: %v", i, id, err)
			}
			var keys []string
			for _, k := range ttl.Keys {
				keys = append(keys, string(k))
			}
			slices.Sort(keys)
			if ttl.TTL <= 0 || ttl.GrantedTTL != l.TTL || !slices.Equal(keys, l.Keys) {
				t.Errorf("u%d: lease %s: TTL %d granted %d keys %v, want granted %d keys %v", i, id, ttl.TTL,
					ttl.GrantedTTL, keys, l.TTL, l.Keys)
			}
		}
	}
}

// firstDiff describes the first difference between two key lists, or returns "".
func firstDiff(got, want []kv) string {
	for i := range min(len(got), len(want)) {
		if got[i] != want[i] {
			return fmt.Sprintf("key %d: got %+v, want %+v", i, got[i], want[i])
		}
	}
	if len(got) != len(want) {
		return fmt.Sprintf("got %d keys, want %d", len(got), len(want))
	}
	return ""
}

func checkHashKV(t *testing.T, c *cluster) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var hashes []uint32
	for i := range size {
		h, err := c.client(i).HashKV(ctx, host(i)+":2379", 0)
		if err != nil {
			t.Fatal(err)
		}
		hashes = append(hashes, h.Hash)
	}
	for _, h := range hashes {
		if h != hashes[0] {
			t.Fatalf("HashKV differs across members after the migration: %x", hashes)
		}
	}
}

func extract(t *testing.T, archive, dst string) {
	t.Helper()
	f, err := os.Open(archive)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dst, filepath.FromSlash(h.Name))
		if !strings.HasPrefix(path, filepath.Clean(dst)+string(os.PathSeparator)) {
			t.Fatalf("archive entry %q escapes the destination", h.Name)
		}
		switch h.Typeflag {
		case tar.TypeDir:
			err = os.MkdirAll(path, 0o700)
		case tar.TypeReg:
			var out *os.File
			if out, err = os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600); err == nil {
				_, err = io.Copy(out, tr)
				err = joinClose(err, out)
			}
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

func joinClose(err error, c io.Closer) error {
	if cerr := c.Close(); err == nil {
		return cerr
	}
	return err
}
