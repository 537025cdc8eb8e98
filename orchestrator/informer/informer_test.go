package informer_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand"
	"sort"
	"sync"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/keeldb/keel/internal/testcluster"
	"github.com/keeldb/keel/orchestrator/api"
	"github.com/keeldb/keel/orchestrator/informer"
	"github.com/keeldb/keel/orchestrator/registry"
)

const byNode = "byNode"

func pod(ns, name, node string) *api.Pod {
	return &api.Pod{
		ObjectMeta: api.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{"app": "x"}},
		Spec:       api.PodSpec{NodeName: node, Containers: []api.Container{{Name: "c", Image: "busybox"}}},
	}
}

// mirror rebuilds the resource's state from handler calls alone and records any call that
// does not fit the state (an add of a known key, an update or delete of an unknown one).
type mirror struct {
	mu         sync.Mutex
	state      map[string]string // key → resourceVersion
	violations []string
}

func (m *mirror) handler() informer.Handler[*api.Pod] {
	return informer.Handler[*api.Pod]{
		OnAdd: func(p *api.Pod) {
			m.mu.Lock()
			defer m.mu.Unlock()
			k := api.KeyFunc(p)
			if _, ok := m.state[k]; ok {
				m.violations = append(m.violations, "add of known "+k)
			}
			m.state[k] = p.ResourceVersion
		},
		OnUpdate: func(old, p *api.Pod) {
			m.mu.Lock()
			defer m.mu.Unlock()
			k := api.KeyFunc(p)
			if m.state[k] != old.ResourceVersion {
				m.violations = append(m.violations, fmt.Sprintf("update of %s from %s, mirror has %q", k, old.ResourceVersion, m.state[k]))
			}
			m.state[k] = p.ResourceVersion
		},
		OnDelete: func(p *api.Pod) {
			m.mu.Lock()
			defer m.mu.Unlock()
			k := api.KeyFunc(p)
			if _, ok := m.state[k]; !ok {
				m.violations = append(m.violations, "delete of unknown "+k)
			}
			delete(m.state, k)
		},
	}
}

func (m *mirror) snapshot() (map[string]string, []string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return maps.Clone(m.state), append([]string(nil), m.violations...)
}

func storeState(ctx context.Context, pods *registry.Store[api.Pod, *api.Pod]) (map[string]string, map[string][]string, int64, error) {
	l, err := pods.List(ctx, registry.ListOptions{})
	if err != nil {
		return nil, nil, 0, err
	}
	state := map[string]string{}
	nodes := map[string][]string{}
	for _, p := range l.Items {
		state[api.KeyFunc(p)] = p.ResourceVersion
		nodes[p.Spec.NodeName] = append(nodes[p.Spec.NodeName], api.KeyFunc(p))
	}
	return state, nodes, l.Revision, nil
}

func cacheState(c *informer.Cache[*api.Pod]) map[string]string {
	state := map[string]string{}
	for _, p := range c.List() {
		state[api.KeyFunc(p)] = p.ResourceVersion
	}
	return state
}

// waitConverged polls until the cache and the handler mirror both equal the store, and
// then checks the node index.
func waitConverged(t *testing.T, ctx context.Context, inf *informer.Informer[api.Pod, *api.Pod], pods *registry.Store[api.Pod, *api.Pod], m *mirror) {
	t.Helper()
	want, nodes, rev, err := storeState(ctx, pods)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		got := cacheState(inf.Cache())
		mirrored, violations := m.snapshot()
		if len(violations) > 0 {
			t.Fatalf("handler calls inconsistent with the state: %v", violations)
		}
		if maps.Equal(got, want) && maps.Equal(mirrored, want) && inf.Revision() >= rev {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not converged at revision %d (store at %d): cache %d objects, mirror %d, store %d",
				inf.Revision(), rev, len(got), len(mirrored), len(want))
		}
		time.Sleep(10 * time.Millisecond)
	}
	for node, keys := range nodes {
		var got []string
		for _, p := range inf.Cache().ByIndex(byNode, node) {
			got = append(got, api.KeyFunc(p))
		}
		sort.Strings(keys)
		if fmt.Sprint(got) != fmt.Sprint(keys) {
			t.Fatalf("index %s=%s: got %v, want %v", byNode, node, got, keys)
		}
		var unsorted []string
		for _, p := range inf.Cache().ByIndexUnsorted(byNode, node) {
			unsorted = append(unsorted, api.KeyFunc(p))
		}
		sort.Strings(unsorted)
		if fmt.Sprint(unsorted) != fmt.Sprint(keys) {
			t.Fatalf("unsorted index %s=%s: got %v, want %v", byNode, node, unsorted, keys)
		}
	}
	if len(inf.Cache().IndexValues(byNode)) != len(nodes) {
		t.Fatalf("index values %v, want %d nodes", inf.Cache().IndexValues(byNode), len(nodes))
	}
}

// burst runs concurrent creates, node moves and deletes on pods named p0..p(n-1) in two
// namespaces.
func burst(t *testing.T, ctx context.Context, pods *registry.Store[api.Pod, *api.Pod], seed int64, ops int) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, 3)
	for w := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewSource(seed + int64(w)))
			for range ops {
				ns := []string{"a", "b"}[rng.Intn(2)]
				name := fmt.Sprintf("p%d", rng.Intn(30))
				node := fmt.Sprintf("n%d", rng.Intn(4))
				var err error
				switch rng.Intn(3) {
				case 0:
					_, err = pods.Create(ctx, pod(ns, name, node))
				case 1:
					_, err = pods.GuaranteedUpdate(ctx, ns, name, func(p *api.Pod) (*api.Pod, error) {
						p.Spec.NodeName = node
						return p, nil
					})
				case 2:
					_, err = pods.Delete(ctx, ns, name, registry.DeleteOptions{})
				}
				if err != nil && !errors.Is(err, registry.ErrAlreadyExists) && !errors.Is(err, registry.ErrNotFound) {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("burst: %v", err)
	}
}

func TestInformerConvergesAndRelists(t *testing.T) {
	c := testcluster.Start(t, 3)
	cli := c.Client()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	pods := registry.New[api.Pod](cli, registry.Config{})
	for i := range 10 {
		if _, err := pods.Create(ctx, pod("a", fmt.Sprintf("p%d", i), fmt.Sprintf("n%d", i%4))); err != nil {
			t.Fatal(err)
		}
	}

	// A small page size makes the initial list and the relist take several pages.
	member1 := c.Client(1)
	inf := informer.New(member1, registry.New[api.Pod](member1, registry.Config{}), informer.Config{PageSize: 7, MinBackoff: 10 * time.Millisecond})
	inf.AddIndex(byNode, func(p *api.Pod) []string { return []string{p.Spec.NodeName} })
	m := &mirror{state: map[string]string{}}
	inf.AddHandler(m.handler())

	start := func() (stop func()) {
		runCtx, stopRun := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- inf.Run(runCtx) }()
		return func() {
			stopRun()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		}
	}
	stop := start()
	if err := inf.WaitForSync(ctx); err != nil {
		t.Fatal(err)
	}
	if err := inf.Run(ctx); err == nil {
		t.Fatal("a second concurrent Run succeeded")
	}
	if inf.Cache().Len() != 10 || len(inf.Cache().ByIndex(informer.NamespaceIndex, "a")) != 10 {
		t.Fatalf("after sync: %d cached, want 10", inf.Cache().Len())
	}

	burst(t, ctx, pods, 1, 40)
	waitConverged(t, ctx, inf, pods, m)
	if inf.Lists() != 1 {
		t.Fatalf("Lists = %d after watching a burst, want 1 (no relist needed)", inf.Lists())
	}

	// Stop watching, change things (including deletes) and compact past the informer's
	// revision: the resumed watch is refused and the informer must relist, reporting the
	// objects deleted meanwhile.
	stop()
	seen := inf.Revision()
	burst(t, ctx, pods, 2, 30)
	for i := range 5 {
		_, _ = pods.Delete(ctx, "a", fmt.Sprintf("p%d", i), registry.DeleteOptions{})
	}
	resp, err := cli.Get(ctx, "/")
	if err != nil {
		t.Fatal(err)
	}
	if resp.Header.Revision <= seen+1 {
		t.Fatalf("no writes after the informer stopped (revision %d, seen %d)", resp.Header.Revision, seen)
	}
	if _, err := cli.Compact(ctx, resp.Header.Revision); err != nil {
		t.Fatal(err)
	}
	// The compaction is applied through raft: wait until the informer's member has it, or
	// its watch could legitimately still serve the old revisions.
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err := member1.Get(ctx, "/", clientv3.WithRev(seen+1), clientv3.WithSerializable())
		if errors.Is(err, rpctypes.ErrCompacted) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("member 1 has not applied the compaction: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	stop = start()
	defer stop()
	waitConverged(t, ctx, inf, pods, m)
	if inf.Lists() != 2 {
		t.Fatalf("Lists = %d after a compaction, want 2 (one relist)", inf.Lists())
	}

	// And it keeps watching after the relist.
	burst(t, ctx, pods, 3, 20)
	waitConverged(t, ctx, inf, pods, m)
}
