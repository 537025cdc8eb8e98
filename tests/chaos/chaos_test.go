package chaos_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

// kill -9 of the leader under load; it restarts from its data dir.
func TestKillLeader(t *testing.T) {
	s := startScenario(t)
	s.progress(progressWrites)
	leader, _ := s.leader()
	s.c.Kill(leader)
	s.fault("SIGKILL leader m%d", leader)
	newLeader, _ := s.leader()
	if newLeader == leader {
		t.Fatalf("killed m%d is still leader", leader)
	}
	s.progress(progressWrites)
	s.c.Restart(leader)
	s.healthy()
	s.progress(progressWrites)
	s.verify("kill-leader", s.finish(false))
}

// kill -9 of a follower under load; it restarts and catches up.
func TestKillFollower(t *testing.T) {
	s := startScenario(t)
	s.progress(progressWrites)
	_, fs := s.leader()
	s.c.Kill(fs[0])
	s.fault("SIGKILL follower m%d", fs[0])
	s.progress(progressWrites)
	s.c.Restart(fs[0])
	s.healthy()
	s.progress(progressWrites)
	s.verify("kill-follower", s.finish(false))
}

// SIGSTOP of the leader past the election timeout: the others elect a new leader and take
// writes; after SIGCONT reads sent to the old leader must not be stale.
func TestPauseLeader(t *testing.T) {
	s := startScenario(t)
	s.progress(progressWrites)
	probe := s.staleReadProbe()
	if probe.stale > 0 {
		t.Errorf("the resumed old leader served %d stale linearizable reads", probe.stale)
	}
	s.progress(progressWrites)
	s.verify("pause-leader", s.finish(false))
}

// Rolling restart: SIGTERM each member in turn (followers first, the leader last) under load.
func TestRollingRestart(t *testing.T) {
	s := startScenario(t)
	s.progress(progressWrites)
	leader, fs := s.leader()
	for _, i := range append(fs, leader) {
		s.c.Stop(i)
		s.fault("SIGTERM m%d", i)
		s.leader()
		s.progress(progressWrites / 2)
		s.c.Restart(i)
		s.healthy()
		s.progress(progressWrites / 2)
	}
	s.verify("rolling-restart", s.finish(false))
}

// Compaction while the watcher is behind: the watcher is disconnected, writes go on, the
// history is compacted past its position, and on reconnecting it gets a compacted cancel,
// re-lists and re-watches.
func TestCompactionUnderWatch(t *testing.T) {
	s := startScenario(t)
	cli := s.c.Client(t)
	s.progress(progressWrites)
	s.compact(cli)
	s.fault("compaction at revision %d (watcher live)", s.compacted)
	s.progress(progressWrites)
	s.watch.disconnect()
	s.progress(progressWrites)
	rev := s.compact(cli)
	s.fault("compaction at revision %d (watcher disconnected behind it)", rev)
	s.watch.reconnect()
	s.progress(progressWrites)
	o := s.finish(false)
	if o.watch.relists == 0 {
		t.Errorf("the watcher never got a compacted cancel (sessions %d)", o.watch.sessions)
	}
	s.verify("compaction-under-watch", o)
}

// Membership change under load: a 4th member joins as a learner, is promoted once it has
// caught up, and then one of the original followers is removed.
func TestMembershipChange(t *testing.T) {
	s := startScenario(t)
	admin := s.c.Client(t)
	ctx := s.ctx()
	s.progress(progressWrites)
	n := s.c.AddSlot()
	added, err := admin.MemberAddAsLearner(ctx, []string{s.c.PeerURL(n)})
	if err != nil {
		t.Fatalf("member add as learner: %v", err)
	}
	s.fault("MemberAddAsLearner m%d", n)
	s.c.Restart(n)
	if err := s.c.WaitMember(ctx, n); err != nil {
		t.Fatal(err)
	}
	s.progress(progressWrites / 2)
	for {
		_, err := admin.MemberPromote(ctx, added.Member.ID)
		if err == nil {
			break
		}
		if !strings.Contains(err.Error(), "in sync with leader") || ctx.Err() != nil {
			t.Fatalf("member promote m%d: %v", n, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	s.fault("MemberPromote m%d", n)
	s.progress(progressWrites / 2)
	_, fs := s.leader()
	victim := -1
	for _, f := range fs {
		if f != n {
			victim = f
			break
		}
	}
	if _, err := admin.MemberRemove(ctx, s.c.MemberID(victim)); err != nil {
		t.Fatalf("member remove m%d: %v", victim, err)
	}
	s.down = append(s.down, victim)
	if _, err := s.c.WaitExit(ctx, victim); err != nil {
		t.Fatalf("removed m%d did not stop: %v", victim, err)
	}
	s.fault("MemberRemove m%d", victim)
	s.healthy()
	s.progress(progressWrites)
	s.verify("membership-change", s.finish(false))
}

// snapshotArgs make the leader snapshot every 100 entries, checked every 100 ms, and keep
// only 50 entries after a snapshot, so a follower that misses a few hundred writes must be
// sent a snapshot. raft-wal deletes only sealed segments (and still serves truncated entries
// of its open one), so segments of 16 KiB make the few hundred writes fill and seal several.
var snapshotArgs = []string{"--snapshot-count", "100", "--snapshot-catchup-entries", "50",
	"--snapshot-check-interval", "100ms", "--raft-wal-segment-bytes", "16384"}

// A follower stopped while the others write far more than --snapshot-count entries catches up
// by installing a snapshot from the leader (its log must say it restored one).
func TestFollowerInstallsSnapshot(t *testing.T) {
	s := startScenario(t, snapshotArgs...)
	s.progress(progressWrites)
	_, fs := s.leader()
	f := fs[0]
	s.c.Stop(f)
	s.fault("SIGTERM follower m%d", f)
	s.progress(400)
	s.c.Restart(f)
	s.fault("restart m%d after 400+ writes (snapshot-count 100, catch-up entries 50)", f)
	if err := waitLog(s.ctx(), s.c.LogPath(f), `"msg":"restored snapshot"`); err != nil {
		t.Fatalf("m%d did not install a snapshot: %v", f, err)
	}
	t.Logf("chaos: m%d restored a snapshot from the leader at %.1fs", f, s.elapsed().Seconds())
	s.healthy()
	s.progress(progressWrites)
	s.verify("snapshot-install", s.finish(false))
}

// waitLog polls a member log until the part written since the member's latest start
// contains want.
func waitLog(ctx context.Context, path, want string) error {
	for {
		b, err := os.ReadFile(path)
		if err == nil {
			since := string(b)
			// proccluster writes "==== proccluster: <time>: exec ..." at every start.
			if i := strings.LastIndex(since, ": exec "); i >= 0 {
				since = since[i:]
			}
			if strings.Contains(since, want) {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s has no %q since the member's last start: %w", path, want, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}
