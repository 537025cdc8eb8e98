package testcluster_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/keeldb/keel/internal/netfault"
	"github.com/keeldb/keel/internal/testcluster"
)

// eventually polls f until it returns nil, failing the test with the last error after a hang
// guard.
func eventually(t *testing.T, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// With PeerProxies, a leader blackholed at its proxy is replaced, and after HealPeers it
// follows again and serves a linearizable read of the write made without it.
func TestPeerProxies(t *testing.T) {
	c := testcluster.StartWith(t, 3, testcluster.Options{PeerProxies: true})
	old := c.WaitLeader()
	c.PeerProxy(old).Blackhole(netfault.Both)
	var rest []int
	for i := range c.Members {
		if i != old {
			rest = append(rest, i)
		}
	}
	w := c.Client(rest...)
	eventually(t, "a write without the old leader", func() error {
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		defer cancel()
		_, err := w.Put(ctx, "k", "without m"+fmt.Sprint(old))
		return err
	})
	c.HealPeers()
	r := c.Client(old)
	eventually(t, "a linearizable read through the old leader", func() error {
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		defer cancel()
		get, err := r.Get(ctx, "k")
		if err != nil {
			return err
		}
		if len(get.Kvs) != 1 {
			return fmt.Errorf("got %v", get.Kvs)
		}
		return nil
	})
	if st := c.PeerProxy(old).Stats(); st.Rx.BlackholedBytes == 0 || st.Tx.BlackholedBytes == 0 {
		t.Fatalf("stats of m%d's proxy %+v: the blackhole saw no traffic", old, st)
	}
}

// BlackholeBetween cuts one pair: a follower cut from the leader only falls behind while the
// others go on, and catches up after HealPeers.
func TestBlackholeBetween(t *testing.T) {
	c := testcluster.StartWith(t, 3, testcluster.Options{PeerProxies: true})
	leader := c.WaitLeader()
	f := c.Follower()
	c.BlackholeBetween(leader, f)
	c.BlackholeBetween(f, leader)
	// Which direction loses bytes first depends on what was in flight: once the answers to
	// its requests vanish, the leader may send nothing more to the follower.
	eventually(t, "traffic between the pair blackholed", func() error {
		if st := c.PeerProxy(leader).Stats(); st.Tx.BlackholedBytes+st.Rx.BlackholedBytes == 0 {
			return fmt.Errorf("leader's proxy %+v", st)
		}
		return nil
	})
	w := c.Client(leader)
	var rev int64
	eventually(t, "a write with the pair cut", func() error {
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		defer cancel()
		put, err := w.Put(ctx, "k", "v")
		if err == nil {
			rev = put.Header.Revision
		}
		return err
	})
	c.HealPeers()
	r := c.Client(f)
	eventually(t, "the cut follower catching up", func() error {
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		defer cancel()
		get, err := r.Get(ctx, "k")
		if err != nil {
			return err
		}
		if get.Header.Revision < rev || len(get.Kvs) != 1 {
			return fmt.Errorf("at revision %d: %v", get.Header.Revision, get.Kvs)
		}
		return nil
	})
}
