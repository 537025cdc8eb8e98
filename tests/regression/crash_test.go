package regression_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/keeldb/keel/internal/failpoint"
)

// TestEtcd14370SingleNodeKeepsAckedWritesOnCrash guards against etcd-io/etcd#14370: a
// single-member etcd applied and acknowledged an entry before its WAL append was fsynced
// (with no followers, raft committed it at once), so a crash right there lost an
// acknowledged write and the revision went down after the restart (168, then 167).
//
// Keel's single member must not either: hashicorp/raft's leader stores (raft-wal append and
// fsync) before it counts itself toward the commit. The test runs four recorded clients on a
// one-member cluster and panics the member, under that load, before a log append
// (raftBeforeSave), after one (raftAfterSave) and before the backend commit of applied
// entries (backendBeforeCommit), restarting it each time. The first term sleeps once before
// it panics, so a member that acknowledged before the append returned would have time to.
// It fails if an acknowledged write is missing from the MVCC history or sits at another
// revision (kvhist.CheckWrites), if a client's header revision goes down after a restart,
// or if porcupine rejects the history.
func TestEtcd14370SingleNodeKeepsAckedWritesOnCrash(t *testing.T) {
	c := start(t, 1)
	l := c.startLoad("k14370/", 4)
	l.progress(30)
	for _, name := range []failpoint.Name{failpoint.RaftBeforeSave, failpoint.RaftAfterSave, failpoint.BackendBeforeCommit} {
		c.crash(0, name, "1*sleep(50)->panic", nil)
		l.progress(30)
	}
	l.finish()
}

// TestEtcd17780RevisionNotDecreasingAfterCompactionCrash guards against etcd-io/etcd#17780:
// when the latest revision was a delete, compacting at it removed its tombstone, the
// highest revision left in the backend; etcd recomputed its current revision on start from
// the highest revision it found, so a crash before the compaction was recorded as finished
// made the revision go backwards and later writes reuse revisions.
//
// Keel persists the current revision with each backend commit (mvcc meta), and its compactor
// deletes in batches (mvcc/compactor.go), the last one also recording the compaction
// finished. The test uses one member with compaction batches of 20 revisions and, in each
// round, ends the history with a delete of every key written (tombstones at the latest
// revision R), compacts at R and panics the member in the compaction: after the only batch
// (compactAfterCommitBatch with few revisions), after the first of many, and before the
// first (compactBeforeCommitBatch), then once more with SIGKILL after a compaction finished.
// After each restart the next write must get revision R+1 exactly and a read at R-1 must
// still be refused as compacted. A store that recomputed its revision from the backend and
// removed tombstones at the compaction revision (etcd's bug; Keel keeps them since the
// etcd#18089 fix, and persists its revision besides) fails the first read as compacted;
// checked by mutating both. One that lost the scheduled compaction would serve the read at
//
func TestEtcd17780RevisionNotDecreasingAfterCompactionCrash(t *testing.T) {
	c := start(t, 1, "--experimental-compaction-batch-limit", "20")
	rounds := []struct {
		name   failpoint.Name
		writes int // puts before the delete: few fit in one batch, many need several
	}{
		{failpoint.CompactAfterCommitBatch, 4},
		{failpoint.CompactAfterCommitBatch, 60},
		{failpoint.CompactBeforeCommitBatch, 60},
		{"", 10}, // SIGKILL after the compaction finished
	}
	for n, r := range rounds {
		cli := c.Client(t)
		ctx := c.ctx()
		prefix := fmt.Sprintf("k17780/%d/", n)
		for i := range r.writes {
			if _, err := cli.Put(ctx, fmt.Sprintf("%s%d", prefix, i%5), fmt.Sprint(i)); err != nil {
				t.Fatal(err)
			}
		}
		del, err := cli.Delete(ctx, prefix, clientv3.WithPrefix())
		if err != nil {
			t.Fatal(err)
		}
		rev := del.Header.Revision
		if r.name == "" {
			if _, err := cli.Compact(ctx, rev, clientv3.WithCompactPhysical()); err != nil {
				t.Fatal(err)
			}
			c.Kill(0)
			c.Restart(0)
			if err := c.WaitHealthy(c.ctx()); err != nil {
				t.Fatal(err)
			}
		} else {
			compacted := false
			c.crash(0, r.name, "panic", func(ctx context.Context) {
				if !compacted {
					_, err := cli.Compact(ctx, rev)
					compacted = err == nil
				}
			})
		}
		cli = c.Client(t)
		resp, err := cli.Get(ctx, "k17780/none")
		if err != nil {
			// ErrCompacted here means the current revision fell below the compaction's.
			t.Fatalf("round %d (%s): a read at the current revision after the restart: %v", n, r.name, err)
		}
		if resp.Header.Revision != rev {
			t.Fatalf("round %d (%s): after the restart a read has revision %d, want %d", n, r.name, resp.Header.Revision, rev)
		}
		put, err := cli.Put(ctx, prefix+"after", "x")
		if err != nil {
			t.Fatal(err)
		}
		if put.Header.Revision != rev+1 {
			t.Fatalf("round %d (%s): the first write after the restart got revision %d, want %d", n, r.name, put.Header.Revision, rev+1)
		}
		if _, err := cli.Get(ctx, prefix, clientv3.WithPrefix(), clientv3.WithRev(rev-1)); !errors.Is(err, rpctypes.ErrCompacted) {
			t.Fatalf("round %d (%s): a read at %d after compacting at %d returned %v, want %v", n, r.name, rev-1, rev, err, rpctypes.ErrCompacted)
		}
	}
}

// TestEtcd13766RevisionConsistentAfterCrashUnderLoad guards against etcd-io/etcd#13766: under
// high write load, etcd 3.5 persisted its consistent index (the last applied raft index) in
// another backend transaction than the data of the entries it covered, so a member that
// crashed between the two re-applied or skipped entries on restart and ended at another
// revision than its peers, with different data.
//
// Keel commits each batch of applied entries together with their consistent index in one
// bolt transaction (mvcc commitLocked), and raft replays the log from there. The test runs
// six recorded clients against 3 members and, under that load, panics a follower just
// before a backend commit (backendBeforeCommit), the leader just after one
// (backendAfterCommit) and another member just after a log append (raftAfterSave),
// restarting each. It fails if the members end at different revisions or HashKV, if an
// acknowledged write is missing or at another revision, if a value appears twice in the
// history (an entry applied twice) or if porcupine rejects the history.
func TestEtcd13766RevisionConsistentAfterCrashUnderLoad(t *testing.T) {
	c := start(t, 3)
	l := c.startLoad("k13766/", 6)
	l.progress(50)
	leader, others := c.roles()
	c.crash(others[0], failpoint.BackendBeforeCommit, "panic", nil)
	l.progress(50)
	c.crash(leader, failpoint.BackendAfterCommit, "panic", nil)
	l.progress(50)
	_, others = c.roles()
	c.crash(others[1], failpoint.RaftAfterSave, "panic", nil)
	l.progress(50)
	l.finish()
}

// TestEtcd14685RevisionConsistentAfterDefragCrash guards against etcd-io/etcd#14685: etcd's
// defragmentation committed the pending batch without its consistent index (the commit
// hooks did not run), so a member that crashed during or right after a defrag re-applied
// entries already in its backend on restart, and its revision diverged from its peers'.
//
// Keel's Defrag (mvcc/defrag.go) commits the pending batch with its index, copies the
// backend and renames the copy over it. The test runs recorded load against 3 members and
// panics a follower before the rename (defragBeforeRename) and the leader before the copy
// (defragBeforeCopy), each while a defrag of that member is requested, then SIGKILLs a
// member right after a defrag completed under load; every member restarts. It fails as
// TestEtcd13766RevisionConsistentAfterCrashUnderLoad does: members at different revisions or
// HashKV, an acknowledged write lost or moved, a write applied twice, or porcupine.
func TestEtcd14685RevisionConsistentAfterDefragCrash(t *testing.T) {
	c := start(t, 3)
	l := c.startLoad("k14685/", 4)
	cli := c.Client(t)
	defrag := func(i int) func(ctx context.Context) {
		return func(ctx context.Context) { _, _ = cli.Defragment(ctx, c.Endpoint(i)) }
	}
	l.progress(50)
	leader, others := c.roles()
	c.crash(others[0], failpoint.DefragBeforeRename, "panic", defrag(others[0]))
	l.progress(50)
	c.crash(leader, failpoint.DefragBeforeCopy, "panic", defrag(leader))
	l.progress(50)
	_, others = c.roles()
	ctx := c.ctx()
	if _, err := cli.Defragment(ctx, c.Endpoint(others[1])); err != nil {
		t.Fatalf("defragmenting m%d: %v", others[1], err)
	}
	c.Kill(others[1])
	c.Restart(others[1])
	if err := c.WaitHealthy(ctx); err != nil {
		t.Fatal(err)
	}
	l.progress(50)
	l.finish()
}
