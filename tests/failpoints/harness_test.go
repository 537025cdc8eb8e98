// Package failpoints_test crashes and stalls real keeld members at gofail failpoints
// (internal/failpoint, docs/RELIABILITY.md "Failpoints") and checks that no acknowledged write
// is lost and that the members converge.
//
// Each test starts a 3-member cluster of keeld built with -tags failpoints, every member
// serving gofail's HTTP endpoint (GOFAIL_HTTP) on its own port, and runs a table of cases on it
// one after the other. A panic case arms `panic` on one member over HTTP, drives the traffic that
// reaches the failpoint until that member's process exits, checks its log names the failpoint,
// restarts it, and checks convergence: every member at the same revision with the same
// HashKV, and every write acknowledged so far (on this cluster) readable on every member. A
// sleep case arms `sleep(…)` and checks the cluster keeps acknowledging writes while the
// failpoint fires, then disarms it.
package failpoints_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/keeldb/keel/internal/failpoint"
	"github.com/keeldb/keel/internal/proccluster"
)

func TestMain(m *testing.M) {
	code := m.Run()
	proccluster.RemoveBuilds()
	os.Exit(code)
}

// hangGuard bounds each wait of a case; it is a hang guard, not a timing check.
const hangGuard = 60 * time.Second

// stepTimeout bounds one step of traffic, so a step aimed at a member that just died ends.
const stepTimeout = 5 * time.Second

// fpCluster is a 3-member keeld cluster built with failpoints, with the writes acknowledged
// on it so far.
type fpCluster struct {
	t *testing.T
	c *proccluster.Cluster
	// startEnv holds, per member, a GOFAIL_FAILPOINTS value for its next start only (read
	// by Config.MemberEnv on the test goroutine, in Restart).
	startEnv map[int]string
	// acked maps every key a put acknowledged to its value; keys are never rewritten.
	acked map[string]string
	seq   int
}

// startCluster starts the cluster with extra keeld flags.
func startCluster(t *testing.T, args ...string) *fpCluster {
	t.Helper()
	f := &fpCluster{t: t, startEnv: map[int]string{}, acked: map[string]string{}}
	f.c = proccluster.Start(t, proccluster.Config{
		Binary:     proccluster.BuildKeeldWithTags(t, "failpoints"),
		Members:    3,
		ExtraArgs:  args,
		GofailHTTP: true,
		MemberEnv: func(i int) []string {
			if fps, ok := f.startEnv[i]; ok {
				return []string{"GOFAIL_FAILPOINTS=" + fps}
			}
			return nil
		},
	})
	for i := range 3 {
		if b, err := os.ReadFile(f.c.LogPath(i)); err != nil || !strings.Contains(string(b), "BUILT WITH FAILPOINTS") {
			t.Fatalf("m%d log has no failpoints warning at start (read error %v)", i, err)
		}
	}
	return f
}

func (f *fpCluster) ctx() context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), hangGuard)
	f.t.Cleanup(cancel)
	return ctx
}

// arm sets term on failpoint name of member i and fails the test unless gofail accepted it,
// so a renamed or removed failpoint breaks the test that arms it.
func (f *fpCluster) arm(i int, name failpoint.Name, term string) {
	f.t.Helper()
	if err := f.c.ArmFailpoint(f.ctx(), i, name, term); err != nil {
		f.t.Fatal(err)
	}
}

// disarm clears failpoint name on member i.
func (f *fpCluster) disarm(i int, name failpoint.Name) {
	f.t.Helper()
	if err := f.c.DisarmFailpoint(f.ctx(), i, name); err != nil {
		f.t.Fatal(err)
	}
}

// count returns how many times failpoint name has fired on member i since it was armed.
func (f *fpCluster) count(i int, name failpoint.Name) int {
	f.t.Helper()
	n, err := f.c.FailpointCount(f.ctx(), i, name)
	if err != nil {
		f.t.Fatal(err)
	}
	return n
}

// roles returns the leader and the two followers.
func (f *fpCluster) roles() (leader int, followers []int) {
	f.t.Helper()
	leader, err := f.c.WaitLeader(f.ctx())
	if err != nil {
		f.t.Fatal(err)
	}
	for i := range 3 {
		if i != leader {
			followers = append(followers, i)
		}
	}
	return leader, followers
}

// put writes a fresh key through cli and records it if acknowledged. Errors are unknown
// outcomes: the key is neither recorded nor expected.
func (f *fpCluster) put(ctx context.Context, cli *clientv3.Client) error {
	f.seq++
	k, v := fmt.Sprintf("ack/%06d", f.seq), fmt.Sprintf("v%d", f.seq)
	ctx, cancel := context.WithTimeout(ctx, stepTimeout)
	defer cancel()
	if _, err := cli.Put(ctx, k, v); err != nil {
		return err
	}
	f.acked[k] = v
	return nil
}

// mustPut writes n keys through cli, failing the test on any error.
func (f *fpCluster) mustPut(cli *clientv3.Client, n int) {
	f.t.Helper()
	ctx := f.ctx()
	for range n {
		if err := f.put(ctx, cli); err != nil {
			f.t.Fatalf("put: %v", err)
		}
	}
}

// driveUntilExit runs step repeatedly until member i's process exits, then checks that its
// log holds the panic of failpoint name. step's errors are expected (the member is dying).
func (f *fpCluster) driveUntilExit(i int, name failpoint.Name, step func(ctx context.Context)) {
	f.t.Helper()
	ctx := f.ctx()
	for f.c.Running(i) {
		if ctx.Err() != nil {
			f.t.Fatalf("m%d still running with %s=panic armed after %v of traffic", i, name, hangGuard)
		}
		// Each step gets its own bound: the member may already be dead but not yet reaped,
		// and a call to its endpoint (Defragment) would wait for it until the deadline.
		sctx, cancel := context.WithTimeout(ctx, stepTimeout)
		step(sctx)
		cancel()
	}
	exitErr, err := f.c.WaitExit(f.ctx(), i)
	if err != nil {
		f.t.Fatal(err)
	}
	b, _ := os.ReadFile(f.c.LogPath(i))
	if want := "failpoint " + string(name) + ":"; !strings.Contains(sinceLastStart(string(b)), want) {
		f.t.Fatalf("m%d exited (%v) but its log has no %q since its last start", i, exitErr, want)
	}
}

// wantLog fails the test unless member i's log has want since its last start.
func (f *fpCluster) wantLog(i int, want string) {
	f.t.Helper()
	b, _ := os.ReadFile(f.c.LogPath(i))
	if !strings.Contains(sinceLastStart(string(b)), want) {
		f.t.Fatalf("m%d log has no %q since its last start", i, want)
	}
}

// sinceLastStart returns the part of a member log written since its last start (proccluster
// writes "==== proccluster: <time>: exec ..." at every start).
func sinceLastStart(log string) string {
	if j := strings.LastIndex(log, ": exec "); j >= 0 {
		return log[j:]
	}
	return log
}

// restart starts member i again and waits for the whole cluster to be healthy.
func (f *fpCluster) restart(i int) {
	f.t.Helper()
	f.c.Restart(i)
	if err := f.c.WaitHealthy(f.ctx()); err != nil {
		f.t.Fatalf("after restarting m%d: %v", i, err)
	}
}

// converge polls until every member reports the same revision and HashKV, then checks that
// every acknowledged write is on every member (serializable reads, so each member answers from
// its own state).
func (f *fpCluster) converge() {
	f.t.Helper()
	ctx := f.ctx()
	cli := f.c.Client(f.t)
	var last string
	for {
		revs, hashes := make([]int64, 3), make([]uint32, 3)
		var err error
		for i := range 3 {
			var h *clientv3.HashKVResponse
			if h, err = cli.HashKV(ctx, f.c.Endpoint(i), 0); err != nil {
				break
			}
			revs[i], hashes[i] = h.Header.Revision, h.Hash
		}
		if err == nil {
			last = fmt.Sprintf("revisions %v, hashes %v", revs, hashes)
			if revs[0] == revs[1] && revs[1] == revs[2] && hashes[0] == hashes[1] && hashes[1] == hashes[2] {
				break
			}
		} else {
			last = err.Error()
		}
		select {
		case <-ctx.Done():
			f.t.Fatalf("members did not converge: %s", last)
		case <-time.After(100 * time.Millisecond):
		}
	}
	for i := range 3 {
		mcli := f.c.Client(f.t, i)
		resp, err := mcli.Get(ctx, "ack/", clientv3.WithPrefix(), clientv3.WithSerializable())
		if err != nil {
			f.t.Fatalf("m%d: reading acknowledged writes: %v", i, err)
		}
		got := make(map[string]string, len(resp.Kvs))
		for _, kv := range resp.Kvs {
			got[string(kv.Key)] = string(kv.Value)
		}
		var missing []string
		for k, v := range f.acked {
			if got[k] != v {
				missing = append(missing, k)
			}
		}
		if len(missing) > 0 {
			slices.Sort(missing)
			f.t.Fatalf("m%d lost %d of %d acknowledged writes, first %v (read at revision %d after converging at %s)",
				i, len(missing), len(f.acked), missing[:min(5, len(missing))], resp.Header.Revision, last)
		}
	}
}
