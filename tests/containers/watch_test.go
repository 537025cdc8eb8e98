package containers

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/keeldb/keel/internal/watchcheck"
)

// event is one put under the workload prefix, as the history or the watcher saw it.
type event struct {
	rev        int64
	key, value string
}

// relist is what the watcher did after a compacted cancel: a linearizable list of the prefix
// at revision rev, taken after it had received afterEvents events.
type relist struct {
	afterEvents int
	rev         int64
	kvs         map[string]string
}

// watcher watches the workload prefix from revision 1 for a whole scenario. Each session
// watches through one member (with require-leader); when the stream fails, the member stops
// answering linearizable reads (killed or cut off), or the stream ends, it closes that client
// and watches again through the next member from its last revision + 1. After a compacted
// cancel it lists the prefix and watches from the list's revision + 1, as clients do. It stops
// once it has seen the final revision.
type watcher struct {
	c       *dcluster
	members []string // members to watch through, the first one first

	ctx    context.Context // ends the watcher (stop)
	cancel context.CancelFunc

	finalSet chan struct{}
	done     chan struct{}

	mu sync.Mutex
	// guarded by mu
	final    int64
	events   []event
	relists  []relist
	sessions int
	via      []string // member of each session
	errs     []string
}

// startWatcher starts a watcher through first, falling over to the other members of c.
func startWatcher(t *testing.T, c *dcluster, first string) *watcher {
	members := []string{first}
	for _, n := range c.names {
		if n != first {
			members = append(members, n)
		}
	}
	w := &watcher{c: c, members: members, finalSet: make(chan struct{}), done: make(chan struct{})}
	w.ctx, w.cancel = context.WithCancel(context.Background())
	go w.run()
	t.Cleanup(w.stop)
	return w
}

// stop ends the watcher and waits for its goroutine; it is idempotent.
func (w *watcher) stop() {
	w.cancel()
	<-w.done
}

// finish tells the watcher the final revision and waits until it has received it or ctx ends.
func (w *watcher) finish(ctx context.Context, final int64) error {
	w.mu.Lock()
	w.final = final
	w.mu.Unlock()
	close(w.finalSet)
	select {
	case <-w.done:
		return nil
	case <-ctx.Done():
		w.mu.Lock()
		defer w.mu.Unlock()
		last := int64(0)
		if n := len(w.events); n > 0 {
			last = w.events[n-1].rev
		}
		return fmt.Errorf("watcher did not reach revision %d (last event at %d, sessions via %v, errors %v): %w",
			final, last, w.via, w.errs, ctx.Err())
	}
}

// waitFailover waits until the watcher watches through a member not in from: the scenario
// cut off or killed the member it watched through, and it must have moved on.
func (w *watcher) waitFailover(t *testing.T, from ...string) {
	t.Helper()
	eventually(t, 30*time.Second, fmt.Sprintf("watcher fails over from %v", from), func(context.Context) error {
		w.mu.Lock()
		defer w.mu.Unlock()
		if len(w.via) == 0 || slices.Contains(from, w.via[len(w.via)-1]) {
			return fmt.Errorf("watching through %v (errors %v)", w.via, w.errs)
		}
		return nil
	})
	w.mu.Lock()
	defer w.mu.Unlock()
	t.Logf("watcher failed over: sessions through %v", w.via)
}

// reachedLocked reports whether the watcher has seen the final revision (requires w.mu).
func (w *watcher) reachedLocked(next int64) bool { return w.final > 0 && next > w.final }

func (w *watcher) run() {
	defer close(w.done)
	next := int64(1)
	for i := 0; w.ctx.Err() == nil; i++ {
		w.mu.Lock()
		if w.reachedLocked(next) {
			w.mu.Unlock()
			return
		}
		w.mu.Unlock()
		member := w.members[i%len(w.members)]
		ep, err := memberEndpoint(w.c, member)
		if err != nil {
			w.noteErr(err)
			w.backoff()
			continue
		}
		cli, err := clientv3.New(clientv3.Config{Endpoints: []string{ep}, DialTimeout: time.Second, Logger: zap.NewNop()})
		if err != nil {
			w.noteErr(fmt.Errorf("%s: %w", member, err))
			w.backoff()
			continue
		}
		w.mu.Lock()
		w.sessions++
		w.via = append(w.via, member)
		w.mu.Unlock()
		var stop bool
		next, stop = w.session(cli, member, next)
		cli.Close()
		if stop {
			return
		}
	}
}

// healthEvery paces the session's liveness probe; healthFailures consecutive failed
// linearizable reads end the session (the member was killed or lost its leader: a watch
// through a killed member would otherwise retry the dead endpoint forever).
const (
	healthEvery    = 500 * time.Millisecond
	healthFailures = 2
)

// session runs one watch through member from revision next and returns the next revision
// wanted and whether the watcher is done.
func (w *watcher) session(cli *clientv3.Client, member string, next int64) (int64, bool) {
	ctx, cancel := context.WithCancel(clientv3.WithRequireLeader(w.ctx))
	defer cancel()
	ch := cli.Watch(ctx, prefix, clientv3.WithPrefix(), clientv3.WithRev(next))
	finalSet := w.finalSet
	probe := time.NewTicker(healthEvery)
	defer probe.Stop()
	failures := 0
	for {
		select {
		case <-probe.C:
			pctx, pcancel := context.WithTimeout(ctx, time.Second)
			_, err := cli.Get(pctx, "health")
			pcancel()
			if err == nil {
				failures = 0
				continue
			}
			if failures++; failures >= healthFailures {
				w.noteErr(fmt.Errorf("%s unhealthy: %w", member, err))
				return next, false
			}
		case <-finalSet:
			finalSet = nil
			w.mu.Lock()
			reached := w.reachedLocked(next)
			w.mu.Unlock()
			if reached {
				return next, true
			}
		case resp, ok := <-ch:
			if !ok {
				w.backoff()
				return next, false
			}
			if resp.CompactRevision != 0 || errors.Is(resp.Err(), rpctypes.ErrCompacted) {
				return w.relist(cli), false
			}
			if err := resp.Err(); err != nil {
				w.noteErr(fmt.Errorf("%s: %w", member, err))
				w.backoff()
				return next, false
			}
			w.mu.Lock()
			for _, ev := range resp.Events {
				w.events = append(w.events, event{rev: ev.Kv.ModRevision, key: string(ev.Kv.Key), value: string(ev.Kv.Value)})
				next = ev.Kv.ModRevision + 1
			}
			reached := w.reachedLocked(next)
			w.mu.Unlock()
			if reached {
				return next, true
			}
		}
	}
}

func (w *watcher) noteErr(err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.errs) < 20 {
		w.errs = append(w.errs, err.Error())
	}
}

// relist lists the prefix through cli (retrying until it succeeds or the watcher stops),
// records the list and returns the revision to watch from.
func (w *watcher) relist(cli *clientv3.Client) int64 {
	for w.ctx.Err() == nil {
		ctx, cancel := context.WithTimeout(w.ctx, 2*time.Second)
		resp, err := cli.Get(ctx, prefix, clientv3.WithPrefix())
		cancel()
		if err == nil {
			kvs := map[string]string{}
			for _, kv := range resp.Kvs {
				kvs[string(kv.Key)] = string(kv.Value)
			}
			w.mu.Lock()
			w.relists = append(w.relists, relist{afterEvents: len(w.events), rev: resp.Header.Revision, kvs: kvs})
			w.mu.Unlock()
			return resp.Header.Revision + 1
		}
		w.noteErr(err)
		w.backoff()
	}
	return 0
}

// backoff paces retries after an error (e.g. while there is no leader), so the watcher does
// not spin; it is not a wait for any state.
func (w *watcher) backoff() {
	select {
	case <-time.After(100 * time.Millisecond):
	case <-w.ctx.Done():
	}
}

// memberEndpoint is dcluster.endpoint for the watcher's goroutine: it returns an error
// instead of failing the test, and fails for a stopped container (which has no address).
func memberEndpoint(c *dcluster, n string) (string, error) {
	out, err := exec.Command("docker", "inspect", "-f",
		fmt.Sprintf(`{{(index .NetworkSettings.Networks %q).IPAddress}}`, c.network("client")), c.container(n)).CombinedOutput()
	ip := strings.TrimSpace(string(out))
	if err != nil {
		return "", fmt.Errorf("inspect %s: %v: %s", n, err, ip)
	}
	if ip == "" || ip == "<no value>" {
		return "", fmt.Errorf("%s has no client address (stopped?)", n)
	}
	return ip + ":2379", nil
}

// readHistory returns every put under the prefix with a revision in [1, to], read with a
// watch from revision 1; the revision to must hold a put under the prefix.
func readHistory(ctx context.Context, cli *clientv3.Client, to int64) ([]event, error) {
	hist, err := watchcheck.ReadHistory(ctx, cli, prefix, 1, to)
	return fromCheck(hist), err
}

// watchReport summarises a successful watch check.
type watchReport struct {
	events, sessions, relists, skipped int
}

// check compares the watcher's stream with the history (every put under the prefix since
// revision 1): the events must be exactly the history's, in order, except that a re-list
// after a compacted cancel replaces the events up to its revision, and must then equal the
// history replayed to that revision.
func (w *watcher) check(hist []event) (watchReport, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return checkStream(w.events, w.relists, w.sessions, hist)
}

// The stream check and the history reader are shared with the other chaos tier
// (internal/watchcheck); these convert at the boundary.
func toCheck(evs []event) []watchcheck.Event {
	out := make([]watchcheck.Event, len(evs))
	for i, e := range evs {
		out[i] = watchcheck.Event{Rev: e.rev, Key: e.key, Value: e.value}
	}
	return out
}

func fromCheck(evs []watchcheck.Event) []event {
	out := make([]event, len(evs))
	for i, e := range evs {
		out[i] = event{rev: e.Rev, key: e.Key, value: e.Value}
	}
	return out
}

func checkStream(events []event, relists []relist, sessions int, hist []event) (watchReport, error) {
	rl := make([]watchcheck.Relist, len(relists))
	for i, r := range relists {
		rl[i] = watchcheck.Relist{AfterEvents: r.afterEvents, Rev: r.rev, KVs: r.kvs}
	}
	rep, err := watchcheck.Check(toCheck(events), rl, sessions, toCheck(hist))
	return watchReport{events: rep.Events, sessions: rep.Sessions, relists: rep.Relists, skipped: rep.Skipped}, err
}
