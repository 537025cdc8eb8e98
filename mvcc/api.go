package mvcc

import (
	"errors"
	"io"
	"log/slog"
	"os"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
)

// Sentinel errors returned by the store. The server maps them to etcd's rpctypes errors.
var (
	// ErrCompacted is returned when a read, compaction or hash asks for a revision below the
	// compaction point.
	ErrCompacted = errors.New("mvcc: required revision has been compacted")
	// ErrFutureRev is returned when a read, compaction or hash asks for a revision above the
	// current revision.
	ErrFutureRev = errors.New("mvcc: required revision is a future revision")
	// ErrClosed is returned by operations on a closed store.
	ErrClosed = errors.New("mvcc: store closed")
)

// Config configures a Store. Zero values mean defaults.
type Config struct {
	// Path is the bbolt file. Required.
	Path string
	// BatchInterval is the longest time a write stays in the open backend transaction before it
	// is committed (durability comes from the raft log, not from this commit). Default 100ms.
	BatchInterval time.Duration
	// BatchLimit is the number of write transactions after which the backend commits. Default 10000.
	BatchLimit int
	// Logger receives operational logs; nil discards.
	Logger *slog.Logger
	// CommitObserver, when set, is called with the duration of every backend commit that
	// wrote a batch (bbolt commit and fsync), from the committing goroutine without locks
	// held. It backs etcd_disk_backend_commit_duration_seconds; it must not block.
	CommitObserver func(d time.Duration)
	// OpenFile, when set, opens the backend file in place of os.OpenFile (bbolt's
	// Options.OpenFile); tests put a simulated disk under the store with it.
	OpenFile func(name string, flag int, perm os.FileMode) (*os.File, error)
}

// RangeOptions narrows a Range.
type RangeOptions struct {
	// Limit caps the number of keys returned, in ascending key order; 0 means no limit.
	Limit int64
	// Rev is the revision to read at; 0 means the view's current revision.
	Rev int64
	// CountOnly returns only Count, no KVs.
	CountOnly bool
}

// RangeResult is the answer of a Range.
type RangeResult struct {
	// KVs are the live keys in [key, end) at Rev, ascending by key, at most Limit of them.
	KVs []mvccpb.KeyValue
	// Rev is the revision the range was read at (the requested one, or the current one).
	Rev int64
	// Count is the number of live keys in [key, end) at Rev, regardless of Limit.
	Count int
}

// ReadView is what both read and write transactions can read.
type ReadView interface {
	// FirstRev is the compaction revision: the oldest revision still readable.
	FirstRev() int64
	// Rev is the revision this view reads at by default.
	Rev() int64
	// Range reads [key, end). end == nil means the single key; end == []byte{0} means every key
	// >= key. Returns ErrCompacted or ErrFutureRev for a bad ro.Rev.
	Range(key, end []byte, ro RangeOptions) (*RangeResult, error)
}

// Compile-time checks.
var (
	_ ReadView = (*ReadTxn)(nil)
	_ ReadView = (*WriteTxn)(nil)
	_          = io.EOF
)
