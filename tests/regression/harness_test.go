// Package regression_test reproduces, on real keeld processes, the correctness bugs that
// etcd's robustness suite found (the table in etcd's tests/robustness/README.md) whose
// scenario applies to Keel's design, one named test per bug: TestEtcd<issue><what must hold>.
// Each test's doc comment cites the etcd issue, says what the bug was, how the test recreates
// its conditions on Keel (failpoint, network fault, traffic) and how its check would fail.
// docs/RELIABILITY.md "Regression scenarios from etcd's bugs" has the table, with the bugs
// that do not apply and why.
//
// Every test starts its own small cluster of keeld built with -tags failpoints (one member
// where the bug needs no peers), each member serving gofail's HTTP endpoint
// (proccluster.Config.GofailHTTP), drives a few seconds of traffic and checks with the shared
// checkers: internal/kvhist (porcupine, acknowledged writes against the MVCC history,
// monotonic header revisions) and internal/watchcheck, plus HashKV convergence. Waits poll
// with a deadline; the deadlines are hang guards, never timing checks.
package regression_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/keeldb/keel/internal/failpoint"
	"github.com/keeldb/keel/internal/kvhist"
	"github.com/keeldb/keel/internal/proccluster"
	"github.com/keeldb/keel/internal/watchcheck"
)

func TestMain(m *testing.M) {
	code := m.Run()
	proccluster.RemoveBuilds()
	os.Exit(code)
}

// hangGuard bounds each wait of a test; a hang guard, not a timing check.
const hangGuard = 60 * time.Second

// stepTimeout bounds one client call aimed at a member that may be dying.
const stepTimeout = 5 * time.Second

// checkTimeout bounds porcupine; an undecided history fails the test.
const checkTimeout = 60 * time.Second

// loadSeed seeds every workload; the workloads are short, so a fixed seed keeps runs alike.
const loadSeed = 12

// cluster is a keeld cluster built with failpoints, for one test.
type cluster struct {
	t *testing.T
	*proccluster.Cluster
}

// start starts members keeld members built with failpoints, with extra flags.
func start(t *testing.T, members int, args ...string) *cluster {
	t.Helper()
	return startWith(t, proccluster.Config{Members: members, ExtraArgs: args})
}

// startWith starts cfg with a keeld built with failpoints and gofail endpoints.
func startWith(t *testing.T, cfg proccluster.Config) *cluster {
	t.Helper()
	cfg.Binary = proccluster.BuildKeeldWithTags(t, "failpoints")
	cfg.GofailHTTP = true
	return &cluster{t: t, Cluster: proccluster.Start(t, cfg)}
}

// ctx returns a context that ends after hangGuard or with the test.
func (c *cluster) ctx() context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), hangGuard)
	c.t.Cleanup(cancel)
	return ctx
}

// arm sets term on failpoint name of member i.
func (c *cluster) arm(i int, name failpoint.Name, term string) {
	c.t.Helper()
	if err := c.ArmFailpoint(c.ctx(), i, name, term); err != nil {
		c.t.Fatal(err)
	}
}

// disarm clears failpoint name on member i.
func (c *cluster) disarm(i int, name failpoint.Name) {
	c.t.Helper()
	if err := c.DisarmFailpoint(c.ctx(), i, name); err != nil {
		c.t.Fatal(err)
	}
}

// roles returns the leader and the other members.
func (c *cluster) roles() (leader int, others []int) {
	c.t.Helper()
	leader, err := c.WaitLeader(c.ctx())
	if err != nil {
		c.t.Fatal(err)
	}
	for i := range c.Size() {
		if i != leader {
			others = append(others, i)
		}
	}
	return leader, others
}

// crash arms panic term on failpoint name of member i, calls kick (if not nil) until the
// member exits, checks that its log names the failpoint, restarts it and waits for the whole
// cluster to be healthy. Traffic that reaches the failpoint must be running or come from kick.
func (c *cluster) crash(i int, name failpoint.Name, term string, kick func(ctx context.Context)) {
	c.t.Helper()
	c.arm(i, name, term)
	ctx := c.ctx()
	for kick != nil && c.Running(i) && ctx.Err() == nil {
		sctx, cancel := context.WithTimeout(ctx, stepTimeout)
		kick(sctx)
		cancel()
	}
	if _, err := c.WaitExit(ctx, i); err != nil {
		c.t.Fatalf("m%d did not exit with %s=%s armed: %v", i, name, term, err)
	}
	c.wantLog(i, "failpoint "+string(name)+":")
	c.Restart(i)
	if err := c.WaitHealthy(c.ctx()); err != nil {
		c.t.Fatalf("after restarting m%d: %v", i, err)
	}
}

// wantLog fails the test unless member i's log has want since its last start.
func (c *cluster) wantLog(i int, want string) {
	c.t.Helper()
	if !c.logHas(i, want) {
		c.t.Fatalf("m%d log has no %q since its last start", i, want)
	}
}

// waitLog polls until member i's log has want since its last start.
func (c *cluster) waitLog(i int, want string) {
	c.t.Helper()
	ctx := c.ctx()
	for !c.logHas(i, want) {
		select {
		case <-ctx.Done():
			c.t.Fatalf("m%d log has no %q since its last start", i, want)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// logHas reports whether member i's log has want since its last start (proccluster writes
// ": exec " at every start).
func (c *cluster) logHas(i int, want string) bool {
	b, _ := os.ReadFile(c.LogPath(i))
	log := string(b)
	if j := strings.LastIndex(log, ": exec "); j >= 0 {
		log = log[j:]
	}
	return strings.Contains(log, want)
}

// converge polls until every member reports the same revision and HashKV and returns them.
func (c *cluster) converge() (int64, uint32) {
	c.t.Helper()
	ctx := c.ctx()
	cli := c.Client(c.t)
	var last string
	for {
		revs, hashes := make([]int64, c.Size()), make([]uint32, c.Size())
		var err error
		for i := range c.Size() {
			var h *clientv3.HashKVResponse
			if h, err = cli.HashKV(ctx, c.Endpoint(i), 0); err != nil {
				break
			}
			revs[i], hashes[i] = h.Header.Revision, h.Hash
		}
		same := err == nil
		for i := 1; same && i < c.Size(); i++ {
			same = revs[i] == revs[0] && hashes[i] == hashes[0]
		}
		if same {
			return revs[0], hashes[0]
		}
		last = fmt.Sprintf("revisions %v, hashes %v, error %v", revs, hashes, err)
		select {
		case <-ctx.Done():
			c.t.Fatalf("members did not converge: %s", last)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// load is a recorded kvhist workload under one key prefix.
type load struct {
	c      *cluster
	prefix string
	rec    *kvhist.Recorder
	w      *kvhist.Workload
}

// startLoad starts clients recorded clients, each over the endpoints of members (every
// member if none), putting, reading and compare-and-setting keys under prefix.
func (c *cluster) startLoad(prefix string, clients int, members ...int) *load {
	c.t.Helper()
	clis := make([]*clientv3.Client, clients)
	for i := range clis {
		clis[i] = c.Client(c.t, members...)
	}
	l := &load{c: c, prefix: prefix, rec: kvhist.NewRecorder()}
	l.w = kvhist.StartWorkload(l.rec, clis, kvhist.WorkloadConfig{Prefix: prefix, Seed: loadSeed})
	c.t.Cleanup(l.w.Stop)
	return l
}

// progress waits until n more writes have been acknowledged.
func (l *load) progress(n int) {
	l.c.t.Helper()
	want := l.rec.AckedWrites() + n
	ctx := l.c.ctx()
	for l.rec.AckedWrites() < want {
		select {
		case <-ctx.Done():
			l.c.t.Fatalf("only %d of %d writes acknowledged", l.rec.AckedWrites(), want)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// finish stops the load and checks it: porcupine accepts the history, every acknowledged
// write is in the MVCC history at its revision and nothing else is, no client saw its header
// revision go down, and the members converge. The history is read from revision 1, so the
// load's keys must not have been compacted. It returns that history, which ends with a
// marker put under the prefix.
func (l *load) finish() []watchcheck.Event {
	t := l.c.t
	t.Helper()
	l.w.Stop()
	if err := l.c.WaitHealthy(l.c.ctx()); err != nil {
		t.Fatal(err)
	}
	cli := l.c.Client(t)
	ctx := l.c.ctx()
	resp, err := cli.Put(ctx, l.prefix+"final", "final")
	if err != nil {
		t.Fatal(err)
	}
	// Convergence first: on a member that diverged, the history read could wait for a
	// revision it never reaches.
	rev, hash := l.c.converge()
	hist, err := watchcheck.ReadHistory(ctx, cli, l.prefix, 1, resp.Header.Revision)
	if err != nil {
		t.Fatal(err)
	}
	h := l.rec.Snapshot()
	lost, extra := kvhist.CheckWrites(hist, h.Writes, map[string]bool{"final": true})
	for _, s := range append(lost, extra...) {
		t.Errorf("history: %s", s)
	}
	for _, v := range h.Violations {
		t.Errorf("client: %s", v)
	}
	res, vis := kvhist.CheckLinearizable(h.Ops, checkTimeout, os.TempDir())
	if res != porcupine.Ok {
		t.Errorf("porcupine: %v (visualization: %s)", res, vis)
	}
	t.Logf("%d operations (%d writes, %d unknown), linearizable; converged at revision %d, hashkv %08x",
		len(h.Ops), len(h.Writes), h.Unknown, rev, hash)
	return hist
}

// get reads key linearizably through cli, bounded by stepTimeout.
func get(ctx context.Context, cli *clientv3.Client, key string, opts ...clientv3.OpOption) (*clientv3.GetResponse, error) {
	ctx, cancel := context.WithTimeout(ctx, stepTimeout)
	defer cancel()
	return cli.Get(ctx, key, opts...)
}
