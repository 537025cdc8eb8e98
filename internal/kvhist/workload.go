package kvhist

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// Defaults of WorkloadConfig's zero fields.
const (
	defaultKeys      = 4
	defaultOpTimeout = 3 * time.Second
)

// retryPause paces a client after a failed operation: an error that comes back at once (no
// leader yet) must not flood the history with unknown-outcome writes, which slow the checker
// down.
const retryPause = 20 * time.Millisecond

// WorkloadConfig shapes a Workload. Zero fields take the defaults noted.
type WorkloadConfig struct {
	// Prefix is put before every key: the workload's keys are Prefix+"k0" .. Prefix+"k<Keys-1>",
	// so a watch or history read of Prefix sees every write.
	Prefix string
	// Keys is the number of keys (default 4): few, so that operations contend.
	Keys int
	// OpTimeout bounds one operation (default 3s). Make it longer than an election, so that
	// most operations survive a fault; those that do not become unknown-outcome writes or
	// dropped reads.
	OpTimeout time.Duration
	// Seed seeds every random choice; client i draws from rand.NewPCG(Seed, i). Log it, so a
	// run can be replayed.
	Seed uint64
	// DeletePercent is the share of operations that delete a key (default 0: the chaos
	// tier's history reader refuses deletes); it is taken from the puts.
	DeletePercent int
	// RetryPause paces a client after a failed operation (default 20ms). Make it longer
	// where a fault leaves no quorum for a while, so that the failed writes, each of unknown
	// outcome, stay few enough for the checker.
	RetryPause time.Duration
}

func (c WorkloadConfig) withDefaults() WorkloadConfig {
	if c.Keys <= 0 {
		c.Keys = defaultKeys
	}
	if c.OpTimeout <= 0 {
		c.OpTimeout = defaultOpTimeout
	}
	if c.RetryPause <= 0 {
		c.RetryPause = retryPause
	}
	return c
}

// Workload runs recorded clients until stopped.
type Workload struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// StartWorkload starts one goroutine per client, each with its own client connection and
// strictly sequential operations: client i uses clients[i] and records under client ID i, so
// probes that record their own operations (Do) must use IDs from len(clients) up. Each issues
// puts (40 %), linearizable gets (40 %) and compare-and-set txns (20 %) on random keys, with
// WorkloadConfig.DeletePercent of the puts turned into deletes; a CAS compares against the
// last value this client saw for the key, and without one it puts instead. Written values are "c<i>-<seq>", unique per write. Stop ends the clients.
func StartWorkload(rec *Recorder, clients []*clientv3.Client, cfg WorkloadConfig) *Workload {
	cfg = cfg.withDefaults()
	ctx, cancel := context.WithCancel(context.Background())
	w := &Workload{cancel: cancel}
	for i, cli := range clients {
		w.wg.Add(1)
		go func() {
			defer w.wg.Done()
			runClient(ctx, rec, i, cli, cfg, rand.New(rand.NewPCG(cfg.Seed, uint64(i))))
		}()
	}
	return w
}

// Stop ends the load and waits for every client's last operation, which is still recorded
// (stopping does not cut operations short). It is idempotent.
func (w *Workload) Stop() {
	w.cancel()
	w.wg.Wait()
}

// runClient issues random operations until ctx is done.
func runClient(ctx context.Context, rec *Recorder, id int, cli *clientv3.Client, cfg WorkloadConfig, rng *rand.Rand) {
	seen := map[string]string{}
	var lastRev int64
	for seq := 0; ctx.Err() == nil; seq++ {
		key := fmt.Sprintf("%sk%d", cfg.Prefix, rng.IntN(cfg.Keys))
		val := fmt.Sprintf("c%d-%d", id, seq)
		in := Input{Kind: Put, Key: key, Value: val}
		switch p := rng.IntN(100); {
		case p < 40:
			in = Input{Kind: Get, Key: key}
		case p < 60 && seen[key] != "":
			in = Input{Kind: CAS, Key: key, Value: val, Expect: seen[key]}
		case p >= 100-cfg.DeletePercent:
			in = Input{Kind: Delete, Key: key}
		}
		// Each operation has its own timeout, not ctx: stopping the load must not turn
		// in-flight writes into unknown ones.
		opCtx, cancel := context.WithTimeout(context.Background(), cfg.OpTimeout)
		out, rev, err := Do(opCtx, cli, id, in, rec)
		cancel()
		if err != nil {
			select {
			case <-ctx.Done():
			case <-time.After(cfg.RetryPause):
			}
			continue
		}
		if rev < lastRev {
			rec.Violation("client %d: header revision went from %d to %d", id, lastRev, rev)
		}
		lastRev = rev
		switch {
		case in.Kind == Get:
			seen[key] = out.Value
		case in.Kind == Delete:
			seen[key] = ""
		case in.Kind == Put || out.OK:
			seen[key] = val
		}
	}
}

// Do performs in through cli within ctx and records it in rec as client clientID's
// operation. It returns the output, the response header revision and the client's error.
// in.Value must be unique among all writes of the history, and clientID must have no other
// operation in flight. ctx bounds the operation: one that ends it becomes an
// unknown-outcome write or a dropped read, so give each operation its own deadline rather
// than a context that ends when the test stops its load. An Input of no known Kind is an
// error and is not recorded.
func Do(ctx context.Context, cli *clientv3.Client, clientID int, in Input, rec *Recorder) (Output, int64, error) {
	var (
		out Output
		rev int64
		err error
	)
	if in.Kind < Put || in.Kind > LeaseRevoke {
		return out, 0, fmt.Errorf("kvhist: unknown operation kind %d", in.Kind)
	}
	call := rec.Now()
	switch in.Kind {
	case Put:
		var resp *clientv3.PutResponse
		if resp, err = cli.Put(ctx, in.Key, in.Value); err == nil {
			rev = resp.Header.Revision
		}
	case Get:
		var resp *clientv3.GetResponse
		if resp, err = cli.Get(ctx, in.Key); err == nil {
			rev = resp.Header.Revision
			if len(resp.Kvs) > 0 {
				out.Value = string(resp.Kvs[0].Value)
			}
		}
	case CAS:
		var resp *clientv3.TxnResponse
		resp, err = cli.Txn(ctx).
			If(clientv3.Compare(clientv3.Value(in.Key), "=", in.Expect)).
			Then(clientv3.OpPut(in.Key, in.Value)).
			Commit()
		if err == nil {
			rev, out.OK = resp.Header.Revision, resp.Succeeded
		}
	case LeasePut:
		var resp *clientv3.PutResponse
		if resp, err = cli.Put(ctx, in.Key, in.Value, clientv3.WithLease(clientv3.LeaseID(in.Lease))); err == nil {
			rev = resp.Header.Revision
		}
	case LeaseRevoke:
		var resp *clientv3.LeaseRevokeResponse
		if resp, err = cli.Revoke(ctx, clientv3.LeaseID(in.Lease)); err == nil {
			rev = resp.Header.Revision
		}
	case Delete:
		var resp *clientv3.DeleteResponse
		if resp, err = cli.Delete(ctx, in.Key); err == nil {
			rev, out.OK = resp.Header.Revision, resp.Deleted > 0
		}
	}
	ret := rec.Now()
	rec.Record(clientID, in, call, out, ret, rev, err)
	return out, rev, err
}
