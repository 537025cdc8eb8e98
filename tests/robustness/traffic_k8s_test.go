package robustness_test

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/keeldb/keel/internal/watchcheck"
)

// k8sProfile is Kubernetes-shaped traffic, as kube-apiserver drives etcd: objects created
// with a txn if absent, updated and deleted with a txn on their mod_revision (optimistic
// concurrency, the resourceVersion), lists at the current and at past revisions, a
// compaction every compactEvery, and list-watch (the member watchers re-list after a
// compacted cancel).
var k8sProfile = Profile{Name: "k8s", Compacts: true, New: func(seed uint64) Traffic { return &k8sTraffic{seed: seed} }}

const (
	k8sWriters   = 3
	k8sObjects   = 8
	compactEvery = 300 * time.Millisecond
	// listPause paces the lister, which would otherwise crowd out the writers.
	listPause = 50 * time.Millisecond
)

// k8sPrefix holds the objects.
const k8sPrefix = prefix + "k8s/"

type k8sOp int

const (
	k8sCreate k8sOp = iota
	k8sUpdate
	k8sDelete
)

// k8sWrite is one attempted conditional write.
type k8sWrite struct {
	op         k8sOp
	key, value string
	// expect is the mod_revision the txn compared (0 for a create).
	expect int64
	// acked is whether the client got a response; succeeded whether the compare held, and
	// rev the response's revision.
	acked, succeeded bool
	rev              int64
}

// k8sList is one list the lister got: the objects at revision rev.
type k8sList struct {
	rev int64
	kvs map[string]string
}

type k8sTraffic struct {
	seed   uint64
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu sync.Mutex
	// guarded by mu
	writes      []k8sWrite
	lists       []k8sList
	ok          int
	compactions int
}

func (k *k8sTraffic) Start(env *Env) {
	ctx, cancel := context.WithCancel(context.Background())
	k.cancel = cancel
	for i := range k8sWriters {
		cli := env.C.Client(env.T)
		rng := rand.New(rand.NewPCG(k.seed, uint64(i)))
		k.wg.Add(1)
		go func() {
			defer k.wg.Done()
			k.writer(ctx, i, cli, rng)
		}()
	}
	lister := env.C.Client(env.T)
	compactor := env.C.Client(env.T)
	rng := rand.New(rand.NewPCG(k.seed, 0x115))
	k.wg.Add(2)
	go func() {
		defer k.wg.Done()
		k.lister(ctx, lister, rng)
	}()
	go func() {
		defer k.wg.Done()
		k.compactor(ctx, compactor, env)
	}()
}

func (k *k8sTraffic) Stop() {
	if k.cancel != nil {
		k.cancel()
		k.wg.Wait()
	}
}

func (k *k8sTraffic) Progress() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.ok
}

// writer creates, updates and deletes objects with optimistic concurrency, from what it
// last saw of each; after an error it re-lists first, as a controller re-syncs.
func (k *k8sTraffic) writer(ctx context.Context, id int, cli *clientv3.Client, rng *rand.Rand) {
	seen := map[string]int64{} // key -> mod_revision, for objects that exist
	resync := true
	for seq := 0; ctx.Err() == nil; seq++ {
		if resync {
			kvs, err := k.list(cli, 0)
			if err != nil {
				pause(ctx, retryPause)
				continue
			}
			clear(seen)
			for key, mod := range kvs {
				seen[key] = mod
			}
			resync = false
		}
		w := k8sWrite{op: k8sCreate, key: fmt.Sprintf("%sobj-%d", k8sPrefix, rng.IntN(k8sObjects)),
			value: fmt.Sprintf("w%d-%d", id, seq)}
		if mod, ok := seen[w.key]; ok {
			w.op, w.expect = k8sUpdate, mod
			if rng.IntN(10) == 0 {
				w.op, w.value = k8sDelete, ""
			}
		}
		then := clientv3.OpPut(w.key, w.value)
		if w.op == k8sDelete {
			then = clientv3.OpDelete(w.key)
		}
		opCtx, cancel := context.WithTimeout(context.Background(), opTimeout)
		resp, err := cli.Txn(opCtx).If(clientv3.Compare(clientv3.ModRevision(w.key), "=", w.expect)).
			Then(then).Else(clientv3.OpGet(w.key)).Commit()
		cancel()
		if err == nil {
			w.acked, w.succeeded, w.rev = true, resp.Succeeded, resp.Header.Revision
		}
		k.mu.Lock()
		k.writes = append(k.writes, w)
		if err == nil {
			k.ok++
		}
		k.mu.Unlock()
		switch {
		case err != nil:
			resync = true
			pause(ctx, retryPause)
		case w.succeeded && w.op == k8sDelete:
			delete(seen, w.key)
		case w.succeeded:
			seen[w.key] = w.rev
		default:
			delete(seen, w.key)
			if kvs := resp.Responses[0].GetResponseRange().GetKvs(); len(kvs) > 0 {
				seen[w.key] = kvs[0].ModRevision
			}
		}
	}
}

// list lists the objects at rev (0: the current revision), records the list and returns
// the objects' mod_revisions.
func (k *k8sTraffic) list(cli *clientv3.Client, rev int64) (map[string]int64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	resp, err := cli.Get(ctx, k8sPrefix, clientv3.WithPrefix(), clientv3.WithRev(rev))
	if err != nil {
		return nil, err
	}
	l := k8sList{rev: rev, kvs: map[string]string{}}
	if rev == 0 {
		l.rev = resp.Header.Revision
	}
	mods := map[string]int64{}
	for _, kv := range resp.Kvs {
		l.kvs[string(kv.Key)] = string(kv.Value)
		mods[string(kv.Key)] = kv.ModRevision
	}
	k.mu.Lock()
	k.lists = append(k.lists, l)
	k.ok++
	k.mu.Unlock()
	return mods, nil
}

// lister lists the objects now and at a recent past revision (which may be compacted), in
// a loop.
func (k *k8sTraffic) lister(ctx context.Context, cli *clientv3.Client, rng *rand.Rand) {
	var last int64
	for ctx.Err() == nil {
		if last > 1 {
			// A compacted revision is an error, as it is for kube-apiserver; nothing to check.
			_, _ = k.list(cli, max(1, last-int64(rng.IntN(20))))
		}
		ctx2, cancel := context.WithTimeout(context.Background(), opTimeout)
		resp, err := cli.Get(ctx2, k8sPrefix, clientv3.WithPrefix(), clientv3.WithCountOnly())
		cancel()
		if err == nil {
			last = resp.Header.Revision
		}
		pause(ctx, listPause)
	}
}

// compactor compacts every compactEvery at the highest revision the reference watcher has
// delivered, as kube-apiserver compacts every few minutes, only faster.
func (k *k8sTraffic) compactor(ctx context.Context, cli *clientv3.Client, env *Env) {
	var last int64
	t := time.NewTicker(compactEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		rev := env.CompactBound()
		if rev <= last {
			continue
		}
		env.Compacting(rev)
		cctx, cancel := context.WithTimeout(context.Background(), opTimeout)
		_, err := cli.Compact(cctx, rev)
		cancel()
		if err == nil {
			last = rev
			k.mu.Lock()
			k.compactions++
			k.mu.Unlock()
		}
	}
}

// pause waits d or until ctx ends; it paces clients, it waits for no state.
func pause(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// Check: every acknowledged successful write is in the history at its revision; every
// write in the history held its precondition (a create on an absent object, an update or
// delete on the mod_revision it compared), acknowledged or not; every value in the history
// was written once; every list equals the history replayed to its revision.
func (k *k8sTraffic) Check(ctx context.Context, env *Env, res *result) []violation {
	k.mu.Lock()
	defer k.mu.Unlock()
	var out []violation
	add := func(format string, args ...any) {
		if len(out) < 20 {
			out = append(out, violation{"k8s", fmt.Sprintf(format, args...)})
		}
	}
	hist := underPrefix(res.hist, k8sPrefix)
	type revKey struct {
		rev int64
		key string
	}
	at := map[revKey]watchcheck.Event{}
	prevMod := map[revKey]int64{} // mod_revision of the key before the event; 0 if absent
	cur := map[string]int64{}
	byValue := map[string]int{}
	for _, e := range hist {
		rk := revKey{e.Rev, e.Key}
		at[rk], prevMod[rk] = e, cur[e.Key]
		if e.Delete {
			delete(cur, e.Key)
		} else {
			cur[e.Key] = e.Rev
			byValue[e.Value]++
		}
	}
	written := map[string]k8sWrite{}
	for _, w := range k.writes {
		if w.op != k8sDelete {
			written[w.value] = w
		}
		if !w.acked || !w.succeeded {
			continue
		}
		rk := revKey{w.rev, w.key}
		e, ok := at[rk]
		if !ok || e.Delete != (w.op == k8sDelete) || e.Value != w.value {
			add("acknowledged %v of %s=%q at revision %d is not in the history (found %+v)", w.op, w.key, w.value, w.rev, e)
			continue
		}
		if prevMod[rk] != w.expect {
			add("%v of %s at revision %d compared mod_revision %d, but the object was at %d", w.op, w.key, w.rev, w.expect, prevMod[rk])
		}
	}
	for _, e := range hist {
		if e.Delete {
			continue
		}
		w, ok := written[e.Value]
		switch {
		case !ok:
			add("revision %d: %s=%q was never written", e.Rev, e.Key, e.Value)
		case byValue[e.Value] > 1:
			add("revision %d: %s=%q applied %d times", e.Rev, e.Key, e.Value, byValue[e.Value])
		case prevMod[revKey{e.Rev, e.Key}] != w.expect:
			add("revision %d: %v of %s compared mod_revision %d, but the object was at %d (unacknowledged: %v)",
				e.Rev, w.op, e.Key, w.expect, prevMod[revKey{e.Rev, e.Key}], !w.acked)
		}
	}
	for _, l := range k.lists {
		if want := replayTo(hist, l.rev); !maps.Equal(want, l.kvs) {
			add("list at revision %d differs from the history: %s", l.rev, mapDiff(want, l.kvs))
		}
	}
	env.Note("k8s traffic: %d writes, %d lists, %d compactions", len(k.writes), len(k.lists), k.compactions)
	return out
}

func (o k8sOp) String() string { return [...]string{"create", "update", "delete"}[o] }
