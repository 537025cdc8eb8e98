package failpoints_test

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/keeldb/keel/internal/failpoint"
)

// role picks the member a case arms: the leader or a follower, as the cluster stands when the
// case starts.
type role int

const (
	leader role = iota
	follower
)

func (r role) String() string { return [...]string{"leader", "follower"}[r] }

// fpCase is one failpoint injection on a running cluster.
type fpCase struct {
	fp failpoint.Name
	// term is "panic" or a sleep term.
	term string
	on   role
	// traffic returns the step that reaches the failpoint on member target, given a client of
	// another member (survivor); nil means plain puts through survivor.
	traffic func(f *fpCluster, target int, survivor *clientv3.Client) func(ctx context.Context)
	// installSnapshot makes the target (a follower) panic while it installs a snapshot from
	// the leader (panicAtInstall).
	installSnapshot bool
}

func (c fpCase) name() string {
	return string(c.fp) + "/" + strings.SplitN(c.term, "(", 2)[0] + "_on_" + c.on.String()
}

// run runs the cases one after the other on f. After each, the members must have converged
// with every acknowledged write.
func run(t *testing.T, f *fpCluster, cases []fpCase) {
	for _, tc := range cases {
		ok := t.Run(tc.name(), func(t *testing.T) {
			f.t = t
			lead, fs := f.roles()
			target, survivor := fs[0], lead
			if tc.on == leader {
				target, survivor = lead, fs[0]
			}
			cli := f.c.Client(t, survivor)
			step := func(ctx context.Context) { _ = f.put(ctx, cli) }
			if tc.traffic != nil {
				step = tc.traffic(f, target, cli)
			}
			switch {
			case tc.installSnapshot:
				f.panicAtInstall(tc.fp, tc.term, target, lead, cli)
			case tc.term == "panic":
				f.arm(target, tc.fp, "panic")
				f.driveUntilExit(target, tc.fp, step)
				f.restart(target)
			default:
				f.stall(tc.fp, tc.term, target, cli, step)
			}
			f.converge()
		})
		f.t = t
		if !ok {
			return // the cluster may be broken: the next cases would only repeat the failure
		}
	}
}

// panicAtInstall makes follower target need a snapshot and panic at fp=term while installing
// it: target is stopped while survivor takes more writes than the leader keeps log for
// (snapshotArgs), then started with the failpoint armed from its first instant
// (GOFAIL_FAILPOINTS), so the leader's InstallSnapshot reaches it. Then, with no writes, the
// leader is restarted and target after it: the old leader would resend the snapshot it never
// heard back about, hiding a backend left behind the snapshot, while a new leader probes
// target's last index (the snapshot's) and sends only the entries after it.
func (f *fpCluster) panicAtInstall(fp failpoint.Name, term string, target, lead int, survivor *clientv3.Client) {
	f.t.Helper()
	f.c.Stop(target)
	f.mustPut(survivor, 400)
	f.startEnv[target] = string(fp) + "=" + term
	f.c.Restart(target)
	delete(f.startEnv, target)
	f.driveUntilExit(target, fp, idle)
	f.c.Restart(lead)
	if _, err := f.c.WaitLeader(f.ctx()); err != nil {
		f.t.Fatalf("after restarting the leader m%d: %v", lead, err)
	}
	f.restart(target)
	if fp == failpoint.BeforeRestoreSwap {
		f.wantLog(target, "backend is behind the newest raft snapshot")
	}
}

// stall arms fp=term (a sleep) on target, drives step until it has fired, checks that writes
// through survivor are still acknowledged while it fires, and disarms it.
func (f *fpCluster) stall(fp failpoint.Name, term string, target int, survivor *clientv3.Client, step func(context.Context)) {
	f.t.Helper()
	f.arm(target, fp, term)
	ctx := f.ctx()
	for f.count(target, fp) == 0 {
		if ctx.Err() != nil {
			f.t.Fatalf("%s never fired on m%d", fp, target)
		}
		step(ctx)
	}
	f.mustPut(survivor, 20)
	f.disarm(target, fp)
}

// idle is a step that only waits a little: the case needs no traffic to reach its failpoint.
func idle(ctx context.Context) {
	select {
	case <-ctx.Done():
	case <-time.After(20 * time.Millisecond):
	}
}

// watchTraffic keeps a watch open on the target member while writes go through survivor.
func watchTraffic(f *fpCluster, target int, survivor *clientv3.Client) func(ctx context.Context) {
	ctx, cancel := context.WithCancel(context.Background())
	wch := f.c.Client(f.t, target).Watch(ctx, "ack/", clientv3.WithPrefix())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range wch { // drained until the stream ends (cleanup cancels it)
		}
	}()
	f.t.Cleanup(func() { cancel(); <-done })
	return func(ctx context.Context) { _ = f.put(ctx, survivor) }
}

// compactTraffic writes, then compacts at the revision the write got.
func compactTraffic(f *fpCluster, _ int, survivor *clientv3.Client) func(ctx context.Context) {
	return func(ctx context.Context) {
		for range 10 {
			_ = f.put(ctx, survivor)
		}
		resp, err := survivor.Get(ctx, "ack/", clientv3.WithCountOnly())
		if err == nil {
			_, _ = survivor.Compact(ctx, resp.Header.Revision)
		}
	}
}

// defragTraffic defragments the target member and writes. The write comes after, so the
// loop's next look at the member follows a dying member's exit instead of calling its dead
// endpoint (which waits for the step's deadline).
func defragTraffic(f *fpCluster, target int, survivor *clientv3.Client) func(ctx context.Context) {
	return func(ctx context.Context) {
		if f.c.Running(target) {
			_, _ = survivor.Defragment(ctx, f.c.Endpoint(target))
		}
		_ = f.put(ctx, survivor)
	}
}

// leaseRevokeTraffic grants a lease, attaches a key and revokes it.
func leaseRevokeTraffic(f *fpCluster, _ int, survivor *clientv3.Client) func(ctx context.Context) {
	return func(ctx context.Context) {
		l, err := survivor.Grant(ctx, 60)
		if err != nil {
			return
		}
		if _, err := survivor.Put(ctx, "lease/k", "v", clientv3.WithLease(l.ID)); err != nil {
			return
		}
		_, _ = survivor.Revoke(ctx, l.ID)
	}
}

// leaseCheckpointTraffic grants one long lease (the cluster runs with a 1 s checkpoint
// interval, so the leader checkpoints it every second) and writes meanwhile.
func leaseCheckpointTraffic(f *fpCluster, _ int, survivor *clientv3.Client) func(ctx context.Context) {
	granted := false
	return func(ctx context.Context) {
		if !granted {
			_, err := survivor.Grant(ctx, 120)
			granted = err == nil
		}
		_ = f.put(ctx, survivor)
	}
}

// The raft log append, backend commit, forwarding and watch send paths: a panic at each, and
// sleeps where a stall matters, on the leader or a follower.
func TestLogBackendForwardWatch(t *testing.T) {
	f := startCluster(t)
	checkEndpoint(t, f)
	run(t, f, []fpCase{
		{fp: failpoint.RaftBeforeSave, term: "panic", on: follower},
		{fp: failpoint.RaftBeforeSave, term: "panic", on: leader},
		{fp: failpoint.RaftAfterSave, term: "panic", on: follower},
		{fp: failpoint.RaftAfterSave, term: "panic", on: leader},
		{fp: failpoint.BackendBeforeCommit, term: "panic", on: follower},
		{fp: failpoint.BackendAfterCommit, term: "panic", on: leader},
		{fp: failpoint.BeforeForwardReply, term: "panic", on: leader},
		{fp: failpoint.BeforeSendWatchResponse, term: "panic", on: follower, traffic: watchTraffic},
		{fp: failpoint.RaftBeforeSave, term: "sleep(100)", on: leader},
		{fp: failpoint.RaftAfterSave, term: "sleep(100)", on: follower},
		{fp: failpoint.BackendBeforeCommit, term: "sleep(100)", on: leader},
		{fp: failpoint.BeforeForwardReply, term: "sleep(100)", on: leader},
		{fp: failpoint.BeforeSendWatchResponse, term: "sleep(100)", on: follower, traffic: watchTraffic},
	})
}

// Compaction, defragmentation and lease apply: a panic at each, and a stalled compaction.
func TestCompactDefragLease(t *testing.T) {
	f := startCluster(t, "--lease-checkpoint-interval", "1s", "--experimental-compaction-batch-limit", "10")
	run(t, f, []fpCase{
		{fp: failpoint.CompactBeforeCommitBatch, term: "panic", on: follower, traffic: compactTraffic},
		{fp: failpoint.CompactAfterCommitBatch, term: "panic", on: leader, traffic: compactTraffic},
		{fp: failpoint.CompactBeforeCommitBatch, term: "sleep(50)", on: leader, traffic: compactTraffic},
		{fp: failpoint.DefragBeforeCopy, term: "panic", on: follower, traffic: defragTraffic},
		{fp: failpoint.DefragBeforeRename, term: "panic", on: leader, traffic: defragTraffic},
		{fp: failpoint.DefragAfterCatchUp, term: "panic", on: follower, traffic: defragTraffic},
		{fp: failpoint.DefragAfterRename, term: "panic", on: leader, traffic: defragTraffic},
		{fp: failpoint.DefragBeforeRename, term: "sleep(500)", on: follower, traffic: defragTraffic},
		{fp: failpoint.BeforeLeaseRevoke, term: "panic", on: follower, traffic: leaseRevokeTraffic},
		{fp: failpoint.AfterLeaseRevoke, term: "panic", on: leader, traffic: leaseRevokeTraffic},
		{fp: failpoint.BeforeLeaseCheckpoint, term: "panic", on: follower, traffic: leaseCheckpointTraffic},
	})
}

// snapshotArgs make the leader snapshot every 100 entries, checked every 100 ms, and keep only
// 50 entries after a snapshot, in small raft-wal segments (raft-wal deletes only sealed ones),
// so a follower that misses a few hundred writes is sent a snapshot (as tests/chaos does).
var snapshotArgs = []string{"--snapshot-count", "100", "--snapshot-catchup-entries", "50",
	"--snapshot-check-interval", "100ms", "--raft-wal-segment-bytes", "16384"}

// Snapshot persist and restore: a panic while a member writes a snapshot of its own, and while
// a follower installs one from the leader, just before and just after its backend is swapped.
// A panic before the swap leaves raft's snapshot store ahead of the backend; the member must
// restore the backend from it at start (raftstore Open) or it comes back without the
// snapshot's entries.
func TestSnapshotPersistAndRestore(t *testing.T) {
	run(t, startCluster(t, snapshotArgs...), []fpCase{
		{fp: failpoint.RaftBeforeSaveSnap, term: "panic", on: leader},
		{fp: failpoint.RaftAfterSaveSnap, term: "panic", on: follower},
		{fp: failpoint.BeforeRestoreSwap, term: "panic", on: follower, installSnapshot: true},
		{fp: failpoint.AfterRestoreSwap, term: "panic", on: follower, installSnapshot: true},
	})
}

// The same restore panics with raft-boltdb as the raft log. raft-wal cannot hold a gap, so a
// member whose backend is behind its snapshot fails to append the entries after it and is sent
// a second snapshot; raft-boltdb appends them on top of the stale backend.
func TestSnapshotRestoreBoltLog(t *testing.T) {
	run(t, startCluster(t, append([]string{"--raft-log-backend", "bolt"}, snapshotArgs...)...), []fpCase{
		{fp: failpoint.BeforeRestoreSwap, term: "panic", on: follower, installSnapshot: true},
		{fp: failpoint.AfterRestoreSwap, term: "panic", on: follower, installSnapshot: true},
	})
}

// checkEndpoint checks that the gofail endpoint of a keeld built with failpoints lists exactly
// Keel's failpoints, and that arming a name that does not exist fails loudly.
func checkEndpoint(t *testing.T, f *fpCluster) {
	t.Helper()
	code, body, err := f.c.Gofail(f.ctx(), 0, http.MethodGet, "", "")
	if err != nil || code != http.StatusOK {
		t.Fatalf("GET /: status %d %q, %v", code, body, err)
	}
	var got, want []string
	for _, line := range strings.Fields(body) {
		got = append(got, strings.SplitN(line, "=", 2)[0])
	}
	for _, n := range failpoint.All() {
		want = append(want, string(n))
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("GET / lists %v, want %v", got, want)
	}
	code, body, err = f.c.Gofail(f.ctx(), 0, http.MethodPut, "noSuchFailpoint", "panic")
	if err != nil || code != http.StatusBadRequest || !strings.Contains(body, "does not exist") {
		t.Errorf("PUT /noSuchFailpoint: status %d %q, %v; want 400 saying it does not exist", code, body, err)
	}
}
