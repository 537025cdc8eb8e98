// Package chaos_test is the process tier of Keel's chaos suite (docs/RELIABILITY.md "The test
// tiers", multi-process): each scenario starts a 3-member keeld cluster of real processes, runs
// a recorded client workload while it injects one kind of fault, and then proves:
//
//   - linearizability: the history of puts, linearizable gets and compare-and-set txns on a
//     small key set is checked with porcupine against a per-key register model (I2). A write
//     whose client saw an error has an unknown outcome: it is given an infinite return time,
//     so porcupine may order it anywhere after its call or treat it as never applied. Failed
//     reads are dropped.
//   - no lost acknowledged write: every acknowledged write is in the final MVCC history of the
//     prefix at the revision it was acknowledged with, and that history holds nothing but
//     values some client tried to write, each at most once (I1, I8).
//   - monotonic revisions: every client's response header revisions never go down (I3).
//   - watch: one watcher on the prefix runs through the whole scenario, resuming from its last
//     revision + 1 after any error; after a compacted cancel it re-lists and re-watches as
//     clients do. Its events must equal the final history, in order, with nothing missing or
//     repeated, and every re-list must equal the history replayed to the re-list's revision (I4).
//   - convergence: all members reach the same revision and report the same HashKV (I6).
//
// Scenarios (one kind of fault each, a few seconds of load each; every phase waits for the
// workload to acknowledge more writes, so every fault happens under load):
//
//   - TestKillLeader, TestKillFollower: SIGKILL, then restart from the same data dir.
//   - TestPauseLeader: SIGSTOP of the leader past the election timeout, a write through the
//     new leader, then SIGCONT with linearizable reads already sent to the old leader.
//   - TestRollingRestart: SIGTERM and restart of each member in turn, the leader last.
//   - TestFollowerInstallsSnapshot: with --snapshot-count 100, --snapshot-catchup-entries 50
//     and --snapshot-check-interval 100ms, a follower stopped during 400 writes must install a
//     snapshot from the leader (its log must say "restored snapshot").
//   - TestMembershipChange: MemberAddAsLearner of a 4th member, MemberPromote once it is in
//     sync, then MemberRemove of an original follower.
//   - TestCompactionUnderWatch: compaction while the watcher is live, then while it is
//     disconnected behind the compaction revision; on reconnecting it must get a compacted
//     cancel and re-list.
//
// Each scenario logs one report line. TestCheckerCatchesStaleReads proves the checker can
// fail: with keeld's test-only --unsafe-local-linearizable-reads a resumed, deposed leader
// serves a stale read, and porcupine must reject the history. checker_test.go feeds the
// watch check hand-made broken streams; internal/kvhist, which holds the model, the history
// recorder, the workload and the write check, tests those on hand-made histories.
//
// Every random choice comes from a seed that is logged; -chaos.seed replays one.
package chaos_test

import (
	"flag"
	"os"
	"testing"

	"github.com/keeldb/keel/internal/proccluster"
)

var seedFlag = flag.Int64("chaos.seed", 0, "seed of the workloads' random choices (0: time-based)")

func TestMain(m *testing.M) {
	flag.Parse()
	code := m.Run()
	proccluster.RemoveBuilds()
	os.Exit(code)
}
