package bench

import (
	"context"
	"fmt"
	"strings"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// The k8s mix, as shares of units of work: mostly paged lists and gets, some updates,
// creates and deletes, a few list-then-watch. It follows what the apiserver's etcd3 storage
// sends: lists of a prefix with a limit, gets of one object, updates and deletes as a txn
// comparing mod_revision, creates as a txn comparing create_revision with 0.
var k8sMix = []struct {
	op    string
	share float64
}{
	{"list", 0.40}, {"get", 0.30}, {"update", 0.16}, {"create", 0.06}, {"delete", 0.06}, {"list_watch", 0.02},
}

// k8sWorkload stores KeySpace objects under <Prefix>pods/ns-<i>/ and runs the k8s mix on
// them. Updates whose compare fails count as "conflicts".
type k8sWorkload struct {
	p   Params
	val string
	// created[w] holds the keys worker w created and has not deleted; only worker w uses it.
	created [][]string
	seq     []int
}

func newK8s(p Params) Workload {
	p = p.withDefaults("/registry/")
	if p.Limit <= 0 {
		p.Limit = 500
	}
	return &k8sWorkload{p: p, val: strings.Repeat("v", p.ValSize)}
}

func (w *k8sWorkload) ns(n int) string {
	return fmt.Sprintf("%spods/ns-%d/", w.p.Prefix, n%w.p.Namespaces)
}

func (w *k8sWorkload) object(n int) string { return fmt.Sprintf("%spod-%08d", w.ns(n), n) }

func (w *k8sWorkload) Setup(ctx context.Context, s *Session) error {
	w.created = make([][]string, s.Config.Clients)
	w.seq = make([]int, s.Config.Clients)
	return loadKeys(ctx, s, w.p.KeySpace, w.object, w.val)
}

func (w *k8sWorkload) Do(ctx context.Context, wk *Worker) {
	x := wk.Rand.Float64()
	op := k8sMix[len(k8sMix)-1].op
	for _, m := range k8sMix {
		if x < m.share {
			op = m.op
			break
		}
		x -= m.share
	}
	n := wk.Rand.IntN(w.p.KeySpace)
	switch op {
	case "list":
		_ = wk.Time(ctx, op, func(ctx context.Context) error { _, err := w.list(ctx, wk, n); return err })
	case "get":
		_ = wk.Time(ctx, op, func(ctx context.Context) error {
			_, err := wk.Client.Get(ctx, w.object(n), w.p.readOpts()...)
			return err
		})
	case "update":
		w.update(ctx, wk, w.object(n))
	case "create":
		w.create(ctx, wk, n)
	case "delete":
		w.delete(ctx, wk, n)
	case "list_watch":
		w.listWatch(ctx, wk, n)
	}
}

func (w *k8sWorkload) list(ctx context.Context, wk *Worker, n int) (*clientv3.GetResponse, error) {
	opts := append([]clientv3.OpOption{clientv3.WithPrefix(), clientv3.WithLimit(w.p.Limit)}, w.p.readOpts()...)
	return wk.Client.Get(ctx, w.ns(n), opts...)
}

// update reads the object, then writes it back if its mod revision is unchanged.
func (w *k8sWorkload) update(ctx context.Context, wk *Worker, k string) {
	var rev int64
	if wk.Time(ctx, "get", func(ctx context.Context) error {
		resp, err := wk.Client.Get(ctx, k)
		if err == nil && len(resp.Kvs) > 0 {
			rev = resp.Kvs[0].ModRevision
		}
		return err
	}) != nil || rev == 0 {
		return
	}
	var ok bool
	if wk.Time(ctx, "update", func(ctx context.Context) error {
		resp, err := wk.Client.Txn(ctx).If(clientv3.Compare(clientv3.ModRevision(k), "=", rev)).
			Then(clientv3.OpPut(k, w.val)).Else(clientv3.OpGet(k)).Commit()
		ok = err == nil && resp.Succeeded
		return err
	}) == nil && !ok {
		wk.Count("conflicts", 1)
	}
}

func (w *k8sWorkload) create(ctx context.Context, wk *Worker, n int) {
	w.seq[wk.ID]++
	k := fmt.Sprintf("%snew-%d-%d", w.ns(n), wk.ID, w.seq[wk.ID])
	var ok bool
	if wk.Time(ctx, "create", func(ctx context.Context) error {
		resp, err := wk.Client.Txn(ctx).If(clientv3.Compare(clientv3.CreateRevision(k), "=", 0)).
			Then(clientv3.OpPut(k, w.val)).Commit()
		ok = err == nil && resp.Succeeded
		return err
	}) == nil && ok {
		w.created[wk.ID] = append(w.created[wk.ID], k)
	}
}

// delete removes an object this worker created, or creates one when it has none.
func (w *k8sWorkload) delete(ctx context.Context, wk *Worker, n int) {
	mine := w.created[wk.ID]
	if len(mine) == 0 {
		w.create(ctx, wk, n)
		return
	}
	k := mine[len(mine)-1]
	w.created[wk.ID] = mine[:len(mine)-1]
	_ = wk.Time(ctx, "delete", func(ctx context.Context) error {
		_, err := wk.Client.Txn(ctx).If(clientv3.Compare(clientv3.ModRevision(k), ">", 0)).
			Then(clientv3.OpDelete(k)).Commit()
		return err
	})
}

// listWatch lists a namespace, then opens a watch from the list's revision and waits for
// the watch to be established, like an informer starting.
func (w *k8sWorkload) listWatch(ctx context.Context, wk *Worker, n int) {
	_ = wk.Time(ctx, "list_watch", func(ctx context.Context) error {
		resp, err := w.list(ctx, wk, n)
		if err != nil {
			return err
		}
		wctx, cancel := context.WithCancel(ctx)
		defer cancel()
		ch := wk.Client.Watch(wctx, w.ns(n), clientv3.WithPrefix(), clientv3.WithRev(resp.Header.Revision+1),
			clientv3.WithCreatedNotify())
		return waitCreated(ctx, ch)
	})
}
