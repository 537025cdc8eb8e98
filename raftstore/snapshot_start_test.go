package raftstore_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/keeldb/keel/raftstore"
)

// A member whose backend is behind raft's newest snapshot (it crashed after InstallSnapshot
// stored the snapshot and before the FSM swapped the backend; tests/failpoints
// beforeRestoreSwap) restores the backend from the snapshot when it opens, instead of counting
// the snapshot's entries as applied without having them. The crash is simulated by putting an
// older copy of the backend back under a newer snapshot.
func TestOpenRestoresABackendBehindTheNewestSnapshot(t *testing.T) {
	dir := t.TempDir()
	c := newClusterWith(t, []string{dir}, "test", func(_ int, cfg *raftstore.Config) {
		cfg.SnapshotCount = 5
		cfg.SnapshotCheckInterval = 20 * time.Millisecond
		cfg.SnapshotCatchupEntries = 1
	})
	ctx := context.Background()
	if _, err := put(ctx, c.nodes[c.leader(t)], "k00", "0"); err != nil {
		t.Fatal(err)
	}
	oldApplied := c.nodes[0].AppliedIndex()
	c.stop(0)
	kv := filepath.Join(dir, "member", "kv.db")
	old, err := os.ReadFile(kv)
	if err != nil {
		t.Fatal(err)
	}

	c.start(0)
	for i := 1; i <= 20; i++ {
		if _, err := put(ctx, c.nodes[c.leader(t)], fmt.Sprintf("k%02d", i), strconv.Itoa(i)); err != nil {
			t.Fatal(err)
		}
	}
	// Entries after the snapshot are replayed from the log; those up to it must come from it.
	eventually(t, 10*time.Second, func() error {
		if got := newestSnapshotIndex(t, dir); got <= oldApplied+5 {
			return fmt.Errorf("newest snapshot at index %d, want one past %d", got, oldApplied+5)
		}
		return nil
	})
	c.stop(0)
	if err := os.WriteFile(kv, old, 0o600); err != nil {
		t.Fatal(err)
	}

	c.start(0)
	c.leader(t) // a read before the restarted member elects itself fails with "no leader"
	// Linearizable reads: the entries after the snapshot are applied once the member leads.
	for i := 0; i <= 20; i++ {
		k := fmt.Sprintf("k%02d", i)
		if r := get(t, c.nodes[0], k, false); len(r.Kvs) != 1 || string(r.Kvs[0].Value) != strconv.Itoa(i) {
			t.Fatalf("after reopening over the older backend: %s = %v, want %d", k, r.Kvs, i)
		}
	}
}

// newestSnapshotIndex returns the highest index among the complete snapshots of hashicorp/raft's
// file snapshot store in dir (directories named term-index-timestamp), 0 if none.
func newestSnapshotIndex(t *testing.T, dir string) uint64 {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join(dir, "member", "snap", "snapshots"))
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var newest uint64
	for _, e := range ents {
		parts := strings.Split(e.Name(), "-")
		if strings.HasSuffix(e.Name(), ".tmp") || len(parts) != 3 {
			continue
		}
		if idx, err := strconv.ParseUint(parts[1], 10, 64); err == nil && idx > newest {
			newest = idx
		}
	}
	return newest
}
