package raftstore_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"

	"github.com/keeldb/keel/raftstore"
)

func memberFile(dir string, parts ...string) string {
	return filepath.Join(append([]string{dir, "member"}, parts...)...)
}

func fileExists(t *testing.T, path string) bool {
	t.Helper()
	_, err := os.Stat(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	return err == nil
}

// writeKeys puts n keys prefix<i> through the leader and returns them.
func writeKeys(t *testing.T, c *cluster, prefix string, n int) map[string]string {
	return writeValues(t, c, prefix, n, 0)
}

// writeValues is writeKeys with values padded to at least size bytes.
func writeValues(t *testing.T, c *cluster, prefix string, n, size int) map[string]string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	kvs := map[string]string{}
	for i := range n {
		k, v := fmt.Sprintf("%s%03d", prefix, i), fmt.Sprintf("v%d", i)
		if len(v) < size {
			v += strings.Repeat(".", size-len(v))
		}
		if _, err := put(ctx, c.nodes[c.leader(t)], k, v); err != nil {
			t.Fatalf("put %s: %v", k, err)
		}
		kvs[k] = v
	}
	return kvs
}

// checkConverged waits until every running member reaches the leader's revision, then checks
// that each holds kvs and that all HashKVs are equal.
func checkConverged(t *testing.T, c *cluster, kvs map[string]string) {
	t.Helper()
	rev := c.nodes[c.leader(t)].Store().Rev()
	var hashes []uint32
	for i, n := range c.nodes {
		if n == nil {
			continue
		}
		eventually(t, 20*time.Second, func() error {
			if got := n.Store().Rev(); got != rev {
				return fmt.Errorf("member %d at revision %d, want %d", i, got, rev)
			}
			return nil
		})
		for k, v := range kvs {
			r := get(t, n, k, true)
			if len(r.Kvs) != 1 || string(r.Kvs[0].Value) != v {
				t.Fatalf("member %d: %s = %v, want %s", i, k, r.Kvs, v)
			}
		}
		h, _, _, err := n.Store().HashKV(rev)
		if err != nil {
			t.Fatal(err)
		}
		hashes = append(hashes, h)
	}
	for _, h := range hashes {
		if h != hashes[0] {
			t.Fatalf("HashKV at revision %d differs across members: %x", rev, hashes)
		}
	}
}

func restartAll(c *cluster) {
	for i := range c.nodes {
		c.stop(i)
	}
	for i := range c.nodes {
		c.start(i)
	}
}

// A data dir whose raft log is raft-boltdb (what releases before raft-wal wrote) keeps working
// on raft.db under the default backend, is copied into a WAL only when asked, and a WAL is
// never opened as bolt.
func TestBoltLogKeptUntilMigratedOnRequest(t *testing.T) {
	dirs := []string{t.TempDir(), t.TempDir(), t.TempDir()}
	backend := raftstore.LogBackendBolt
	migrate := false
	c := newClusterWith(t, dirs, "test", func(_ int, cfg *raftstore.Config) {
		cfg.LogBackend, cfg.MigrateLog = backend, migrate
		cfg.WALSegmentBytes = 1 << 20
	})
	kvs := writeKeys(t, c, "bolt/", 100)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	lease, err := c.nodes[c.leader(t)].LeaseGrant(ctx, &pb.LeaseGrantRequest{TTL: 3600})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.nodes[c.leader(t)].Put(ctx, &pb.PutRequest{Key: []byte("leased"), Value: []byte("x"), Lease: lease.ID}); err != nil {
		t.Fatal(err)
	}
	kvs["leased"] = "x"
	for i, n := range c.nodes {
		if n.LogBackend() != raftstore.LogBackendBolt || !fileExists(t, memberFile(dirs[i], "raft.db")) ||
			fileExists(t, memberFile(dirs[i], "wal")) {
			t.Fatalf("member %d: backend %s, want bolt with raft.db and no wal dir", i, n.LogBackend())
		}
	}

	// The default backend keeps an existing raft.db.
	backend = raftstore.LogBackendWAL
	restartAll(c)
	for i, n := range c.nodes {
		if n.LogBackend() != raftstore.LogBackendBolt || fileExists(t, memberFile(dirs[i], "wal")) {
			t.Fatalf("member %d: backend %s after a restart without --raft-log-migrate, want bolt", i, n.LogBackend())
		}
	}
	for k, v := range writeKeys(t, c, "still-bolt/", 20) {
		kvs[k] = v
	}
	checkConverged(t, c, kvs)

	// Migration on request: the WAL holds everything, raft.db is kept aside.
	migrate = true
	restartAll(c)
	for i, n := range c.nodes {
		if n.LogBackend() != raftstore.LogBackendWAL || fileExists(t, memberFile(dirs[i], "raft.db")) ||
			!fileExists(t, memberFile(dirs[i], "raft.db.migrated")) || !fileExists(t, memberFile(dirs[i], "wal", "wal-meta.db")) {
			t.Fatalf("member %d: backend %s after migration, want wal with raft.db.migrated kept", i, n.LogBackend())
		}
	}
	for k, v := range writeKeys(t, c, "wal/", 20) {
		kvs[k] = v
	}
	checkConverged(t, c, kvs)
	for i, n := range c.nodes {
		info, err := n.Lessor().Lookup(lease.ID)
		if err != nil || len(info.Keys) != 1 {
			t.Fatalf("member %d: lease %x after migration: %+v %v", i, lease.ID, info, err)
		}
	}

	// A migration that finished copying but stopped before retiring raft.db is completed.
	migrate = false
	c.stop(0)
	if err := os.Rename(memberFile(dirs[0], "raft.db.migrated"), memberFile(dirs[0], "raft.db")); err != nil {
		t.Fatal(err)
	}
	c.start(0)
	if c.nodes[0].LogBackend() != raftstore.LogBackendWAL || fileExists(t, memberFile(dirs[0], "raft.db")) {
		t.Fatalf("member 0 with both logs: backend %s, raft.db left in place", c.nodes[0].LogBackend())
	}

	// A WAL is never read as bolt.
	c.stop(1)
	_, err = raftstore.Open(raftstore.Config{Name: "m1", DataDir: dirs[1], InitialCluster: c.init, NewCluster: true,
		Token: "test", Transport: c.trans[1], LogBackend: raftstore.LogBackendBolt})
	if !errors.Is(err, raftstore.ErrLogBackendMismatch) {
		t.Fatalf("opening a WAL data dir as bolt: got %v, want ErrLogBackendMismatch", err)
	}
	c.start(1)
	checkConverged(t, c, kvs)
}

// A migration interrupted before the WAL was renamed into place leaves raft.db in charge; the
// next start copies it again from scratch.
func TestInterruptedMigrationStartsOver(t *testing.T) {
	dirs := []string{t.TempDir()}
	migrate := false
	c := newClusterWith(t, dirs, "test", func(_ int, cfg *raftstore.Config) {
		cfg.LogBackend, cfg.MigrateLog, cfg.WALSegmentBytes = raftstore.LogBackendBolt, migrate, 1<<20
	})
	kvs := writeKeys(t, c, "k/", 50)
	c.stop(0)
	partial := memberFile(dirs[0], "wal.migrating")
	if err := os.MkdirAll(partial, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(partial, "00000000000000000001-0000000000000001.wal"), []byte("torn"), 0o600); err != nil {
		t.Fatal(err)
	}
	migrate = true
	c.start(0)
	if c.nodes[0].LogBackend() != raftstore.LogBackendWAL || fileExists(t, partial) {
		t.Fatalf("backend %s after migrating over a partial copy; partial copy left: %v", c.nodes[0].LogBackend(), fileExists(t, partial))
	}
	checkConverged(t, c, kvs)
}

// A follower that falls behind the leader's snapshot installs it and then appends again: the
// WAL cannot hold a gap, so raft must drop the follower's old log (raft.MonotonicLogStore).
func TestFollowerInstallsSnapshotOnEachBackend(t *testing.T) {
	for _, backend := range []raftstore.LogBackend{raftstore.LogBackendWAL, raftstore.LogBackendBolt} {
		t.Run(string(backend), func(t *testing.T) {
			dirs := []string{t.TempDir(), t.TempDir(), t.TempDir()}
			restored := &messageCounter{msg: "restored snapshot"}
			c := newClusterWith(t, dirs, "test", func(_ int, cfg *raftstore.Config) {
				cfg.LogBackend, cfg.WALSegmentBytes = backend, 64<<10
				cfg.Logger = slog.New(restored)
				cfg.SnapshotCount, cfg.SnapshotCatchupEntries, cfg.SnapshotCheckInterval = 40, 10, 20*time.Millisecond
			})
			kvs := writeKeys(t, c, "a/", 20)
			f := c.follower(t)
			c.stop(f)
			// 300 KiB of entries: several 64 KiB WAL segments, sealed and then deleted by the
			// leader's snapshots (raft-wal still serves truncated entries of its open segment).
			for k, v := range writeValues(t, c, "b/", 300, 1024) {
				kvs[k] = v
			}
			c.start(f)
			checkConverged(t, c, kvs)
			if restored.count.Load() == 0 {
				t.Fatal("the follower caught up without installing a snapshot")
			}
			for k, v := range writeKeys(t, c, "c/", 50) {
				kvs[k] = v
			}
			checkConverged(t, c, kvs)
		})
	}
}

// messageCounter is a slog handler that counts records with one message.
type messageCounter struct {
	msg   string
	count atomic.Int64
}

func (h *messageCounter) Enabled(context.Context, slog.Level) bool { return true }
func (h *messageCounter) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *messageCounter) WithGroup(string) slog.Handler            { return h }
func (h *messageCounter) Handle(_ context.Context, r slog.Record) error {
	if r.Message == h.msg {
		h.count.Add(1)
	}
	return nil
}
