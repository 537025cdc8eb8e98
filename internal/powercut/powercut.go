// Package powercut simulates a power cut under one member's data dir, for tests: after Cut and
// Restore, the member's files hold what they held at the cut minus everything that was not
// yet fsynced, as a disk that lost power would. It knows raftstore's layout (member/wal,
// member/kv.db, member/snap) and goes under each kind of file the way that file is written:
//
//   - WAL segment files (raft-wal) are written through the disk's VFS (raftstore.Disk.WALFS).
//     Every WriteAt first saves the bytes it overwrites; a Sync forgets them. Restore writes
//     the saved bytes back, newest first, so each segment holds exactly what it held at its last
//     fsync; a segment created after the last fsync of its directory (raft-wal syncs the
//     directory on a new file's first Sync) disappears.
//   - wal-meta.db (raft-wal's bbolt meta store: raft's term and vote, the segment list) is
//     reached through a wrapper of raft-wal's meta store (raftstore.Disk.WALMeta). bbolt
//     fsyncs before a commit returns, so at Cut, taken between two commits, the file is what
//     the disk holds; Restore writes that copy back.
//   - kv.db (the mvcc backend) is copied at Cut with mvcc.Store.CopyCommitted: the backend as
//     of its last commit, which is what the disk holds after a cut (see its doc). Its file is
//     opened through the disk's OpenFile (raftstore.Disk.OpenFile, bbolt's Options.OpenFile).
//   - snap/ (hashicorp/raft's file snapshots, each fsynced and renamed into place when
//     complete) is put back to the completed snapshots present at Cut.
//
// A member does not stop at the instant of Cut, so the disk keeps working for it afterwards
// (hashicorp/raft panics on a failed write of its term or vote): its writes still reach the
// files, and Restore takes all of them back — WAL writes stay in the undo records whatever
// syncs follow, segment deletes are not carried out, files created are removed, and kv.db,
// wal-meta.db and snap/ are put back to their copies of the cut. So that nothing the member
// does after the cut is seen by anyone (a vote it then forgets, an entry it acknowledges),
// cut its network first (testcluster's Isolate), then Cut, stop it, Restore, and start it
// again on a new Disk.
package powercut

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	walfs "github.com/hashicorp/raft-wal/fs"
	waltypes "github.com/hashicorp/raft-wal/types"

	"github.com/keeldb/keel/raftstore"
)

// Backend is what the disk copies kv.db from at Cut (an *mvcc.Store).
type Backend interface {
	CopyCommitted(w io.Writer) error
}

// Disk is the simulated disk under one member's data dir. Safe for concurrent use.
type Disk struct {
	member string // <data dir>/member

	// mu orders Cut with writes and syncs: a write or sync holds it throughout, so a cut
	// falls between two of them.
	mu sync.Mutex
	// guarded by mu
	off      bool
	undo     map[string][]undoRecord // WAL file path -> bytes to put back, oldest first
	unsynced map[string]bool         // WAL files created and never synced (their dir entry neither)
	backend  Backend
	metaPath string
	// images are the files' contents at Cut, by path; snapshots are the completed snapshot
	// dirs at Cut, saved as hard links under saved.
	images    map[string][]byte
	snapshots []string
	saved     string
}

type undoRecord struct {
	off  int64
	data []byte
}

// New returns the disk of the member whose data dir is dataDir.
func New(dataDir string) *Disk {
	return &Disk{member: filepath.Join(dataDir, "member"), undo: map[string][]undoRecord{},
		unsynced: map[string]bool{}, images: map[string][]byte{}}
}

// Hooks returns the raftstore configuration that puts this disk under a member.
func (d *Disk) Hooks() *raftstore.Disk {
	return &raftstore.Disk{
		WALFS:    &walVFS{d: d, inner: walfs.New()},
		WALMeta:  func(inner waltypes.MetaStore) waltypes.MetaStore { return &metaStore{d: d, inner: inner} },
		OpenFile: d.openFile,
	}
}

// openFile opens bbolt's files (kv.db); what bbolt writes through them is taken back by
// Restore from the copy made at Cut.
func (d *Disk) openFile(name string, flag int, perm os.FileMode) (*os.File, error) {
	return os.OpenFile(name, flag, perm)
}

// SetBackend names the store whose kv.db Cut copies; call it once the member has opened.
func (d *Disk) SetBackend(b Backend) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.backend = b
}

// Cut turns the power off: what the disk keeps is recorded for Restore, and nothing the member
// writes from now on will be kept. The member keeps running until the caller stops it.
func (d *Disk) Cut() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.off {
		return errors.New("powercut: already cut")
	}
	d.off = true
	if d.backend == nil {
		return errors.New("powercut: no backend to copy kv.db from (SetBackend)")
	}
	var kv bytes.Buffer
	if err := d.backend.CopyCommitted(&kv); err != nil {
		return fmt.Errorf("powercut: copy kv.db: %w", err)
	}
	d.images[filepath.Join(d.member, "kv.db")] = kv.Bytes()
	if d.metaPath != "" {
		b, err := os.ReadFile(d.metaPath)
		if err != nil {
			return fmt.Errorf("powercut: copy wal meta: %w", err)
		}
		d.images[d.metaPath] = b
	}
	return d.saveSnapshotsLocked()
}

// saveSnapshotsLocked hard-links every completed snapshot's files into d.saved.
// requires d.mu held
func (d *Disk) saveSnapshotsLocked() error {
	root := filepath.Join(d.member, "snap", "snapshots")
	entries, err := os.ReadDir(root)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("powercut: %w", err)
	}
	d.saved = filepath.Join(d.member, "..", ".powercut-snapshots")
	if err := os.RemoveAll(d.saved); err != nil {
		return fmt.Errorf("powercut: %w", err)
	}
	for _, e := range entries {
		if !e.IsDir() || strings.HasSuffix(e.Name(), ".tmp") {
			continue
		}
		src, dst := filepath.Join(root, e.Name()), filepath.Join(d.saved, e.Name())
		if err := linkDir(src, dst); err != nil {
			return fmt.Errorf("powercut: save snapshot %s: %w", e.Name(), err)
		}
		d.snapshots = append(d.snapshots, e.Name())
	}
	return nil
}

func linkDir(src, dst string) error {
	if err := os.MkdirAll(dst, 0o700); err != nil {
		return err
	}
	files, err := os.ReadDir(src)
	if err != nil {
		return err
	}
	for _, f := range files {
		if err := os.Link(filepath.Join(src, f.Name()), filepath.Join(dst, f.Name())); err != nil {
			return err
		}
	}
	return nil
}

// Restore puts the member's files back to what the disk held at Cut. The member must be
// stopped (its files closed).
func (d *Disk) Restore() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.off {
		return errors.New("powercut: Restore before Cut")
	}
	var errs []error
	for path, recs := range d.undo {
		errs = append(errs, undoFile(path, recs))
	}
	for path := range d.unsynced {
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	for path, b := range d.images {
		errs = append(errs, os.WriteFile(path, b, 0o600))
	}
	errs = append(errs, d.restoreSnapshotsLocked())
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("powercut: restore: %w", err)
	}
	return nil
}

func undoFile(path string, recs []undoRecord) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	for _, r := range slices.Backward(recs) {
		if _, err := f.WriteAt(r.data, r.off); err != nil {
			return err
		}
	}
	return nil
}

// restoreSnapshotsLocked makes snap/snapshots hold exactly the completed snapshots of Cut.
// requires d.mu held
func (d *Disk) restoreSnapshotsLocked() error {
	root := filepath.Join(d.member, "snap", "snapshots")
	if d.saved == "" {
		return nil
	}
	entries, err := os.ReadDir(root)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	for _, e := range entries {
		if err := os.RemoveAll(filepath.Join(root, e.Name())); err != nil {
			return err
		}
	}
	for _, name := range d.snapshots {
		if err := os.Rename(filepath.Join(d.saved, name), filepath.Join(root, name)); err != nil {
			return err
		}
	}
	return os.RemoveAll(d.saved)
}

// walVFS is raft-wal's file system with the writes of every file recorded until synced.
type walVFS struct {
	d     *Disk
	inner waltypes.VFS
}

var _ waltypes.VFS = (*walVFS)(nil)

func (v *walVFS) ListDir(dir string) ([]string, error) { return v.inner.ListDir(dir) }

func (v *walVFS) Create(dir, name string, size uint64) (waltypes.WritableFile, error) {
	v.d.mu.Lock()
	defer v.d.mu.Unlock()
	f, err := v.inner.Create(dir, name, size)
	if err != nil {
		return nil, err
	}
	path := filepath.Join(dir, name)
	v.d.unsynced[path] = true
	return &walFile{d: v.d, path: path, inner: f}, nil
}

func (v *walVFS) Delete(dir, name string) error {
	v.d.mu.Lock()
	defer v.d.mu.Unlock()
	if v.d.off {
		return nil // a delete after the cut never reached the disk: keep the file
	}
	// raft-wal's Delete removes the file and fsyncs the directory: durable at once.
	path := filepath.Join(dir, name)
	delete(v.d.undo, path)
	delete(v.d.unsynced, path)
	return v.inner.Delete(dir, name)
}

func (v *walVFS) OpenReader(dir, name string) (waltypes.ReadableFile, error) {
	return v.inner.OpenReader(dir, name)
}

func (v *walVFS) OpenWriter(dir, name string) (waltypes.WritableFile, error) {
	f, err := v.inner.OpenWriter(dir, name)
	if err != nil {
		return nil, err
	}
	return &walFile{d: v.d, path: filepath.Join(dir, name), inner: f}, nil
}

// walFile records what each write overwrites until the next Sync.
type walFile struct {
	d     *Disk
	path  string
	inner waltypes.WritableFile
}

func (f *walFile) ReadAt(p []byte, off int64) (int, error) { return f.inner.ReadAt(p, off) }
func (f *walFile) Close() error                            { return f.inner.Close() }

func (f *walFile) WriteAt(p []byte, off int64) (int, error) {
	f.d.mu.Lock()
	defer f.d.mu.Unlock()
	old := make([]byte, len(p))
	n, err := f.inner.ReadAt(old, off)
	if err != nil && !errors.Is(err, io.EOF) {
		return 0, err
	}
	// Bytes past the end read as zeros: what a preallocated (or extended) file holds there.
	clear(old[n:])
	f.d.undo[f.path] = append(f.d.undo[f.path], undoRecord{off: off, data: old})
	return f.inner.WriteAt(p, off)
}

func (f *walFile) Sync() error {
	f.d.mu.Lock()
	defer f.d.mu.Unlock()
	if err := f.inner.Sync(); err != nil {
		return err
	}
	if f.d.off {
		return nil // after the cut: the bytes are on the file for the member, not on the disk
	}
	delete(f.d.undo, f.path)
	delete(f.d.unsynced, f.path) // raft-wal's first Sync of a new file also syncs its directory
	return nil
}

// metaStore wraps raft-wal's meta store so that Cut falls between two of its commits.
type metaStore struct {
	d     *Disk
	inner waltypes.MetaStore
}

var _ waltypes.MetaStore = (*metaStore)(nil)

func (m *metaStore) Load(dir string) (waltypes.PersistentState, error) {
	m.d.mu.Lock()
	defer m.d.mu.Unlock()
	m.d.metaPath = filepath.Join(dir, "wal-meta.db")
	return m.inner.Load(dir)
}

func (m *metaStore) CommitState(s waltypes.PersistentState) error {
	m.d.mu.Lock()
	defer m.d.mu.Unlock()
	return m.inner.CommitState(s)
}

func (m *metaStore) GetStable(key []byte) ([]byte, error) { return m.inner.GetStable(key) }

func (m *metaStore) SetStable(key, value []byte) error {
	m.d.mu.Lock()
	defer m.d.mu.Unlock()
	return m.inner.SetStable(key, value)
}

func (m *metaStore) Close() error { return m.inner.Close() }
