package chaos_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/keeldb/keel/internal/kvhist"
	"github.com/keeldb/keel/internal/proccluster"
)

const (
	// prefix holds every key of the workload; the watcher watches it.
	prefix = "chaos/"
	// numKeys is the size of the key set: small, so operations contend.
	numKeys = 4
	// numClients is the number of concurrent workload clients, each with its own connection
	// and strictly sequential operations (the checker requires it).
	numClients = 4
	// opTimeout bounds one operation. It is longer than an election, so most operations
	// survive a fault; those that do not become unknown-outcome writes or dropped reads.
	opTimeout = 3 * time.Second
	// checkTimeout bounds porcupine; a history it cannot decide in time fails the test.
	checkTimeout = 2 * time.Minute
	// waitTimeout bounds every wait for cluster state and load progress.
	waitTimeout = 60 * time.Second
	// progressWrites is how many more acknowledged writes a load phase waits for.
	progressWrites = 60
)

// scenario is one chaos run: a cluster, the recorded workload, the watcher and the faults.
type scenario struct {
	t      *testing.T
	c      *proccluster.Cluster
	rec    *kvhist.Recorder
	load   *kvhist.Workload
	watch  *watcher
	faults []string
	// down lists members that are not part of the cluster at the end (removed).
	down []int
	// compacted is the revision the scenario compacted at (0: none); the history up to it was
	// read before compacting.
	compacted int64
	histLow   []event
	// markers are values the test itself wrote under the prefix (not part of the workload).
	markers map[string]bool
}

// startScenario starts a 3-member keeld cluster with extra flags, the workload and the watcher.
func startScenario(t *testing.T, extraArgs ...string) *scenario {
	t.Helper()
	seed := uint64(*seedFlag)
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("chaos: seed %d (replay with -chaos.seed=%d)", seed, seed)
	c := proccluster.Start(t, proccluster.Config{Binary: proccluster.BuildKeeld(t), Members: 3, ExtraArgs: extraArgs})
	s := &scenario{t: t, c: c, rec: kvhist.NewRecorder(), markers: map[string]bool{}}
	clis := make([]*clientv3.Client, numClients)
	for i := range clis {
		clis[i] = c.Client(t)
	}
	s.watch = startWatcher(c.Client(t))
	t.Cleanup(s.watch.stop) // before the client closes (cleanups run last-in first-out)
	s.load = kvhist.StartWorkload(s.rec, clis, kvhist.WorkloadConfig{Prefix: prefix, Keys: numKeys, OpTimeout: opTimeout, Seed: seed})
	t.Cleanup(s.load.Stop)
	return s
}

func (s *scenario) ctx() context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	s.t.Cleanup(cancel)
	return ctx
}

// elapsed is the time since the scenario's history began.
func (s *scenario) elapsed() time.Duration { return time.Duration(s.rec.Now()) }

// fault records a fault for the report.
func (s *scenario) fault(format string, args ...any) {
	s.faults = append(s.faults, fmt.Sprintf(format, args...))
	s.t.Logf("chaos: fault at %.1fs: %s", s.elapsed().Seconds(), s.faults[len(s.faults)-1])
}

// progress waits until the workload has n more acknowledged writes: every phase of a
// scenario runs under real load.
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

// leader waits for a leader and returns it with the other members (not removed ones).
func (s *scenario) leader() (leader int, followers []int) {
	s.t.Helper()
	leader, err := s.c.WaitLeader(s.ctx())
	if err != nil {
		s.t.Fatal(err)
	}
	for i := range s.c.Size() {
		if i != leader && !slices.Contains(s.down, i) {
			followers = append(followers, i)
		}
	}
	return leader, followers
}

func (s *scenario) healthy() {
	s.t.Helper()
	if err := s.c.WaitHealthy(s.ctx()); err != nil {
		s.t.Fatal(err)
	}
}

// markerPut writes a value under the prefix outside the workload and returns its revision.
func (s *scenario) markerPut(cli *clientv3.Client, name string) int64 {
	s.t.Helper()
	val := fmt.Sprintf("marker-%s-%d", name, len(s.markers))
	resp, err := cli.Put(s.ctx(), prefix+"marker/"+name, val)
	if err != nil {
		s.t.Fatalf("marker put: %v", err)
	}
	s.markers[val] = true
	return resp.Header.Revision
}

// compact reads the history up to a fresh marker revision, then compacts there.
func (s *scenario) compact(cli *clientv3.Client) int64 {
	s.t.Helper()
	rev := s.markerPut(cli, "compact")
	from := int64(1)
	if n := len(s.histLow); n > 0 {
		from = s.histLow[n-1].rev + 1
	}
	hist, err := readHistory(s.ctx(), cli, from, rev)
	if err != nil {
		s.t.Fatal(err)
	}
	s.histLow = append(s.histLow, hist...)
	if _, err := cli.Compact(s.ctx(), rev, clientv3.WithCompactPhysical()); err != nil {
		s.t.Fatalf("compact at %d: %v", rev, err)
	}
	s.compacted = rev
	s.waitCompacted(rev)
	return rev
}

// waitCompacted polls every member's HashKV until it reports compaction at rev: Compact
// returns once one member applied it, and a watch served by a member that has not yet is
// legitimately not compacted.
func (s *scenario) waitCompacted(rev int64) {
	s.t.Helper()
	ctx := s.ctx()
	for _, i := range s.up() {
		cli := s.c.Client(s.t, i)
		for {
			h, err := cli.HashKV(ctx, s.c.Endpoint(i), 0)
			if err == nil && h.CompactRevision >= rev {
				break
			}
			if ctx.Err() != nil {
				s.t.Fatalf("m%d did not apply the compaction at %d: %v %v", i, rev, h, err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// outcome is what finish measured; verify turns it into test failures and the report line.
type outcome struct {
	ops, puts, gets, cas, acked, unknown, failedReads int
	linearizable                                      porcupine.CheckResult
	visualization                                     string
	lost                                              []string
	extra                                             []string
	violations                                        []string
	watch                                             watchReport
	watchErr                                          error
	convergeErr                                       error
	finalRev                                          int64
	hash                                              uint32
}

// finish stops the load, writes a final marker, reads the history and runs every check.
// Without expectIllegal, a non-linearizable history is written out for inspection to the
// system's temporary directory (not the test's, so that it survives the test).
func (s *scenario) finish(expectIllegal bool) outcome {
	s.t.Helper()
	s.load.Stop()
	s.t.Logf("chaos: load stopped at %.1fs", s.elapsed().Seconds())
	s.healthy()
	cli := s.c.Client(s.t, s.up()...)
	final := s.markerPut(cli, "final")
	var o outcome
	o.finalRev = final
	from := int64(1)
	if n := len(s.histLow); n > 0 {
		from = s.histLow[n-1].rev + 1
	}
	histHigh, err := readHistory(s.ctx(), cli, from, final)
	if err != nil {
		s.t.Fatal(err)
	}
	hist := append(append([]event(nil), s.histLow...), histHigh...)
	o.watchErr = s.watch.finish(s.ctx(), final)
	if o.watchErr == nil {
		o.watch, o.watchErr = s.watch.check(hist)
	}

	h := s.rec.Snapshot()
	o.ops, o.unknown, o.failedReads, o.violations = len(h.Ops), h.Unknown, h.FailedReads, h.Violations
	for _, op := range h.Ops {
		switch op.Input.(kvhist.Input).Kind {
		case kvhist.Put:
			o.puts++
		case kvhist.Get:
			o.gets++
		case kvhist.CAS:
			o.cas++
		}
	}
	o.lost, o.extra = kvhist.CheckWrites(toCheck(hist), h.Writes, s.markers)
	for _, w := range h.Writes {
		if w.Acked {
			o.acked++
		}
	}
	visualizeDir := os.TempDir()
	if expectIllegal {
		visualizeDir = ""
	}
	checkStart := time.Now()
	o.linearizable, o.visualization = kvhist.CheckLinearizable(h.Ops, checkTimeout, visualizeDir)
	s.t.Logf("chaos: porcupine: %v over %d operations in %v", o.linearizable, len(h.Ops), time.Since(checkStart).Round(time.Millisecond))
	o.hash, o.convergeErr = s.converge(final)
	return o
}

// up returns the members that are part of the cluster at the end.
func (s *scenario) up() []int {
	var up []int
	for i := range s.c.Size() {
		if !slices.Contains(s.down, i) {
			up = append(up, i)
		}
	}
	return up
}

// converge waits until every member has applied revision rev and checks that all report the
// same revision and the same HashKV at rev.
func (s *scenario) converge(rev int64) (uint32, error) {
	ctx := s.ctx()
	var (
		hashes []string
		first  uint32
	)
	for n, i := range s.up() {
		var last error
		for {
			st, err := s.c.Status(ctx, i)
			if err == nil && st.Header.Revision == rev {
				break
			}
			if err == nil && st.Header.Revision > rev {
				return 0, fmt.Errorf("m%d is at revision %d after the final revision %d", i, st.Header.Revision, rev)
			}
			last = err
			if ctx.Err() != nil {
				return 0, fmt.Errorf("m%d did not reach revision %d: %v (status %v)", i, rev, last, st)
			}
			time.Sleep(20 * time.Millisecond)
		}
		mc := s.c.Client(s.t, i)
		h, err := mc.HashKV(ctx, s.c.Endpoint(i), rev)
		if err != nil {
			return 0, fmt.Errorf("hashkv on m%d: %w", i, err)
		}
		if n == 0 {
			first = h.Hash
		}
		hashes = append(hashes, fmt.Sprintf("m%d=%x", i, h.Hash))
		if h.Hash != first {
			return 0, fmt.Errorf("HashKV at revision %d differs: %s", rev, strings.Join(hashes, " "))
		}
	}
	return first, nil
}

// verify fails the test on every broken check and logs the scenario's one-line report.
func (s *scenario) verify(name string, o outcome) {
	s.t.Helper()
	if o.linearizable != porcupine.Ok {
		s.t.Errorf("linearizable: %v (visualization: %s)", o.linearizable, o.visualization)
	}
	for i, l := range o.lost {
		if i < 10 {
			s.t.Errorf("lost acknowledged write: %s", l)
		}
	}
	for i, e := range o.extra {
		if i < 10 {
			s.t.Errorf("history: %s", e)
		}
	}
	for _, v := range o.violations {
		s.t.Errorf("client: %s", v)
	}
	if o.watchErr != nil {
		s.t.Errorf("watch: %v", o.watchErr)
	}
	if o.convergeErr != nil {
		s.t.Errorf("convergence: %v", o.convergeErr)
	}
	if s.t.Failed() {
		return
	}
	s.t.Logf("chaos %s: ops %d (%d puts, %d gets, %d cas; %d writes acked, %d unknown, %d failed reads), "+
		"faults [%s], linearizable: ok, acknowledged writes lost: 0, watch: gap-free (%d events, %d sessions, "+
		"%d re-lists covering %d revisions), members converged (%d members at revision %d, hashkv %08x)",
		name, o.ops, o.puts, o.gets, o.cas, o.acked, o.unknown, o.failedReads, strings.Join(s.faults, "; "),
		o.watch.events, o.watch.sessions, o.watch.relists, o.watch.skipped, len(s.up()), o.finalRev, o.hash)
}
