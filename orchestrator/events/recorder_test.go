package events_test

import (
	"context"
	"fmt"
	"sort"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/keeldb/keel/internal/testcluster"
	"github.com/keeldb/keel/orchestrator/api"
	"github.com/keeldb/keel/orchestrator/events"
	"github.com/keeldb/keel/orchestrator/internal/poll"
	"github.com/keeldb/keel/orchestrator/registry"
)

// run runs r until the test ends.
func run(t *testing.T, r *events.Recorder) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
}

func pod(ns, name, uid string) *api.Pod {
	return &api.Pod{TypeMeta: api.TypeMeta{Kind: "Pod", APIVersion: "v1"},
		ObjectMeta: api.ObjectMeta{Namespace: ns, Name: name, UID: uid, ResourceVersion: "7"}}
}

// list returns the Events about the object named name in ns, oldest first.
func list(ctx context.Context, store *registry.Store[api.Event, *api.Event], ns, name string) ([]*api.Event, error) {
	l, err := store.List(ctx, registry.ListOptions{Namespace: ns})
	if err != nil {
		return nil, err
	}
	var out []*api.Event
	for _, ev := range l.Items {
		if ev.InvolvedObject.Name == name {
			out = append(out, ev)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// TestRecorder runs the recorder scenarios against one real 3-member cluster; each subtest
// uses its own namespace.
func TestRecorder(t *testing.T) {
	c := testcluster.Start(t, 3)
	cli := c.Client()
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	store := registry.New[api.Event](cli, registry.Config{})

	t.Run("WrittenWithLease", func(t *testing.T) {
		r := events.NewRecorder(cli, events.Config{Component: "test-controller", Host: "h1"})
		run(t, r)
		r.Eventf(pod("lease", "web-1", "uid-1"), events.TypeWarning, "FailedCreate", "Error creating: %s", "quota")
		r.Event(pod("lease", "web-2", "uid-2"), events.TypeNormal, "Created", "Created pod")
		var evs []*api.Event
		poll.Eventually(t, 10*time.Second, func() error {
			var err error
			evs, err = list(ctx, store, "lease", "web-1")
			if err == nil && len(evs) != 1 {
				err = fmt.Errorf("%d events, want 1", len(evs))
			}
			return err
		})
		ev := evs[0]
		want := api.ObjectReference{Kind: "Pod", APIVersion: "v1", Namespace: "lease", Name: "web-1", UID: "uid-1", ResourceVersion: "7"}
		if ev.InvolvedObject != want || ev.Reason != "FailedCreate" || ev.Message != "Error creating: quota" ||
			ev.Type != events.TypeWarning || ev.Count != 1 || ev.Source != (api.EventSource{Component: "test-controller", Host: "h1"}) ||
			ev.FirstTimestamp.IsZero() || !ev.LastTimestamp.Equal(ev.FirstTimestamp.Time) {
			t.Errorf("event: %+v", ev)
		}
		if len(ev.Name) <= len("web-1.") || ev.Name[:len("web-1.")] != "web-1." {
			t.Errorf("event name %q, want web-1.<hex nanos>", ev.Name)
		}
		lease1 := keyLease(t, ctx, cli, store.Key("lease", ev.Name))
		if lease1 == clientv3.NoLease {
			t.Fatal("event written without a lease")
		}
		ttl, err := cli.TimeToLive(ctx, lease1)
		if err != nil {
			t.Fatal(err)
		}
		// TTL 1 h plus the 1 min reuse window.
		if ttl.GrantedTTL != 3660 {
			t.Errorf("granted TTL %d s, want 3660", ttl.GrantedTTL)
		}
		// The second event, written within the reuse window, shares the lease.
		poll.Eventually(t, 10*time.Second, func() error {
			evs, err := list(ctx, store, "lease", "web-2")
			if err == nil && len(evs) != 1 {
				return fmt.Errorf("%d events, want 1", len(evs))
			}
			if err == nil {
				if l := keyLease(t, ctx, cli, store.Key("lease", evs[0].Name)); l != lease1 {
					t.Errorf("second event's lease %x, want the shared %x", l, lease1)
				}
			}
			return err
		})
	})

	t.Run("Aggregation", func(t *testing.T) {
		r := events.NewRecorder(cli, events.Config{Component: "c"})
		run(t, r)
		p := pod("agg", "p", "uid-agg")
		for range 3 {
			r.Event(p, events.TypeNormal, "Pulled", "Container image pulled")
		}
		r.Event(p, events.TypeNormal, "Pulled", "another message")
		// The same reason and message about another object (uid) is another Event.
		r.Event(pod("agg", "p", "uid-recreated"), events.TypeNormal, "Pulled", "Container image pulled")
		poll.Eventually(t, 10*time.Second, func() error {
			evs, err := list(ctx, store, "agg", "p")
			if err != nil {
				return err
			}
			var got []string
			for _, ev := range evs {
				got = append(got, fmt.Sprintf("%s %q x%d", ev.InvolvedObject.UID, ev.Message, ev.Count))
			}
			sort.Strings(got)
			want := fmt.Sprint([]string{`uid-agg "Container image pulled" x3`, `uid-agg "another message" x1`, `uid-recreated "Container image pulled" x1`})
			if fmt.Sprint(got) != want {
				return fmt.Errorf("events %v, want %v", got, want)
			}
			return nil
		})
	})

	t.Run("ClusterScopedInDefault", func(t *testing.T) {
		r := events.NewRecorder(cli, events.Config{Component: "c"})
		run(t, r)
		node := &api.Node{ObjectMeta: api.ObjectMeta{Name: "node-7", UID: "uid-n"}}
		r.Event(node, events.TypeNormal, "NodeNotReady", "Node node-7 status is now: NodeNotReady")
		poll.Eventually(t, 10*time.Second, func() error {
			evs, err := list(ctx, store, "default", "node-7")
			if err == nil && (len(evs) != 1 || evs[0].InvolvedObject.Kind != "Node" || evs[0].InvolvedObject.Namespace != "") {
				err = fmt.Errorf("events %+v, want one about Node node-7", evs)
			}
			return err
		})
	})

	t.Run("TTLExpiry", func(t *testing.T) {
		r := events.NewRecorder(cli, events.Config{Component: "c", TTL: 2 * time.Second})
		run(t, r)
		r.Event(pod("ttl", "p", "uid-ttl"), events.TypeNormal, "Started", "Started container")
		poll.Eventually(t, 10*time.Second, func() error {
			evs, err := list(ctx, store, "ttl", "p")
			if err == nil && len(evs) != 1 {
				err = fmt.Errorf("%d events, want 1", len(evs))
			}
			return err
		})
		// Granted TTL+reuse rounded up: 3 s; poll until the store expires it.
		poll.Eventually(t, 15*time.Second, func() error {
			evs, err := list(ctx, store, "ttl", "p")
			if err == nil && len(evs) != 0 {
				err = fmt.Errorf("%d events left", len(evs))
			}
			return err
		})
		// A later identical event starts a new Event (the old one expired).
		r.Event(pod("ttl", "p", "uid-ttl"), events.TypeNormal, "Started", "Started container")
		poll.Eventually(t, 10*time.Second, func() error {
			evs, err := list(ctx, store, "ttl", "p")
			if err == nil && (len(evs) != 1 || evs[0].Count != 1) {
				err = fmt.Errorf("events %+v, want one new with count 1", evs)
			}
			return err
		})
	})

	t.Run("SpamFilter", func(t *testing.T) {
		// Event names carry the clock's nanoseconds: each event gets its own instant.
		now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		clock := func() time.Time { now = now.Add(time.Millisecond); return now }
		r := events.NewRecorder(cli, events.Config{Component: "c", SpamBurst: 3, SpamInterval: time.Minute, Now: clock})
		for i := range 5 {
			r.Event(pod("spam", "rs", "uid-spam"), events.TypeNormal, "SuccessfulCreate", fmt.Sprintf("Created pod: p%d", i))
		}
		r.Event(pod("spam", "other", "uid-other"), events.TypeNormal, "SuccessfulCreate", "Created pod: q")
		if got := r.Filtered(); got != 2 {
			t.Errorf("filtered %d, want 2 (burst 3 of 5 for one object; the other object unaffected)", got)
		}
		now = now.Add(time.Minute)
		r.Event(pod("spam", "rs", "uid-spam"), events.TypeNormal, "SuccessfulCreate", "Created pod: p5")
		if got := r.Filtered(); got != 2 {
			t.Errorf("filtered %d after a refill interval, want still 2", got)
		}
		run(t, r)
		poll.Eventually(t, 10*time.Second, func() error {
			l, err := store.List(ctx, registry.ListOptions{Namespace: "spam"})
			if err == nil && len(l.Items) != 5 {
				err = fmt.Errorf("%d events, want 5", len(l.Items))
			}
			return err
		})
	})

	t.Run("DropWhenFull", func(t *testing.T) {
		r := events.NewRecorder(cli, events.Config{Component: "c", BufferSize: 2})
		for i := range 3 {
			r.Event(pod("drop", fmt.Sprintf("p%d", i), fmt.Sprint(i)), events.TypeNormal, "R", "m")
		}
		if got := r.Dropped(); got != 1 {
			t.Errorf("dropped %d, want 1", got)
		}
		run(t, r)
		poll.Eventually(t, 10*time.Second, func() error {
			l, err := store.List(ctx, registry.ListOptions{Namespace: "drop"})
			if err == nil && len(l.Items) != 2 {
				err = fmt.Errorf("%d events, want 2", len(l.Items))
			}
			return err
		})
	})

	t.Run("NilRecorder", func(t *testing.T) {
		var r *events.Recorder
		r.Event(pod("nil", "p", "u"), events.TypeNormal, "R", "m")
		r.Eventf(pod("nil", "p", "u"), events.TypeNormal, "R", "m %d", 1)
	})

}

func keyLease(t *testing.T, ctx context.Context, cli *clientv3.Client, key string) clientv3.LeaseID {
	t.Helper()
	resp, err := cli.Get(ctx, key)
	if err != nil || len(resp.Kvs) != 1 {
		t.Fatalf("get %s: %v %v", key, resp, err)
	}
	return clientv3.LeaseID(resp.Kvs[0].Lease)
}
