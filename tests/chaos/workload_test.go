package chaos_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
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
)

func keyName(i int) string { return fmt.Sprintf("%sk%d", prefix, i) }

// workload runs numClients recorded clients until stopped.
type workload struct {
	rec    *recorder
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// startWorkload starts one goroutine per client; stop ends them. Client i uses clis[i] and a
// random source derived from seed.
func startWorkload(rec *recorder, clis []*clientv3.Client, seed uint64) *workload {
	ctx, cancel := context.WithCancel(context.Background())
	w := &workload{rec: rec, cancel: cancel}
	for i, cli := range clis {
		w.wg.Add(1)
		go func() {
			defer w.wg.Done()
			runClient(ctx, rec, i, cli, rand.New(rand.NewPCG(seed, uint64(i))))
		}()
	}
	return w
}

// stop ends the load and waits for every client's last operation.
func (w *workload) stop() {
	w.cancel()
	w.wg.Wait()
}

// runClient issues puts (40 %), linearizable gets (40 %) and compare-and-set txns (20 %) on
// random keys until ctx is done. A CAS compares against the last value this client saw for
// the key; without one it puts instead.
func runClient(ctx context.Context, rec *recorder, id int, cli *clientv3.Client, rng *rand.Rand) {
	seen := map[string]string{}
	var lastRev int64
	for seq := 0; ctx.Err() == nil; seq++ {
		key := keyName(rng.IntN(numKeys))
		val := fmt.Sprintf("c%d-%d", id, seq)
		in := kvInput{kind: opPut, key: key, value: val}
		switch p := rng.IntN(10); {
		case p < 4:
			in = kvInput{kind: opGet, key: key}
		case p < 6 && seen[key] != "":
			in = kvInput{kind: opCAS, key: key, value: val, expect: seen[key]}
		}
		out, rev, err := doOp(cli, id, in, rec)
		if err != nil {
			// Pace retries: an error that comes back at once (no leader yet) must not flood
			// the history with unknown-outcome writes, which slow the checker down.
			select {
			case <-ctx.Done():
			case <-time.After(20 * time.Millisecond):
			}
			continue
		}
		if rev < lastRev {
			rec.violation("client %d: header revision went from %d to %d", id, lastRev, rev)
		}
		lastRev = rev
		switch {
		case in.kind == opGet:
			seen[key] = out.value
		case in.kind == opPut || out.ok:
			seen[key] = val
		}
	}
}

// doOp performs in with its own timeout (not the load's context: stopping the load must not
// turn in-flight writes into unknown ones) and records it. It returns the output and the
// response header revision.
func doOp(cli *clientv3.Client, id int, in kvInput, rec *recorder) (kvOutput, int64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	var (
		out kvOutput
		rev int64
		err error
	)
	call := rec.now()
	switch in.kind {
	case opPut:
		var resp *clientv3.PutResponse
		if resp, err = cli.Put(ctx, in.key, in.value); err == nil {
			rev = resp.Header.Revision
		}
	case opGet:
		var resp *clientv3.GetResponse
		if resp, err = cli.Get(ctx, in.key); err == nil {
			rev = resp.Header.Revision
			if len(resp.Kvs) > 0 {
				out.value = string(resp.Kvs[0].Value)
			}
		}
	case opCAS:
		var resp *clientv3.TxnResponse
		resp, err = cli.Txn(ctx).
			If(clientv3.Compare(clientv3.Value(in.key), "=", in.expect)).
			Then(clientv3.OpPut(in.key, in.value)).
			Commit()
		if err == nil {
			rev, out.ok = resp.Header.Revision, resp.Succeeded
		}
	}
	ret := rec.now()
	rec.record(id, in, call, out, ret, rev, err)
	return out, rev, err
}
