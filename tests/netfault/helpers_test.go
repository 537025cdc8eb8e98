package netfault_test

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/keeldb/keel/internal/poll"
	"github.com/keeldb/keel/internal/proccluster"
)

var seed = flag.Uint64("netfault.seed", 1, "seed of the peer proxies' jitter and drop decisions (member i's proxy gets seed+i)")

func TestMain(m *testing.M) {
	flag.Parse()
	code := m.Run()
	proccluster.RemoveBuilds()
	os.Exit(code)
}

// Hang guards: deadlines for polling and single requests, never timing checks.
const (
	scenarioTimeout = 90 * time.Second
	opTimeout       = 5 * time.Second
	// refusalTimeout bounds a request the cut-off member must refuse; clientv3 retries it
	// until then, so it ends in an error either way, and a success is the failure.
	refusalTimeout = 2 * time.Second
)

// startCluster starts 3 keeld members, each behind its own peer proxy, with extra flags.
func startCluster(t *testing.T, extraArgs ...string) *proccluster.Cluster {
	t.Helper()
	t.Logf("peer proxy seed %d (replay with -netfault.seed=%d)", *seed, *seed)
	return proccluster.Start(t, proccluster.Config{Binary: proccluster.BuildKeeld(t), Members: 3,
		PeerProxies: true, PeerProxySeed: *seed, ExtraArgs: extraArgs})
}

// waitLog polls until the log at path has want since the member's last start.
func waitLog(t *testing.T, ctx context.Context, path, want string) {
	t.Helper()
	poll.Until(t, ctx, fmt.Sprintf("%q in %s", want, path), func(context.Context) error {
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		since := string(b)
		// proccluster writes "==== proccluster: <time>: exec ..." at every start.
		if i := strings.LastIndex(since, ": exec "); i >= 0 {
			since = since[i:]
		}
		if !strings.Contains(since, want) {
			return errors.New("not yet")
		}
		return nil
	})
}

func scenarioCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), scenarioTimeout)
	t.Cleanup(cancel)
	return ctx
}

func others(c *proccluster.Cluster, i int) []int {
	var out []int
	for j := range c.Size() {
		if j != i {
			out = append(out, j)
		}
	}
	return out
}

// waitLeaderAmong polls until every member in ms reports the same leader, one of ms other
// than not (-1: any), and returns its index. Members outside ms are not asked: they may be
// cut off and still believe in an old leader.
func waitLeaderAmong(t *testing.T, ctx context.Context, c *proccluster.Cluster, ms []int, not int) int {
	t.Helper()
	leader := -1
	poll.Until(t, ctx, fmt.Sprintf("a leader among %v other than m%d", ms, not), func(ctx context.Context) error {
		var id uint64
		for _, i := range ms {
			st, err := c.Status(ctx, i)
			if err != nil {
				return err
			}
			if st.Leader == 0 || (id != 0 && st.Leader != id) {
				return fmt.Errorf("m%d reports leader %x (others %x)", i, st.Leader, id)
			}
			id = st.Leader
		}
		for _, i := range ms {
			if c.MemberID(i) == id && i != not {
				leader = i
				return nil
			}
		}
		return fmt.Errorf("leader %x is not one of %v other than m%d", id, ms, not)
	})
	return leader
}

// load writes unique keys from a few workers through cli until stopped, and remembers every
// acknowledged write; a failed write has an unknown outcome and is not remembered.
type load struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu sync.Mutex
	// guarded by mu
	acked map[string]string
	fails int
	// maxRev is the highest revision an acknowledged write was given.
	maxRev int64
}

const loadWorkers = 4

func startLoad(t *testing.T, cli *clientv3.Client) *load {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	l := &load{cancel: cancel, acked: map[string]string{}}
	for w := range loadWorkers {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for i := 0; ctx.Err() == nil; i++ {
				k, v := fmt.Sprintf("load/%d/%06d", w, i), fmt.Sprintf("v%d.%d", w, i)
				pctx, pcancel := context.WithTimeout(ctx, opTimeout)
				put, err := cli.Put(pctx, k, v)
				pcancel()
				l.mu.Lock()
				if err == nil {
					l.acked[k] = v
					l.maxRev = max(l.maxRev, put.Header.Revision)
				} else if ctx.Err() == nil {
					l.fails++
				}
				l.mu.Unlock()
			}
		}()
	}
	t.Cleanup(l.stop)
	return l
}

func (l *load) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.acked)
}

// waitAcked polls until at least n more writes than now are acknowledged.
func (l *load) waitMore(t *testing.T, ctx context.Context, n int) {
	t.Helper()
	want := l.count() + n
	poll.Until(t, ctx, fmt.Sprintf("%d acknowledged writes", want), func(context.Context) error {
		if got := l.count(); got < want {
			return fmt.Errorf("%d acknowledged", got)
		}
		return nil
	})
}

// stop ends the load and returns the acknowledged writes; it is idempotent.
func (l *load) stop() {
	l.cancel()
	l.wg.Wait()
}

func (l *load) result() (acked map[string]string, fails int) {
	l.stop()
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.acked, l.fails
}

// lastRev returns the highest revision of an acknowledged write (a put under "load/").
func (l *load) lastRev() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.maxRev
}

// checkConverged pins the final revision with a linearizable read, then checks that every
// member reaches it, holds every acknowledged write, and reports the same HashKV (I1, I6).
func checkConverged(t *testing.T, ctx context.Context, c *proccluster.Cluster, acked map[string]string) {
	t.Helper()
	cli := c.Client(t)
	var rev int64
	poll.Until(t, ctx, "a linearizable read after heal", func(ctx context.Context) error {
		rctx, cancel := context.WithTimeout(ctx, opTimeout)
		defer cancel()
		get, err := cli.Get(rctx, "load/", clientv3.WithPrefix(), clientv3.WithCountOnly())
		if err != nil {
			return err
		}
		rev = get.Header.Revision
		return nil
	})
	hashes := map[uint32][]int{}
	for i := range c.Size() {
		mc := c.Client(t, i)
		var get *clientv3.GetResponse
		poll.Until(t, ctx, fmt.Sprintf("m%d at revision %d", i, rev), func(ctx context.Context) error {
			rctx, cancel := context.WithTimeout(ctx, opTimeout)
			defer cancel()
			var err error
			get, err = mc.Get(rctx, "load/", clientv3.WithPrefix(), clientv3.WithSerializable())
			if err != nil {
				return err
			}
			if get.Header.Revision < rev {
				return fmt.Errorf("at revision %d", get.Header.Revision)
			}
			return nil
		})
		have := make(map[string]string, len(get.Kvs))
		for _, kv := range get.Kvs {
			have[string(kv.Key)] = string(kv.Value)
		}
		for k, v := range acked {
			if have[k] != v {
				t.Fatalf("m%d lost acknowledged write %s=%s (has %q)", i, k, v, have[k])
			}
		}
		var h *clientv3.HashKVResponse
		poll.Until(t, ctx, fmt.Sprintf("HashKV of m%d", i), func(ctx context.Context) error {
			rctx, cancel := context.WithTimeout(ctx, opTimeout)
			defer cancel()
			var err error
			h, err = mc.HashKV(rctx, c.Endpoint(i), rev)
			return err
		})
		hashes[h.Hash] = append(hashes[h.Hash], i)
	}
	if len(hashes) != 1 {
		t.Fatalf("HashKV at revision %d differs between members: %v", rev, hashes)
	}
}

// expectRefused checks that member i, cut off from the quorum, refuses a linearizable read and
// a write (docs/RELIABILITY.md "Refusal instead of staleness", I7), both tried at once. The
// write may still have an unknown outcome; it uses a key the load never writes.
func expectRefused(t *testing.T, c *proccluster.Cluster, i int) {
	t.Helper()
	cli := c.Client(t, i)
	ctx, cancel := context.WithTimeout(t.Context(), refusalTimeout)
	defer cancel()
	served := make(chan string, 2)
	go func() {
		get, err := cli.Get(ctx, "load/", clientv3.WithPrefix(), clientv3.WithCountOnly())
		if err == nil {
			served <- fmt.Sprintf("cut-off m%d served a linearizable read (revision %d)", i, get.Header.Revision)
			return
		}
		served <- ""
	}()
	go func() {
		if _, err := cli.Put(ctx, "refused/"+c.Name(i), "x"); err == nil {
			served <- fmt.Sprintf("cut-off m%d acknowledged a write", i)
			return
		}
		served <- ""
	}()
	for range 2 {
		if msg := <-served; msg != "" {
			t.Error(msg)
		}
	}
	if t.Failed() {
		t.FailNow()
	}
}
