package bench

import (
	"context"
	"strings"
	"sync/atomic"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// loadWorkload fills the store fast: each unit is one txn of TxnOps puts of new keys, in
// order (keys 0 … total×TxnOps−1 of the prefix). It is how the memory and restart figures
// load a million keys.
type loadWorkload struct {
	p   Params
	val string
	seq atomic.Int64
}

func newLoad(p Params) Workload {
	if p.TxnOps <= 0 {
		p.TxnOps = 100
	}
	p = p.withDefaults("kb-load/")
	return &loadWorkload{p: p, val: strings.Repeat("v", p.ValSize)}
}

func (w *loadWorkload) Setup(context.Context, *Session) error { return nil }

func (w *loadWorkload) Do(ctx context.Context, wk *Worker) {
	first := int(w.seq.Add(int64(w.p.TxnOps))) - w.p.TxnOps
	ops := make([]clientv3.Op, w.p.TxnOps)
	for i := range ops {
		ops[i] = clientv3.OpPut(key(w.p.Prefix, first+i, w.p.KeySize), w.val)
	}
	_ = wk.Time(ctx, "txn-put", func(ctx context.Context) error {
		_, err := wk.Client.Txn(ctx).Then(ops...).Commit()
		return err
	})
}
