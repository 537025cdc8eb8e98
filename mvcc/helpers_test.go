package mvcc

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
)

// testBatchInterval is long enough that no test sees a timer-driven commit: tests commit
// explicitly (Commit, Snapshot, Close) or through BatchLimit.
const testBatchInterval = time.Hour

// testWait bounds the waits of tests for background work; it is a deadline against hangs,
// not a timing expectation.
const testWait = 2 * time.Minute

// newStore opens a store in a fresh temporary directory, closed at cleanup.
func newStore(t testing.TB) *Store {
	t.Helper()
	return openAt(t, filepath.Join(t.TempDir(), "kv.db"))
}

// openAt opens the store at path, closed at cleanup.
func openAt(t testing.TB, path string) *Store {
	t.Helper()
	s, err := Open(Config{Path: path, BatchInterval: testBatchInterval})
	if err != nil {
		t.Fatalf("open %s: %v", path, err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// reopen closes s and opens the same path again.
func reopen(t testing.TB, s *Store) *Store {
	t.Helper()
	if err := s.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	return openAt(t, s.cfg.Path)
}

// op is one change in a write transaction: a put, or a delete of [key, end).
type op struct {
	del   bool
	key   string
	val   string
	end   string
	lease int64
}

func put(k, v string) op           { return op{key: k, val: v} }
func del(k, end string) op         { return op{del: true, key: k, end: end} }
func delKey(k string) op           { return op{del: true, key: k} }
func putL(k, v string, l int64) op { return op{key: k, val: v, lease: l} }

// endBytes encodes a test range end: "" is a single key, "\x00" from-key.
func endBytes(end string) []byte {
	if end == "" {
		return nil
	}
	return []byte(end)
}

// apply runs ops in one write transaction at raft index index and returns its events.
func apply(s *Store, index uint64, ops ...op) []mvccpb.Event {
	w := s.Write(index)
	for _, o := range ops {
		if o.del {
			w.DeleteRange([]byte(o.key), endBytes(o.end))
		} else {
			w.Put([]byte(o.key), []byte(o.val), o.lease)
		}
	}
	return w.End()
}

// history applies each element of txns as one write transaction, at indexes 1, 2, ...
func history(s *Store, txns ...[]op) {
	for i, ops := range txns {
		apply(s, uint64(i+1), ops...)
	}
}

// rangeAt reads [key, end) at rev through a fresh read transaction.
func rangeAt(t testing.TB, s *Store, key, end string, ro RangeOptions) *RangeResult {
	t.Helper()
	r := s.Read()
	defer r.End()
	res, err := r.Range([]byte(key), endBytes(end), ro)
	if err != nil {
		t.Fatalf("range %q-%q %+v: %v", key, end, ro, err)
	}
	return res
}

// kvString renders KeyValues compactly for comparisons: key=value@create/mod/version.
func kvString(kvs []mvccpb.KeyValue) string {
	var b bytes.Buffer
	for i := range kvs {
		kv := &kvs[i]
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(string(kv.Key) + "=" + string(kv.Value))
		b.WriteString("@" + itoa(kv.CreateRevision) + "/" + itoa(kv.ModRevision) + "/" + itoa(kv.Version))
		if kv.Lease != 0 {
			b.WriteString("L" + itoa(kv.Lease))
		}
	}
	return b.String()
}

func itoa(i int64) string { return strconv.FormatInt(i, 10) }

// wantErr fails unless errors.Is(got, want) (want nil means no error).
func wantErr(t testing.TB, got, want error) {
	t.Helper()
	if want == nil && got != nil || want != nil && !errors.Is(got, want) {
		t.Fatalf("error = %v, want %v", got, want)
	}
}

// waitCompacted waits until the compaction at rev (or a later one) is finished on s: every
// removal committed to the backend.
func waitCompacted(t testing.TB, s *Store, rev int64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testWait)
	defer cancel()
	if err := s.WaitCompacted(ctx, rev); err != nil {
		t.Fatalf("wait for the compaction at %d: %v (finished %d)", rev, err, s.FinishedCompactRev())
	}
}

// compact applies a compaction at rev (raft index index) and waits until it is finished.
func compact(t testing.TB, s *Store, index uint64, rev int64) {
	t.Helper()
	if err := s.Compact(index, rev); err != nil {
		t.Fatalf("compact at %d: %v", rev, err)
	}
	waitCompacted(t, s, rev)
}
