package containers

import (
	"context"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// prefix holds every key the workload writes (and the final marker): the watcher watches it.
const prefix = "wl/"

// registerKeys are the keys the linearizability check covers.
var registerKeys = []string{prefix + "reg/0", prefix + "reg/1", prefix + "reg/2"}

// ackedPrefix holds the unique keys whose acknowledged puts must survive.
const ackedPrefix = prefix + "acked/"

// history is what a workload's clients observed.
type history struct {
	start time.Time

	mu      sync.Mutex
	ops     []porcupine.Operation // guarded by mu
	acked   []string              // unique keys whose put was acknowledged; guarded by mu
	okW     int                   // acknowledged register writes; guarded by mu
	unknown int                   // writes with an unknown outcome; guarded by mu
	failedR int                   // failed reads (not recorded: a read has no effect); guarded by mu
}

func (h *history) now() int64 { return int64(time.Since(h.start)) }

func (h *history) record(op porcupine.Operation) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.ops = append(h.ops, op)
	out := op.Output.(kvOutput)
	switch in := op.Input.(kvInput); {
	case out.unknown:
		h.unknown++
	case in.op != "get":
		h.okW++
	}
}

// ackedCount returns how many unique-key puts were acknowledged.
func (h *history) ackedCount() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.acked)
}

// workload runs clients against a cluster until stopped. Client i talks only to
// endpoints[i%len(endpoints)], so clients of an isolated member see the partition.
type workload struct {
	h      *history
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// seed returns KEEL_CHAOS_SEED or a fresh seed.
func seed(t *testing.T) int64 {
	s := time.Now().UnixNano()
	if v := os.Getenv("KEEL_CHAOS_SEED"); v != "" {
		var err error
		if s, err = strconv.ParseInt(v, 10, 64); err != nil {
			t.Fatalf("KEEL_CHAOS_SEED: %v", err)
		}
	}
	t.Logf("seed %d (KEEL_CHAOS_SEED=%d reproduces the workload)", s, s)
	return s
}

func startWorkload(t *testing.T, endpoints []string, clients int) *workload {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	w := &workload{h: &history{start: time.Now()}, cancel: cancel}
	base := seed(t)
	for i := range clients {
		cli := newClient(t, endpoints[i%len(endpoints)])
		w.wg.Add(1)
		go func() {
			defer w.wg.Done()
			defer cli.Close()
			runClient(ctx, cli, i, rand.New(rand.NewSource(base+int64(i))), w.h)
		}()
	}
	t.Cleanup(w.stop)
	return w
}

// stop stops the clients and waits for them; idempotent.
func (w *workload) stop() {
	w.cancel()
	w.wg.Wait()
}

// waitAcked waits until n more unique-key puts are acknowledged, failing after timeout: the
// cluster must make progress.
func (w *workload) waitAcked(t *testing.T, n int, timeout time.Duration, phase string) {
	t.Helper()
	target := w.h.ackedCount() + n
	eventually(t, timeout, phase+": acknowledged writes", func(context.Context) error {
		if got := w.h.ackedCount(); got < target {
			return fmt.Errorf("%d acknowledged, want %d", got, target)
		}
		return nil
	})
}

// runClient issues random operations until ctx ends. After a failure it only reads until a
// read succeeds again, so a cut-off client does not pile up writes of unknown outcome.
func runClient(ctx context.Context, cli *clientv3.Client, id int, rng *rand.Rand, h *history) {
	lastSeen := map[string]string{}
	healthy := true
	for seq := 0; ctx.Err() == nil; seq++ {
		key := registerKeys[rng.Intn(len(registerKeys))]
		value := fmt.Sprintf("c%d-%d", id, seq)
		r := rng.Intn(100)
		if !healthy {
			r = 0
		}
		opCtx, cancel := context.WithTimeout(ctx, 2*time.Second)
		call := h.now()
		var in kvInput
		var out kvOutput
		var err error
		switch {
		case r < 30: // linearizable get
			in = kvInput{op: "get", key: key}
			var resp *clientv3.GetResponse
			if resp, err = cli.Get(opCtx, key); err == nil && len(resp.Kvs) > 0 {
				out.value = string(resp.Kvs[0].Value)
				lastSeen[key] = out.value
			}
		case r < 60:
			in = kvInput{op: "put", key: key, value: value}
			_, err = cli.Put(opCtx, key, value)
		case r < 85: // compare-and-swap from the last value this client saw
			in = kvInput{op: "cas", key: key, expect: lastSeen[key], value: value}
			cmp := clientv3.Compare(clientv3.Value(key), "=", in.expect)
			if in.expect == "" {
				cmp = clientv3.Compare(clientv3.CreateRevision(key), "=", 0)
			}
			var resp *clientv3.TxnResponse
			if resp, err = cli.Txn(opCtx).If(cmp).Then(clientv3.OpPut(key, value)).Commit(); err == nil {
				out.ok = resp.Succeeded
			}
		default: // a unique key: must survive if acknowledged
			k := fmt.Sprintf("%sc%d-%d", ackedPrefix, id, seq)
			if _, err = cli.Put(opCtx, k, "x"); err == nil {
				h.mu.Lock()
				h.acked = append(h.acked, k)
				h.mu.Unlock()
			}
			cancel()
			healthy = err == nil
			continue
		}
		cancel()
		ret := h.now()
		healthy = err == nil
		if err != nil {
			if in.op == "get" {
				h.mu.Lock()
				h.failedR++
				h.mu.Unlock()
				continue
			}
			// A failed write may still have been (or yet be) applied.
			out, ret = kvOutput{unknown: true}, unknownReturn
		} else if in.op == "put" || (in.op == "cas" && out.ok) {
			lastSeen[key] = value
		}
		h.record(porcupine.Operation{ClientId: id, Call: call, Return: ret, Input: in, Output: out})
	}
}

// verify checks the stopped workload's history and the watcher's stream against the healed
// cluster: a final marker put fixes the final revision; a final read of every register
// joins the history, which must be linearizable; every acknowledged unique put must be on
// every member and in the prefix's history; the watcher's stream must be exactly that
// history (ordered, gap-free, duplicate-free); members must have converged at the final
// revision. It returns the scenario's one-line report.
func verify(t *testing.T, c *dcluster, w *workload, wt *watcher, scenario string) string {
	t.Helper()
	w.stop()
	h := w.h
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cli := newClient(t, c.endpoints(c.names...)...)
	defer cli.Close()

	var final int64
	eventually(t, 30*time.Second, "final marker put", func(ctx context.Context) error {
		resp, err := cli.Put(ctx, prefix+"final", "final")
		if err == nil {
			final = resp.Header.Revision
		}
		return err
	})
	rev, hash := c.converge(c.names...)
	if rev != final {
		t.Errorf("members converged at revision %d, the final marker is at %d", rev, final)
	}

	for i, k := range registerKeys {
		call := h.now()
		resp, err := cli.Get(ctx, k)
		if err != nil {
			t.Fatalf("final read of %s: %v", k, err)
		}
		out := kvOutput{}
		if len(resp.Kvs) > 0 {
			out.value = string(resp.Kvs[0].Value)
		}
		h.record(porcupine.Operation{ClientId: 1000 + i, Call: call, Return: h.now(), Input: kvInput{op: "get", key: k}, Output: out})
	}

	hist, err := readHistory(ctx, cli, final)
	if err != nil {
		t.Fatal(err)
	}
	inHist := map[string]bool{}
	for _, e := range hist {
		inHist[e.key] = true
	}
	lost := map[string]bool{}
	for _, k := range h.acked {
		if !inHist[k] {
			lost[k] = true
			t.Errorf("history of %s has no put of acknowledged %s", prefix, k)
		}
	}
	for _, n := range c.names {
		ep := c.endpoint(n)
		mc := newClient(t, ep)
		resp, err := mc.Get(ctx, ackedPrefix, clientv3.WithPrefix(), clientv3.WithSerializable(), clientv3.WithKeysOnly())
		mc.Close()
		if err != nil {
			t.Fatalf("read acknowledged keys from %s: %v", n, err)
		}
		have := map[string]bool{}
		for _, kv := range resp.Kvs {
			have[string(kv.Key)] = true
		}
		for _, k := range h.acked {
			if !have[k] {
				lost[k] = true
				t.Errorf("%s lost acknowledged write %s", n, k)
			}
		}
	}

	var wrep watchReport
	werr := wt.finish(ctx, final)
	if werr == nil {
		wrep, werr = wt.check(hist)
	}
	if werr != nil {
		t.Errorf("watch: %v", werr)
	}

	if h.okW < 50 {
		t.Errorf("only %d acknowledged register writes: too little traffic to check", h.okW)
	}
	res, info := porcupine.CheckOperationsVerbose(kvModel, h.ops, 2*time.Minute)
	if res != porcupine.Ok {
		path := filepath.Join(os.TempDir(), fmt.Sprintf("keel-%s-%d.html", scenario, time.Now().Unix()))
		if err := porcupine.VisualizePath(kvModel, info, path); err == nil {
			t.Logf("history visualization: %s", path)
		}
		t.Errorf("history of %d operations is %s, want Ok", len(h.ops), res)
	}
	if t.Failed() {
		return fmt.Sprintf("chaos %s: FAILED (linearizable: %s, acknowledged writes lost: %d, watch: %v)",
			scenario, res, len(lost), werr)
	}
	var puts, gets, cas int
	for _, op := range h.ops {
		switch op.Input.(kvInput).op {
		case "put":
			puts++
		case "get":
			gets++
		case "cas":
			cas++
		}
	}
	line := fmt.Sprintf("chaos %s: ops %d (%d puts, %d gets, %d cas, %d unique puts; %d writes acked, %d unknown, %d failed reads), "+
		"faults [%s], linearizable: ok, acknowledged writes lost: 0, watch: gap-free (%d events, %d sessions, "+
		"%d re-lists covering %d revisions), members converged (%d members at revision %d, hashkv %08x)",
		scenario, len(h.ops)+len(h.acked), puts, gets, cas, len(h.acked), h.okW+len(h.acked), h.unknown, h.failedR,
		strings.Join(c.faults, "; "), wrep.events, wrep.sessions, wrep.relists, wrep.skipped, len(c.names), rev, hash)
	t.Log("report: " + line)
	return line
}
