package powercut_test

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/hashicorp/raft"
	wal "github.com/hashicorp/raft-wal"
	"github.com/hashicorp/raft-wal/metadb"
	"github.com/hashicorp/raft-wal/segment"

	"github.com/keeldb/keel/internal/powercut"
)

// noBackend stands in for the mvcc store when a test has no kv.db.
type noBackend struct{}

func (noBackend) CopyCommitted(w io.Writer) error { _, err := w.Write([]byte("kv")); return err }

func TestUnsyncedWritesAreLost(t *testing.T) {
	dataDir := t.TempDir()
	dir := filepath.Join(dataDir, "member", "wal")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	d := powercut.New(dataDir)
	d.SetBackend(noBackend{})
	fs := d.Hooks().WALFS

	synced, err := fs.Create(dir, "synced", 16)
	if err != nil {
		t.Fatal(err)
	}
	mustWrite(t, synced, "aaaa", 0)
	if err := synced.Sync(); err != nil {
		t.Fatal(err)
	}
	mustWrite(t, synced, "bbbb", 2) // overwrites a synced byte range and unwritten bytes
	mustWrite(t, synced, "cc", 8)
	fresh, err := fs.Create(dir, "fresh", 16)
	if err != nil {
		t.Fatal(err)
	}
	mustWrite(t, fresh, "never synced", 0)

	if err := d.Cut(); err != nil {
		t.Fatal(err)
	}
	// The member runs on until it is stopped: what it writes and syncs now is taken back too.
	mustWrite(t, synced, "zz", 0)
	if err := synced.Sync(); err != nil {
		t.Fatal(err)
	}
	_ = synced.Close()
	_ = fresh.Close()
	if err := d.Restore(); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(dir, "synced"))
	if err != nil {
		t.Fatal(err)
	}
	if want := append([]byte("aaaa"), make([]byte, 12)...); !bytes.Equal(got, want) {
		t.Errorf("synced file after the cut: got %q, want %q", got, want)
	}
	if _, err := os.Stat(filepath.Join(dir, "fresh")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a file never synced survived the cut: %v", err)
	}
	if got, err := os.ReadFile(filepath.Join(dataDir, "member", "kv.db")); err != nil || string(got) != "kv" {
		t.Errorf("kv.db after restore: %q %v, want the backend's committed copy", got, err)
	}
}

func mustWrite(t *testing.T, f interface {
	WriteAt([]byte, int64) (int, error)
}, s string, off int64) {
	t.Helper()
	if _, err := f.WriteAt([]byte(s), off); err != nil {
		t.Fatal(err)
	}
}

// A raft-wal log on the disk keeps every batch StoreLogs returned from (each is fsynced) and
// raft's term, and opens again after the cut.
func TestWALKeepsWhatItSynced(t *testing.T) {
	dataDir := t.TempDir()
	dir := filepath.Join(dataDir, "member", "wal")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	d := powercut.New(dataDir)
	d.SetBackend(noBackend{})
	h := d.Hooks()
	w, err := wal.Open(dir, wal.WithSegmentFiler(segment.NewFiler(dir, h.WALFS)),
		wal.WithMetaStore(h.WALMeta(&metadb.BoltMetaDB{})), wal.WithSegmentSize(8<<10))
	if err != nil {
		t.Fatal(err)
	}
	const n = 100 // 100 entries of 200 bytes: several 8 KiB segments, rotated and sealed
	for i := uint64(1); i <= n; i++ {
		if err := w.StoreLogs([]*raft.Log{{Index: i, Term: 1, Data: bytes.Repeat([]byte{byte(i)}, 200)}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.SetUint64([]byte("CurrentTerm"), 7); err != nil {
		t.Fatal(err)
	}
	if err := d.Cut(); err != nil {
		t.Fatal(err)
	}
	// Appended after the cut: lost, with its term.
	if err := w.StoreLogs([]*raft.Log{{Index: n + 1, Term: 1, Data: []byte("lost")}}); err != nil {
		t.Fatal(err)
	}
	if err := w.SetUint64([]byte("CurrentTerm"), 8); err != nil {
		t.Fatal(err)
	}
	_ = w.Close()
	if err := d.Restore(); err != nil {
		t.Fatal(err)
	}

	w, err = wal.Open(dir)
	if err != nil {
		t.Fatalf("reopen after the cut: %v", err)
	}
	defer w.Close()
	if last, _ := w.LastIndex(); last != n {
		t.Fatalf("last index after the cut: got %d, want %d", last, n)
	}
	for i := uint64(1); i <= n; i++ {
		var l raft.Log
		if err := w.GetLog(i, &l); err != nil || !bytes.Equal(l.Data, bytes.Repeat([]byte{byte(i)}, 200)) {
			t.Fatalf("entry %d after the cut: %v", i, err)
		}
	}
	if term, err := w.GetUint64([]byte("CurrentTerm")); err != nil || term != 7 {
		t.Fatalf("term after the cut: %d %v, want 7", term, err)
	}
	if err := w.StoreLogs([]*raft.Log{{Index: n + 1, Term: 2}}); err != nil {
		t.Fatalf("append after the restart: %v", err)
	}
}
