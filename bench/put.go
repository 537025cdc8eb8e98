package bench

import (
	"context"
	"strings"
	"sync/atomic"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// putWorkload writes values of ValSize to keys of the key space, at random or in order.
type putWorkload struct {
	p   Params
	val string
	seq atomic.Int64
}

func newPut(p Params) Workload {
	p = p.withDefaults("")
	return &putWorkload{p: p, val: strings.Repeat("v", p.ValSize)}
}

func (w *putWorkload) Setup(context.Context, *Session) error { return nil }

func (w *putWorkload) Do(ctx context.Context, wk *Worker) {
	n := wk.Rand.IntN(w.p.KeySpace)
	if w.p.Sequential {
		n = int((w.seq.Add(1) - 1) % int64(w.p.KeySpace))
	}
	k := key(w.p.Prefix, n, w.p.KeySize)
	_ = wk.Time(ctx, "put", func(ctx context.Context) error {
		_, err := wk.Client.Put(ctx, k, w.val)
		return err
	})
}

// rangeWorkload reads loaded keys: one key, or a prefix range from a random key with a
// limit, optionally keys-only or count-only.
type rangeWorkload struct {
	p    Params
	opts []clientv3.OpOption
	end  string
}

func newRange(p Params) Workload {
	p = p.withDefaults("kb-range/")
	if p.Limit <= 0 {
		p.Limit = 100
	}
	w := &rangeWorkload{p: p, opts: p.readOpts(), end: clientv3.GetPrefixRangeEnd(p.Prefix)}
	if p.KeysOnly {
		w.opts = append(w.opts, clientv3.WithKeysOnly())
	}
	if p.CountOnly {
		w.opts = append(w.opts, clientv3.WithCountOnly())
	}
	if p.RangePrefix {
		w.opts = append(w.opts, clientv3.WithRange(w.end), clientv3.WithLimit(p.Limit))
	}
	return w
}

func (w *rangeWorkload) Setup(ctx context.Context, s *Session) error {
	val := strings.Repeat("v", w.p.ValSize)
	return loadKeys(ctx, s, w.p.KeySpace, func(i int) string { return key(w.p.Prefix, i, w.p.KeySize) }, val)
}

func (w *rangeWorkload) Do(ctx context.Context, wk *Worker) {
	k := key(w.p.Prefix, wk.Rand.IntN(w.p.KeySpace), w.p.KeySize)
	_ = wk.Time(ctx, "range", func(ctx context.Context) error {
		_, err := wk.Client.Get(ctx, k, w.opts...)
		return err
	})
}
