package robustness_test

import (
	"context"
	"fmt"
	"strconv"
	"sync"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
)

// lockProfile is lock and election traffic through clientv3's concurrency package: clients
// take a Mutex, and campaigners win an Election, and each, while holding it, reads a counter
// and writes it plus one, fenced by a txn on the lock's (or leadership's) key, as etcd
// recommends. Mutual exclusion holds when each counter's history is 1, 2, 3, ... with no
// value twice (two holders at once would write the same value) and every acknowledged
// increment is in it.
var lockProfile = Profile{Name: "lock", New: func(seed uint64) Traffic { return &lockTraffic{} }}

const (
	lockClients    = 3
	electClients   = 2
	lockPrefix     = prefix + "lock/"
	lockCounter    = prefix + "lock-counter"
	electPrefix    = prefix + "elect/"
	electCounter   = prefix + "elect-counter"
	lockSessionTTL = 5
)

// lockSessionTTL is short: a client whose revoke fails (its requests went to a paused
// member) leaves its lock to the others only when its lease expires. The fence keeps an
// expired holder from incrementing, so a short TTL costs progress, never safety.

// increment is one attempted fenced increment.
type increment struct {
	counter string
	value   int64
	// rev is the revision it was acknowledged at; 0 when its outcome is unknown or the fence
	// failed.
	rev int64
}

type lockTraffic struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu sync.Mutex
	// guarded by mu
	incs []increment
	ok   int
}

func (l *lockTraffic) Start(env *Env) {
	ctx, cancel := context.WithCancel(context.Background())
	l.cancel = cancel
	for i := range lockClients + electClients {
		cli := env.C.Client(env.T)
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			l.client(ctx, cli, i < lockClients, fmt.Sprintf("c%d", i))
		}()
	}
}

func (l *lockTraffic) Stop() {
	if l.cancel != nil {
		l.cancel()
		l.wg.Wait()
	}
}

func (l *lockTraffic) Progress() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.ok
}

// client loops: a session, then the lock (or leadership), a fenced increment, and release.
// A broken session is replaced.
func (l *lockTraffic) client(ctx context.Context, cli *clientv3.Client, mutex bool, name string) {
	for ctx.Err() == nil {
		s, err := concurrency.NewSession(cli, concurrency.WithTTL(lockSessionTTL), concurrency.WithContext(ctx))
		if err != nil {
			pause(ctx, retryPause)
			continue
		}
		for ctx.Err() == nil {
			if err := l.round(ctx, s, mutex, name); err != nil {
				break
			}
		}
		// Closing revokes the lease; bounded, so a dead cluster cannot hold the stop up.
		cctx, cancel := context.WithTimeout(context.Background(), opTimeout)
		_, _ = cli.Revoke(cctx, s.Lease())
		cancel()
		s.Orphan()
		pause(ctx, retryPause)
	}
}

// round takes the lock (or leadership) once, increments under it and releases it.
func (l *lockTraffic) round(ctx context.Context, s *concurrency.Session, mutex bool, name string) error {
	counter := lockCounter
	var (
		fence   clientv3.Cmp
		release func(context.Context) error
	)
	actx, cancel := context.WithTimeout(ctx, 4*opTimeout)
	defer cancel()
	if mutex {
		m := concurrency.NewMutex(s, lockPrefix)
		if err := m.Lock(actx); err != nil {
			return err
		}
		fence, release = m.IsOwner(), m.Unlock
	} else {
		e := concurrency.NewElection(s, electPrefix)
		if err := e.Campaign(actx, name); err != nil {
			return err
		}
		counter, release = electCounter, e.Resign
		fence = clientv3.Compare(clientv3.CreateRevision(e.Key()), "=", e.Rev())
	}
	err := l.increment(s.Client(), counter, fence)
	rctx, rcancel := context.WithTimeout(context.Background(), opTimeout)
	defer rcancel()
	if rerr := release(rctx); err == nil {
		err = rerr
	}
	return err
}

// increment reads the counter and writes it plus one if fence (the holder still owns the
// lock or leadership) holds.
func (l *lockTraffic) increment(cli *clientv3.Client, counter string, fence clientv3.Cmp) error {
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	resp, err := cli.Get(ctx, counter)
	if err != nil {
		return err
	}
	var v int64
	if len(resp.Kvs) > 0 {
		if v, err = strconv.ParseInt(string(resp.Kvs[0].Value), 10, 64); err != nil {
			return err
		}
	}
	inc := increment{counter: counter, value: v + 1}
	txn, err := cli.Txn(ctx).If(fence).
		Then(clientv3.OpPut(counter, strconv.FormatInt(v+1, 10))).Commit()
	if err == nil && txn.Succeeded {
		inc.rev = txn.Header.Revision
	}
	l.mu.Lock()
	l.incs = append(l.incs, inc)
	if err == nil {
		l.ok++
	}
	l.mu.Unlock()
	if err == nil && !txn.Succeeded {
		return fmt.Errorf("lost the lock before incrementing %s", counter)
	}
	return err
}

// Check: each counter's history is 1, 2, 3, ... and holds every acknowledged increment.
func (l *lockTraffic) Check(ctx context.Context, env *Env, res *result) []violation {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []violation
	add := func(format string, args ...any) {
		if len(out) < 20 {
			out = append(out, violation{"lock", fmt.Sprintf(format, args...)})
		}
	}
	for _, counter := range []string{lockCounter, electCounter} {
		at := map[int64]string{}
		want := int64(1)
		for _, e := range res.hist {
			if e.Key != counter {
				continue
			}
			at[e.Rev] = e.Value
			if e.Value != strconv.FormatInt(want, 10) {
				add("%s at revision %d is %q, want %d: two holders at once, or a lost increment", counter, e.Rev, e.Value, want)
			}
			want++
		}
		acked := 0
		for _, inc := range l.incs {
			if inc.counter != counter || inc.rev == 0 {
				continue
			}
			acked++
			if at[inc.rev] != strconv.FormatInt(inc.value, 10) {
				add("increment of %s to %d acknowledged at revision %d is not in the history", counter, inc.value, inc.rev)
			}
		}
		env.Note("lock traffic: %s reached %d with %d acknowledged increments", counter, want-1, acked)
	}
	return out
}
