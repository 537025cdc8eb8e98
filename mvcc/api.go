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

	// CompactionChunkKeys is the most keys the background compactor compacts in the index
	// in one go, holding the writer and index locks. Default 1000.
	CompactionChunkKeys int
	// CompactionBatchRevisions is the most backend entries the compactor examines (and so
	// deletes) in one bbolt transaction; an index chunk also ends once it has removed that
	// many revisions. Default 10000.
	CompactionBatchRevisions int
	// CompactionBatchPause is the compactor's pause after each backend delete batch but the
	// last, which leaves the backend to the batch commits. Default 10ms; negative means none.
	CompactionBatchPause time.Duration
	// CompactionObserver receives the compactor's measurements; see CompactionObserver.
	CompactionObserver CompactionObserver

	// UnsafeLoseDataOnClose is a TEST-ONLY fault that breaks durability: the store commits
	// its batch only when the batch limit is hit or on Commit, Snapshot or a compaction (no
	// periodic commit), and Close persists the pending batch's applied raft index and
	// revision but drops its key changes. Raft then never re-applies those entries, so a
	// graceful restart loses acknowledged writes. It exists so that tests/robustness can
	// prove its checks catch a lost write (docs/RELIABILITY.md "The robustness suite").
	// Never set it in production.
	UnsafeLoseDataOnClose bool
}

// Defaults applied by Open to zero compaction fields of Config.
const (
	DefaultCompactionChunkKeys      = 1000
	DefaultCompactionBatchRevisions = 10000
	DefaultCompactionBatchPause     = 10 * time.Millisecond
)

// CompactionObserver receives the background compactor's measurements (they back etcd's
// etcd_debugging_mvcc_*compaction* metrics). Its functions are called from the compactor
// goroutine with no lock held; any may be nil and none may block.
type CompactionObserver struct {
	// IndexChunk is called with the time one index chunk held the writer and index locks:
	// the longest a write transaction or a read waits for the compactor.
	IndexChunk func(pause time.Duration)
	// DeleteBatch is called with the duration of one backend delete batch (bbolt commit
	// and fsync) and the number of revisions it deleted.
	DeleteBatch func(d time.Duration, deleted int)
	// Finished is called when the compaction at rev has all its deletes committed, with the
	// time since the compactor started it (index chunks, delete batches and pauses).
	Finished func(rev int64, total time.Duration)
}

// RangeOptions narrows a Range.
type RangeOptions struct {
	// Limit caps the number of keys returned, in ascending key order; 0 means no limit.
	Limit int64
	// Rev is the revision to read at; 0 means the view's current revision.
	Rev int64
	// CountOnly returns only Count, no KVs. It is served from the index alone: no value is
	// read from the write buffers or the backend.
	CountOnly bool
	// SkipCount stops the index walk once Limit keys are found, so the cost of a page is
	// O(Limit) rather than O(keys in the range); Count is then only the number of keys
	// returned. RangeStream pages with it after counting the range once (docs/ARCHITECTURE.md
	// "The read paths"). It has no effect without a positive Limit.
	SkipCount bool
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
