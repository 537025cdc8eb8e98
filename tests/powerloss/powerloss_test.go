// Package powerloss_test cuts the power under members of a running cluster: an in-process
// 3-member cluster (real raft over TCP, real gRPC, real files) whose members' data dirs sit on
// internal/powercut disks, which keep only what was fsynced when the power goes. Under a
// recorded write load (internal/kvhist: puts, linearizable gets, compare-and-sets), the test
// cuts the leader, restarts it from what its disk kept, then cuts every member at once and
// restarts them all. It then proves what a power cut must not break:
//
//   - every acknowledged write is in the final history at the revision it was acknowledged
//     with, and nothing is in it twice or that no client wrote (I1, I8 of docs/RELIABILITY.md);
//   - the history is linearizable (porcupine; writes whose client saw an error have an
//     unknown outcome) and every client's header revisions never went down (I2, I3);
//   - the members converge: the same revision and the same HashKV (I6).
//
// kill -9 is the process tiers' business (tests/chaos, tests/cluster); this one is about the
// bytes the kernel had not written when the power went.
package powerloss_test

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/goleak"

	"github.com/keeldb/keel/internal/kvhist"
	"github.com/keeldb/keel/internal/powercut"
	"github.com/keeldb/keel/internal/testcluster"
	"github.com/keeldb/keel/internal/watchcheck"
	"github.com/keeldb/keel/raftstore"
)

var seedFlag = flag.Uint64("powerloss.seed", 0, "seed of the workload's random choices (0: time-based)")

func TestMain(m *testing.M) {
	// hashicorp/raft's NetworkTransport does not wait for its connection handlers on Close;
	// they end when the peer's side of the connection closes, which may be a moment later.
	goleak.VerifyTestMain(m, goleak.IgnoreAnyFunction("github.com/hashicorp/raft.(*NetworkTransport).handleConn"),
		// Node.wait detaches from a future raft may never answer once it is shut down.
		goleak.IgnoreAnyFunction("github.com/keeldb/keel/raftstore.(*Node).wait.func1"))
}

const (
	prefix     = "pl/"
	numClients = 4
	// progressWrites is how many more acknowledged writes each load phase waits for.
	progressWrites = 80
	waitTimeout    = 60 * time.Second
)

type scenario struct {
	t      *testing.T
	c      *testcluster.Cluster
	disks  []*powercut.Disk
	rec    *kvhist.Recorder
	faults []string
}

func (s *scenario) progress(n int) {
	s.t.Helper()
	want := s.rec.AckedWrites() + n
	deadline := time.Now().Add(waitTimeout)
	for s.rec.AckedWrites() < want {
		if time.Now().After(deadline) {
			s.t.Fatalf("the workload acknowledged only %d writes, want %d", s.rec.AckedWrites(), want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// cut turns the power off under the given members, one right after the other, stops them, puts
// their files back to what their disks kept, and starts them again. A member's network goes
// with its power, so that nothing it does between the cut and its stop is seen.
func (s *scenario) cut(members ...int) {
	s.t.Helper()
	for _, i := range members {
		s.c.Isolate(i)
		if err := s.disks[i].Cut(); err != nil {
			s.t.Fatalf("cut m%d: %v", i, err)
		}
	}
	s.faults = append(s.faults, fmt.Sprintf("power cut under m%v at %.1fs", members, s.elapsed()))
	for _, i := range members {
		s.c.Stop(i)
	}
	for _, i := range members {
		if err := s.disks[i].Restore(); err != nil {
			s.t.Fatalf("restore m%d's disk: %v", i, err)
		}
	}
	for _, i := range members {
		s.c.Restart(i)
	}
	s.c.WaitLeader()
}

func (s *scenario) elapsed() float64 { return float64(s.rec.Now()) / 1e9 }

func TestPowerLoss(t *testing.T) {
	seed := *seedFlag
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("powerloss: seed %d (replay with -powerloss.seed=%d)", seed, seed)
	s := &scenario{t: t, disks: make([]*powercut.Disk, 3), rec: kvhist.NewRecorder()}
	s.c = testcluster.StartWith(t, 3, testcluster.Options{
		Configure: func(i int, cfg *raftstore.Config) {
			s.disks[i] = powercut.New(cfg.DataDir)
			cfg.Disk = s.disks[i].Hooks()
			// Small segments and frequent snapshots, so segments are sealed, rotated and deleted
			// and snapshots taken while the power goes.
			cfg.WALSegmentBytes = 64 << 10
			cfg.SnapshotCount, cfg.SnapshotCatchupEntries, cfg.SnapshotCheckInterval = 200, 50, 100*time.Millisecond
		},
		Started: func(i int, m *testcluster.Member) { s.disks[i].SetBackend(m.Node.Store()) },
	})
	clis := make([]*clientv3.Client, numClients)
	for i := range clis {
		clis[i] = s.c.Client()
	}
	load := kvhist.StartWorkload(s.rec, clis, kvhist.WorkloadConfig{Prefix: prefix, Seed: seed})
	t.Cleanup(load.Stop)

	s.progress(progressWrites)
	s.cut(s.c.Leader())
	s.progress(progressWrites)
	s.cut(0, 1, 2)
	s.progress(progressWrites)
	load.Stop()

	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	cli := s.c.Client()
	final, err := cli.Put(ctx, prefix+"final", "final")
	if err != nil {
		t.Fatalf("final put: %v", err)
	}
	finalRev := final.Header.Revision
	hist, err := watchcheck.ReadHistory(ctx, cli, prefix, 1, finalRev)
	if err != nil {
		t.Fatal(err)
	}
	h := s.rec.Snapshot()
	lost, extra := kvhist.CheckWrites(hist, h.Writes, map[string]bool{"final": true})
	for _, l := range lost {
		t.Errorf("lost acknowledged write: %s", l)
	}
	for _, e := range extra {
		t.Errorf("history: %s", e)
	}
	for _, v := range h.Violations {
		t.Errorf("client: %s", v)
	}
	res, vis := kvhist.CheckLinearizable(h.Ops, 2*time.Minute, os.TempDir())
	if res != porcupine.Ok {
		t.Errorf("linearizable: %v (visualization: %s)", res, vis)
	}
	hash, err := converge(ctx, s.c, finalRev)
	if err != nil {
		t.Errorf("convergence: %v", err)
	}
	if t.Failed() {
		return
	}
	acked := 0
	for _, w := range h.Writes {
		if w.Acked {
			acked++
		}
	}
	t.Logf("powerloss: ops %d (%d writes acked, %d unknown, %d failed reads), faults [%s], linearizable: ok, "+
		"acknowledged writes lost: 0, members converged (3 members at revision %d, hashkv %08x)",
		len(h.Ops), acked, h.Unknown, h.FailedReads, strings.Join(s.faults, "; "), finalRev, hash)
}

// converge waits until every member has applied revision rev and checks that all report the
// same HashKV at rev.
func converge(ctx context.Context, c *testcluster.Cluster, rev int64) (uint32, error) {
	var hashes []uint32
	for i, m := range c.Members {
		for m.Node.Store().Rev() < rev {
			if ctx.Err() != nil {
				return 0, fmt.Errorf("m%d stayed at revision %d, want %d", i, m.Node.Store().Rev(), rev)
			}
			time.Sleep(20 * time.Millisecond)
		}
		h, _, _, err := m.Node.Store().HashKV(rev)
		if err != nil {
			return 0, fmt.Errorf("m%d: hashkv: %w", i, err)
		}
		hashes = append(hashes, h)
		if h != hashes[0] {
			return 0, fmt.Errorf("HashKV at revision %d differs: %x", rev, hashes)
		}
	}
	return hashes[0], nil
}
