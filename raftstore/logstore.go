package raftstore

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	wal "github.com/hashicorp/raft-wal"
	"github.com/hashicorp/raft-wal/metadb"
	walmetrics "github.com/hashicorp/raft-wal/metrics"
	"github.com/hashicorp/raft-wal/migrate"
	"github.com/hashicorp/raft-wal/segment"
	waltypes "github.com/hashicorp/raft-wal/types"
	"github.com/prometheus/client_golang/prometheus"
	"go.etcd.io/bbolt"

	"github.com/keeldb/keel/internal/failpoint"
)

// LogBackend names the implementation of a member's raft log and stable store
// (--raft-log-backend). See docs/DECISIONS.md for why the WAL is the default.
type LogBackend string

const (
	// LogBackendWAL is hashicorp/raft-wal: append-only segment files in member/wal, one fsync
	// per appended batch, and a small bbolt file (wal-meta.db) for raft's term and vote and
	// the list of segments.
	LogBackendWAL LogBackend = "wal"
	// LogBackendBolt is hashicorp/raft-boltdb v2: one bbolt file, member/raft.db, committed
	// (two fsyncs and page writes) per appended batch. Releases before 2026-12 wrote it.
	LogBackendBolt LogBackend = "bolt"
)

// ParseLogBackend parses a --raft-log-backend value.
func ParseLogBackend(s string) (LogBackend, error) {
	switch b := LogBackend(s); b {
	case LogBackendWAL, LogBackendBolt:
		return b, nil
	case "":
		return LogBackendWAL, nil
	}
	return "", fmt.Errorf("raftstore: unknown raft log backend %q (want %q or %q)", s, LogBackendWAL, LogBackendBolt)
}

// Files of the raft log inside a member dir.
const (
	boltLogFile = "raft.db"
	// boltRetiredFile is raft.db after a migration copied it into the WAL: kept, never
	// read again, for the operator to delete once the member has run on the WAL.
	boltRetiredFile = "raft.db.migrated"
	walDir          = "wal"
	// walMigratingDir holds a WAL being filled from raft.db; it becomes walDir only once
	// complete, so an interrupted migration leaves raft.db in charge and is started over.
	walMigratingDir = "wal.migrating"
	walMetaFile     = "wal-meta.db"
)

// DefaultWALSegmentBytes is the size of one WAL segment file (preallocated), as etcd's.
const DefaultWALSegmentBytes = 64 << 20

// ErrLogBackendMismatch is returned by Open when the data dir holds a raft log that the
// configured backend cannot read (a WAL with LogBackendBolt).
var ErrLogBackendMismatch = errors.New("raftstore: the data dir's raft log is of another backend")

// Disk puts a simulated disk under a member's files, for tests that cut the power (see
// internal/powercut). The zero value (or a nil *Disk) uses the operating system's files.
type Disk struct {
	// WALFS is the file system raft-wal writes its segment files through.
	WALFS waltypes.VFS
	// WALMeta wraps raft-wal's meta store (wal-meta.db: raft's term and vote, the segment list).
	WALMeta func(waltypes.MetaStore) waltypes.MetaStore
	// OpenFile opens bbolt files (the mvcc backend, raft.db) in place of os.OpenFile.
	OpenFile func(name string, flag int, perm os.FileMode) (*os.File, error)
}

// logStore is a member's raft log and stable store, whichever backend holds them.
type logStore interface {
	raft.LogStore
	raft.StableStore
	Close() error
}

// logPlan is what openLogStore does with a member dir.
type logPlan struct {
	use     LogBackend
	migrate bool // copy raft.db into a new WAL first
	retire  bool // a finished migration left raft.db behind: rename it
}

// planLog decides which log a member dir uses. The backend of a log already on disk wins
// over the configured one: a raft.db made by an earlier release is used as it is, and only
// rewritten into a WAL when migrate is asked for; a WAL is never opened as bolt. A new data
// dir gets want.
func planLog(hasBolt, hasWAL bool, want LogBackend, migrate bool) (logPlan, error) {
	switch {
	case hasWAL && want == LogBackendBolt:
		return logPlan{}, fmt.Errorf("%w: it holds a raft-wal log (%s), --raft-log-backend is %q", ErrLogBackendMismatch, walDir, want)
	case hasWAL && hasBolt:
		// A migration renamed the complete WAL into place and stopped before retiring raft.db.
		return logPlan{use: LogBackendWAL, retire: true}, nil
	case hasWAL:
		return logPlan{use: LogBackendWAL}, nil
	case hasBolt && migrate:
		return logPlan{use: LogBackendWAL, migrate: true}, nil
	case hasBolt:
		return logPlan{use: LogBackendBolt}, nil
	}
	return logPlan{use: want}, nil
}

// openLogStore opens (creating if needed) the raft log in the member dir dir, migrating or
// retiring raft.db as planLog decides, and returns it with the backend in use.
func openLogStore(dir string, cfg *Config, lg *slog.Logger, collector walmetrics.Collector) (logStore, LogBackend, error) {
	hasBolt, err := exists(filepath.Join(dir, boltLogFile))
	if err != nil {
		return nil, "", err
	}
	hasWAL, err := exists(filepath.Join(dir, walDir, walMetaFile))
	if err != nil {
		return nil, "", err
	}
	plan, err := planLog(hasBolt, hasWAL, cfg.LogBackend, cfg.MigrateLog)
	if err != nil {
		return nil, "", err
	}
	if plan.migrate {
		if err := migrateBoltToWAL(dir, cfg, lg); err != nil {
			return nil, "", err
		}
		plan.retire = true
	}
	if plan.retire {
		if err := retireBolt(dir); err != nil {
			return nil, "", err
		}
		lg.Info("raft log migrated to the WAL; raft.db kept as "+boltRetiredFile, "dir", dir)
	}
	if plan.use == LogBackendBolt {
		if cfg.LogBackend != LogBackendBolt {
			lg.Info("data dir holds a raft-boltdb log (raft.db): using it; restart with --raft-log-migrate to move it to the WAL")
		}
		s, err := openBolt(filepath.Join(dir, boltLogFile), cfg.Disk)
		return s, LogBackendBolt, err
	}
	s, err := openWAL(filepath.Join(dir, walDir), cfg, lg, collector)
	return s, LogBackendWAL, err
}

func exists(path string) (bool, error) {
	_, err := os.Stat(path)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, fs.ErrNotExist):
		return false, nil
	}
	return false, fmt.Errorf("raftstore: %w", err)
}

// openBolt opens raft-boltdb at path. The freelist is not written on every commit (it is
// rebuilt by a scan at open, cheap for a log that snapshots truncate): one page write less
// per appended batch.
func openBolt(path string, d *Disk) (*raftboltdb.BoltStore, error) {
	opts := &bbolt.Options{Timeout: time.Second, NoFreelistSync: true, FreelistType: bbolt.FreelistMapType}
	if d != nil && d.OpenFile != nil {
		opts.OpenFile = d.OpenFile
	}
	s, err := raftboltdb.New(raftboltdb.Options{Path: path, BoltOptions: opts})
	if err != nil {
		return nil, fmt.Errorf("raftstore: open raft log %s: %w", path, err)
	}
	return s, nil
}

// openWAL opens raft-wal in dir, creating dir if needed.
func openWAL(dir string, cfg *Config, lg *slog.Logger, collector walmetrics.Collector) (*wal.WAL, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("raftstore: create %s: %w", dir, err)
	}
	// raft-wal's option type is unexported; listOf lets the slice take it by inference.
	opts := listOf(
		wal.WithLogger(newHCLog(lg.With("component", "raft-wal"))),
		wal.WithSegmentSize(cfg.WALSegmentBytes),
	)
	if collector != nil {
		opts = append(opts, wal.WithMetricsCollector(collector))
	}
	if d := cfg.Disk; d != nil {
		if d.WALFS != nil {
			opts = append(opts, wal.WithSegmentFiler(segment.NewFiler(dir, d.WALFS)))
		}
		if d.WALMeta != nil {
			opts = append(opts, wal.WithMetaStore(d.WALMeta(&metadb.BoltMetaDB{})))
		}
	}
	w, err := wal.Open(dir, opts...)
	if err != nil {
		return nil, fmt.Errorf("raftstore: open raft log %s: %w", dir, err)
	}
	return w, nil
}

// migrateBoltToWAL copies raft.db (log and stable store) into a new WAL built in
// wal.migrating, then renames it to wal. raft.db is only read: until the rename, a crash
// leaves the member on raft.db and the next start copies again from scratch.
func migrateBoltToWAL(dir string, cfg *Config, lg *slog.Logger) error {
	tmp := filepath.Join(dir, walMigratingDir)
	if err := os.RemoveAll(tmp); err != nil {
		return fmt.Errorf("raftstore: migrate raft log: %w", err)
	}
	src, err := openBolt(filepath.Join(dir, boltLogFile), cfg.Disk)
	if err != nil {
		return err
	}
	defer src.Close()
	dst, err := openWAL(tmp, cfg, lg, nil)
	if err != nil {
		return err
	}
	start := time.Now()
	ctx := context.Background()
	first, err := src.FirstIndex()
	var last uint64
	if err == nil {
		last, err = src.LastIndex()
	}
	if err == nil && last > 0 {
		err = migrate.CopyLogs(ctx, dst, src, 4<<20, nil)
	}
	if err == nil {
		err = migrate.CopyStable(ctx, dst, src, nil, nil, nil)
	}
	if cerr := dst.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("raftstore: migrate raft log: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, walDir)); err != nil {
		return fmt.Errorf("raftstore: migrate raft log: %w", err)
	}
	if err := syncDir(dir); err != nil {
		return fmt.Errorf("raftstore: migrate raft log: %w", err)
	}
	lg.Info("copied raft.db into the WAL", "first_index", first, "last_index", last, "duration", time.Since(start))
	return nil
}

// retireBolt renames raft.db out of the way once the WAL holds its content.
func retireBolt(dir string) error {
	if err := os.Rename(filepath.Join(dir, boltLogFile), filepath.Join(dir, boltRetiredFile)); err != nil {
		return fmt.Errorf("raftstore: retire raft.db: %w", err)
	}
	if err := syncDir(dir); err != nil {
		return fmt.Errorf("raftstore: retire raft.db: %w", err)
	}
	return nil
}

// syncDir fsyncs a directory, making renames and creations in it durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// timedLogStore is a raft.LogStore that reports how long every append takes: with the WAL,
// one write and one fsync per batch, Keel's equivalent of etcd's WAL fsync latency
// (etcd_disk_wal_fsync_duration_seconds). Reads and deletes pass through.
type timedLogStore struct {
	raft.LogStore
	observe func(d time.Duration)
}

var (
	_ raft.LogStore          = (*timedLogStore)(nil)
	_ raft.MonotonicLogStore = (*timedLogStore)(nil)
)

// StoreLog appends one entry and records the time it took.
func (s *timedLogStore) StoreLog(l *raft.Log) error {
	failpoint.Inject(failpoint.RaftBeforeSave)
	start := time.Now()
	err := s.LogStore.StoreLog(l)
	s.observe(time.Since(start))
	failpoint.Inject(failpoint.RaftAfterSave)
	return err
}

// StoreLogs appends entries in one commit and records the time it took.
func (s *timedLogStore) StoreLogs(logs []*raft.Log) error {
	failpoint.Inject(failpoint.RaftBeforeSave)
	start := time.Now()
	err := s.LogStore.StoreLogs(logs)
	s.observe(time.Since(start))
	failpoint.Inject(failpoint.RaftAfterSave)
	return err
}

// IsMonotonic passes the wrapped store's answer on. raft-wal cannot hold gaps, so raft must
// drop its whole log when it installs a snapshot; hiding the interface would let raft keep the
// old entries and then fail to append after the snapshot.
func (s *timedLogStore) IsMonotonic() bool {
	m, ok := s.LogStore.(raft.MonotonicLogStore)
	return ok && m.IsMonotonic()
}

// listOf returns its arguments as a slice of their (inferred) type.
func listOf[T any](xs ...T) []T { return xs }

// observeSeconds adapts a histogram of seconds to a duration callback.
func observeSeconds(h prometheus.Observer) func(time.Duration) {
	return func(d time.Duration) { h.Observe(d.Seconds()) }
}
