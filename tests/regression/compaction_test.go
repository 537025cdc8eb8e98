package regression_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/keeldb/keel/internal/failpoint"
)

// TestEtcd18089WatchKeepsDeleteAtCompactionRevision guards against etcd-io/etcd#18089:
// compacting at a revision that was a delete removed the delete's tombstone, so a watch
// opened at the compaction revision (allowed: it is not below it) silently skipped the
// delete event. etcd since keeps a tombstone at the compaction revision (etcd-io/etcd#18274).
//
// Keel's compaction keeps, for each key, its newest revision at or below the compaction
// revision unless it is a tombstone below it (mvcc key_index). The test replays the issue's
// steps on one member (put, put, put, delete at R, put; compact at R, physically) and
// watches from R, then again after a SIGKILL and restart, when the index is rebuilt from
// the backend. It fails if the watch does not start with the delete at R followed by the put.
func TestEtcd18089WatchKeepsDeleteAtCompactionRevision(t *testing.T) {
	c := start(t, 1)
	cli := c.Client(t)
	ctx := c.ctx()
	const key = "k18089"
	for _, v := range []string{"v2", "v3", "v4"} {
		if _, err := cli.Put(ctx, key, v); err != nil {
			t.Fatal(err)
		}
	}
	del, err := cli.Delete(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	put, err := cli.Put(ctx, key, "v6")
	if err != nil {
		t.Fatal(err)
	}
	r := del.Header.Revision
	if _, err := cli.Compact(ctx, r, clientv3.WithCompactPhysical()); err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("DELETE %s@%d, PUT %s=v6@%d", key, r, key, put.Header.Revision)
	wantWatch(t, ctx, cli, key, r, put.Header.Revision, want)
	c.Kill(0)
	c.Restart(0)
	if err := c.WaitHealthy(c.ctx()); err != nil {
		t.Fatal(err)
	}
	wantWatch(t, ctx, c.Client(t), key, r, put.Header.Revision, want)
}

// TestEtcd19179WatchKeepsLoneTombstoneAcrossCompactionCrash guards against
// etcd-io/etcd#19179: a compaction at a delete's revision C crashed after it had removed the
// key's older revisions but before it finished; on restart etcd rebuilt its index without
// the key (its only revision left was the tombstone), the resumed compaction at C therefore
// did not keep the tombstone, and a watch opened at C missed the delete
// (etcd-io/etcd#19188).
//
// The test uses one member with compaction batches of one revision: five keys are put and
// then deleted at C in one request, so the first batch removes a put and leaves its key's
// tombstone alone. It compacts at C, panics the member after that first batch
// (compactAfterCommitBatch), restarts it (the compaction resumes from the rebuilt index),
// puts a sentinel and watches the prefix from C. It fails unless the watch returns the five
// deletes at C and then the sentinel.
func TestEtcd19179WatchKeepsLoneTombstoneAcrossCompactionCrash(t *testing.T) {
	c := start(t, 1, "--experimental-compaction-batch-limit", "1")
	cli := c.Client(t)
	ctx := c.ctx()
	const prefix = "k19179/"
	for i := range 5 {
		if _, err := cli.Put(ctx, fmt.Sprintf("%s%d", prefix, i), "v"); err != nil {
			t.Fatal(err)
		}
	}
	del, err := cli.Delete(ctx, prefix, clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	r := del.Header.Revision
	compacted := false
	c.crash(0, failpoint.CompactAfterCommitBatch, "panic", func(ctx context.Context) {
		if !compacted {
			_, err := cli.Compact(ctx, r)
			compacted = err == nil
		}
	})
	cli = c.Client(t)
	// The restarted member resumes the compaction; the watch must see the delete once it
	// has finished (and, by settle, before).
	c.waitLog(0, `"msg":"compaction finished"`)
	sentinel, err := cli.Put(ctx, prefix+"sentinel", "s")
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for i := range 5 {
		want = append(want, fmt.Sprintf("DELETE %s%d@%d", prefix, i, r))
	}
	want = append(want, fmt.Sprintf("PUT %ssentinel=s@%d", prefix, sentinel.Header.Revision))
	wantWatch(t, ctx, cli, prefix, r, sentinel.Header.Revision, strings.Join(want, ", "), clientv3.WithPrefix())
}

// wantWatch watches key from revision from until an event at revision until and fails the
// test unless the events, formatted by formatEvents, are want.
func wantWatch(t *testing.T, ctx context.Context, cli *clientv3.Client, key string, from, until int64, want string, opts ...clientv3.OpOption) {
	t.Helper()
	wctx, cancel := context.WithTimeout(ctx, hangGuard)
	defer cancel()
	var got []*clientv3.Event
	for resp := range cli.Watch(wctx, key, append(opts, clientv3.WithRev(from))...) {
		if err := resp.Err(); err != nil {
			t.Fatalf("watch %s from %d: %v after %s", key, from, err, formatEvents(got))
		}
		got = append(got, resp.Events...)
		if n := len(got); n > 0 && got[n-1].Kv.ModRevision >= until {
			break
		}
	}
	if s := formatEvents(got); s != want {
		t.Fatalf("watch %s from %d:\n got %s\nwant %s", key, from, s, want)
	}
}

// formatEvents writes events as "PUT k=v@rev, DELETE k@rev".
func formatEvents(evs []*clientv3.Event) string {
	var b strings.Builder
	for i, e := range evs {
		if i > 0 {
			b.WriteString(", ")
		}
		if e.Type == clientv3.EventTypeDelete {
			fmt.Fprintf(&b, "DELETE %s@%d", e.Kv.Key, e.Kv.ModRevision)
		} else {
			fmt.Fprintf(&b, "PUT %s=%s@%d", e.Kv.Key, e.Kv.Value, e.Kv.ModRevision)
		}
	}
	return b.String()
}

// TestEtcd18667TxnReadAtCompactedRevisionConsistent guards against etcd-io/etcd#18667: a
// transaction that wrote and also read at an old revision was applied by each member against
// its own compaction progress (compaction runs in the background), so the read failed on a
// member that had already compacted that revision and succeeded on another: the members
// applied different writes and diverged.
//
// Keel raises the compaction revision when the compaction entry is applied, the same on every
// member, and refuses reads below it whatever the compactor's progress (mvcc/compact.go). The
// test writes 200 revisions on 3 members, slows one follower's compactor
// (compactBeforeCommitBatch sleeps 20 ms per batch of 10 revisions) and, while a compaction
// at 100 revisions back is requested, sends through every member transactions that read one
// key at revisions around the compaction point and put a marker. It fails if a transaction
// acknowledged as successful has its marker missing on some member, one refused as compacted
// has it anywhere, or the members do not converge to one revision and HashKV.
func TestEtcd18667TxnReadAtCompactedRevisionConsistent(t *testing.T) {
	c := start(t, 3, "--experimental-compaction-batch-limit", "10")
	const prefix = "k18667/"
	cli := c.Client(t)
	ctx := c.ctx()
	var last int64
	for i := range 200 {
		resp, err := cli.Put(ctx, fmt.Sprintf("%sk%d", prefix, i%10), fmt.Sprint(i))
		if err != nil {
			t.Fatal(err)
		}
		last = resp.Header.Revision
	}
	_, others := c.roles()
	c.arm(others[0], failpoint.CompactBeforeCommitBatch, "sleep(20)")
	at := last - 100
	const perMember = 20
	outcomes := make([][]error, c.Size())
	var wg sync.WaitGroup
	for m := range c.Size() {
		mcli := c.Client(t, m)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range perMember {
				tctx, cancel := context.WithTimeout(ctx, stepTimeout)
				_, err := mcli.Txn(tctx).Then(
					clientv3.OpGet(prefix+"k0", clientv3.WithRev(at-perMember/2+int64(j))),
					clientv3.OpPut(fmt.Sprintf("%stxn/%d/%d", prefix, m, j), "x"),
				).Commit()
				cancel()
				outcomes[m] = append(outcomes[m], err)
			}
		}()
	}
	_, cerr := cli.Compact(ctx, at)
	wg.Wait()
	if cerr != nil {
		t.Fatal(cerr)
	}
	c.converge()
	for i := range c.Size() {
		resp, err := c.Client(t, i).Get(ctx, prefix+"txn/", clientv3.WithPrefix(), clientv3.WithSerializable())
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]bool{}
		for _, kv := range resp.Kvs {
			got[string(kv.Key)] = true
		}
		for m, errs := range outcomes {
			for j, err := range errs {
				key := fmt.Sprintf("%stxn/%d/%d", prefix, m, j)
				switch {
				case err == nil && !got[key]:
					t.Errorf("m%d lacks %s, whose transaction succeeded", i, key)
				case errors.Is(err, rpctypes.ErrCompacted) && got[key]:
					t.Errorf("m%d has %s, whose transaction was refused as compacted", i, key)
				}
			}
		}
	}
	var ok, compacted int
	for _, errs := range outcomes {
		for _, err := range errs {
			switch {
			case err == nil:
				ok++
			case errors.Is(err, rpctypes.ErrCompacted):
				compacted++
			}
		}
	}
	t.Logf("compaction at %d: %d transactions succeeded, %d refused as compacted", at, ok, compacted)
}
