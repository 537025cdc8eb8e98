package robustness_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/keeldb/keel/internal/kvhist"
)

// kvProfile is etcd-style traffic: kvhist's recorded clients (puts, linearizable gets,
// compare-and-set txns and deletes on four keys) plus one lease client that grants leases,
// attaches keys to them, reads them and revokes some, all checked with porcupine.
var kvProfile = Profile{Name: "kv", New: func(seed uint64) Traffic { return &kvTraffic{seed: seed} }}

const (
	kvClients = 4
	kvKeys    = 4
	// leaseTTL outlives every scenario: a lease key disappears only by a revoke.
	leaseTTL = 3600
)

type kvTraffic struct {
	seed   uint64
	rec    *kvhist.Recorder
	load   *kvhist.Workload
	leases *leaseClient
}

func (k *kvTraffic) Start(env *Env) {
	k.rec = env.Rec
	clis := make([]*clientv3.Client, kvClients)
	for i := range clis {
		clis[i] = env.C.Client(env.T)
	}
	k.load = kvhist.StartWorkload(env.Rec, clis, kvhist.WorkloadConfig{Prefix: prefix + "kv/", Keys: kvKeys,
		OpTimeout: opTimeout, Seed: k.seed, DeletePercent: 10, RetryPause: retryPause})
	k.leases = startLeaseClient(env.C.Client(env.T), env.Rec, env.NewClientID(), rand.New(rand.NewPCG(k.seed, 0x1ea5e)))
}

func (k *kvTraffic) Stop() {
	if k.load != nil {
		k.load.Stop()
		k.leases.stop()
	}
}

func (k *kvTraffic) Progress() int {
	if k.load == nil {
		return 0
	}
	return k.rec.AckedWrites()
}

func (k *kvTraffic) Check(ctx context.Context, env *Env, res *result) []violation {
	return k.leases.check(res)
}

// leaseClient grants a lease, puts one or two keys attached to it, and revokes the lease
// half of the time, in a loop. Every key is written once, with a value naming it.
type leaseClient struct {
	cli    *clientv3.Client
	rec    *kvhist.Recorder
	id     int // the client ID its operations are recorded under
	rng    *rand.Rand
	cancel context.CancelFunc
	done   chan struct{}

	mu sync.Mutex
	// guarded by mu
	puts []leasePut
	// revoked maps a lease to whether its revoke was acknowledged (false: unknown outcome).
	revoked map[clientv3.LeaseID]bool
}

// leasePut is one attempted put of a key attached to a lease.
type leasePut struct {
	key   string
	lease clientv3.LeaseID
	rev   int64 // 0 when the outcome is unknown
}

func startLeaseClient(cli *clientv3.Client, rec *kvhist.Recorder, id int, rng *rand.Rand) *leaseClient {
	ctx, cancel := context.WithCancel(context.Background())
	l := &leaseClient{cli: cli, rec: rec, id: id, rng: rng, cancel: cancel, done: make(chan struct{}), revoked: map[clientv3.LeaseID]bool{}}
	go func() {
		defer close(l.done)
		l.run(ctx)
	}()
	return l
}

func (l *leaseClient) stop() {
	l.cancel()
	<-l.done
}

func (l *leaseClient) run(ctx context.Context) {
	for n := 0; ctx.Err() == nil; n++ {
		if err := l.round(n); err != nil {
			select {
			case <-ctx.Done():
			case <-time.After(retryPause):
			}
		}
	}
}

// round is one lease's life, recorded for porcupine (per lease: its puts, reads of its keys
// and its revoke); its operations have their own timeouts, so that stopping the traffic
// does not turn them into unknown outcomes.
func (l *leaseClient) round(n int) error {
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	g, err := l.cli.Grant(ctx, leaseTTL)
	if err != nil {
		return err
	}
	var keys []string
	for k := range 1 + l.rng.IntN(2) {
		key := fmt.Sprintf("%slease/%d-%d", prefix, n, k)
		_, rev, err := l.do(kvhist.Input{Kind: kvhist.LeasePut, Key: key, Value: key, Lease: int64(g.ID)})
		p := leasePut{key: key, lease: g.ID}
		if err == nil {
			p.rev = rev
		}
		l.mu.Lock()
		l.puts = append(l.puts, p)
		l.mu.Unlock()
		if err != nil {
			return err
		}
		keys = append(keys, key)
	}
	if err := l.read(keys, g.ID); err != nil || l.rng.IntN(2) == 0 {
		return err
	}
	_, _, err = l.do(kvhist.Input{Kind: kvhist.LeaseRevoke, Lease: int64(g.ID)})
	l.mu.Lock()
	l.revoked[g.ID] = err == nil
	l.mu.Unlock()
	if err != nil {
		return err
	}
	return l.read(keys, g.ID)
}

// read reads the lease's keys, recorded.
func (l *leaseClient) read(keys []string, lease clientv3.LeaseID) error {
	for _, k := range keys {
		if _, _, err := l.do(kvhist.Input{Kind: kvhist.Get, Key: k, Lease: int64(lease)}); err != nil {
			return err
		}
	}
	return nil
}

// do performs and records one operation, bounded by opTimeout.
func (l *leaseClient) do(in kvhist.Input) (kvhist.Output, int64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	return kvhist.Do(ctx, l.cli, l.id, in, l.rec)
}

// check: a key of an acknowledged revoke is gone at the end, with a delete event after its
// put; a key of a lease nobody tried to revoke is still there; an acknowledged put is in the
// history at its revision. Unknown outcomes may go either way.
func (l *leaseClient) check(res *result) []violation {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []violation
	add := func(format string, args ...any) {
		out = append(out, violation{"lease", fmt.Sprintf(format, args...)})
	}
	type keyEvents struct {
		putRev, delRev int64
	}
	evs := map[string]*keyEvents{}
	for _, e := range underPrefix(res.hist, prefix+"lease/") {
		ke := evs[e.Key]
		if ke == nil {
			ke = &keyEvents{}
			evs[e.Key] = ke
		}
		if e.Delete {
			ke.delRev = e.Rev
		} else {
			ke.putRev = e.Rev
		}
	}
	for _, p := range l.puts {
		ke := evs[p.key]
		_, present := res.state[p.key]
		acked, tried := l.revoked[p.lease]
		switch {
		case p.rev != 0 && (ke == nil || ke.putRev != p.rev):
			add("put of %s attached to lease %x acknowledged at revision %d is not in the history", p.key, p.lease, p.rev)
		case tried && acked && present:
			add("%s is still there after its lease %x was revoked", p.key, p.lease)
		case tried && acked && ke != nil && ke.putRev != 0 && ke.delRev <= ke.putRev:
			add("no delete event of %s after its lease %x was revoked", p.key, p.lease)
		case !tried && p.rev != 0 && !present:
			add("%s is gone, but nobody revoked its lease %x", p.key, p.lease)
		}
	}
	for k := range evs {
		if !strings.HasPrefix(k, prefix+"lease/") {
			continue
		}
		found := false
		for _, p := range l.puts {
			if p.key == k {
				found = true
				break
			}
		}
		if !found {
			add("%s is in the history, but no client wrote it", k)
		}
	}
	return out
}
