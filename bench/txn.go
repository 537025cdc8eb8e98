package bench

import (
	"context"
	"strings"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// txnCASWorkload does read-modify-write on a few hot keys: a linearizable get, then a txn
// that puts only if the key's mod revision is unchanged. A failed compare counts as a
// conflict (counter "conflicts"; successes count in "cas_ok").
type txnCASWorkload struct {
	p   Params
	val string
}

func newTxnCAS(p Params) Workload {
	p = p.withDefaults("kb-cas/")
	return &txnCASWorkload{p: p, val: strings.Repeat("v", p.ValSize)}
}

func (w *txnCASWorkload) Setup(ctx context.Context, s *Session) error {
	return loadKeys(ctx, s, w.p.HotKeys, func(i int) string { return key(w.p.Prefix, i, w.p.KeySize) }, w.val)
}

func (w *txnCASWorkload) Do(ctx context.Context, wk *Worker) {
	k := key(w.p.Prefix, wk.Rand.IntN(w.p.HotKeys), w.p.KeySize)
	var rev int64
	err := wk.Time(ctx, "get", func(ctx context.Context) error {
		resp, err := wk.Client.Get(ctx, k)
		if err == nil && len(resp.Kvs) > 0 {
			rev = resp.Kvs[0].ModRevision
		}
		return err
	})
	if err != nil {
		return
	}
	var ok bool
	err = wk.Time(ctx, "txn", func(ctx context.Context) error {
		resp, err := wk.Client.Txn(ctx).If(clientv3.Compare(clientv3.ModRevision(k), "=", rev)).
			Then(clientv3.OpPut(k, w.val)).Else(clientv3.OpGet(k, clientv3.WithKeysOnly())).Commit()
		ok = err == nil && resp.Succeeded
		return err
	})
	switch {
	case err != nil:
	case ok:
		wk.Count("cas_ok", 1)
	default:
		wk.Count("conflicts", 1)
	}
}

// txnMixedWorkload sends txns of TxnOps operations over distinct consecutive keys, each a
// get with probability ReadRatio and a put otherwise.
type txnMixedWorkload struct {
	p   Params
	val string
}

func newTxnMixed(p Params) Workload {
	p = p.withDefaults("kb-txn/")
	p.TxnOps = min(p.TxnOps, p.KeySpace)
	return &txnMixedWorkload{p: p, val: strings.Repeat("v", p.ValSize)}
}

func (w *txnMixedWorkload) Setup(ctx context.Context, s *Session) error {
	return loadKeys(ctx, s, w.p.KeySpace, func(i int) string { return key(w.p.Prefix, i, w.p.KeySize) }, w.val)
}

func (w *txnMixedWorkload) Do(ctx context.Context, wk *Worker) {
	start := wk.Rand.IntN(w.p.KeySpace)
	ops := make([]clientv3.Op, w.p.TxnOps)
	for i := range ops {
		k := key(w.p.Prefix, (start+i)%w.p.KeySpace, w.p.KeySize)
		if wk.Rand.Float64() < w.p.ReadRatio {
			ops[i] = clientv3.OpGet(k, w.p.readOpts()...)
		} else {
			ops[i] = clientv3.OpPut(k, w.val)
		}
	}
	_ = wk.Time(ctx, "txn", func(ctx context.Context) error {
		_, err := wk.Client.Txn(ctx).Then(ops...).Commit()
		return err
	})
}
