package informer_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/keeldb/keel/internal/testcluster"
	"github.com/keeldb/keel/orchestrator/api"
	"github.com/keeldb/keel/orchestrator/informer"
	"github.com/keeldb/keel/orchestrator/internal/poll"
	"github.com/keeldb/keel/orchestrator/registry"
)

// TestSharedDecode: two informers of one process over the same resource hand out the same
// decoded object for a version both watched, and each still follows every change.
func TestSharedDecode(t *testing.T) {
	c := testcluster.Start(t, 1)
	cli := c.Client()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	store := registry.New[api.Pod](cli, registry.Config{})
	a := informer.New(cli, store, informer.Config{})
	b := informer.New(cli, registry.New[api.Pod](cli, registry.Config{}), informer.Config{})
	rctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { _ = a.Run(rctx) })
	wg.Go(func() { _ = b.Run(rctx) })
	defer func() { stop(); wg.Wait() }()
	if err := a.WaitForSync(ctx); err != nil {
		t.Fatal(err)
	}
	if err := b.WaitForSync(ctx); err != nil {
		t.Fatal(err)
	}
	created, err := store.Create(ctx, pod("default", "shared", "n1"))
	if err != nil {
		t.Fatal(err)
	}
	poll.Eventually(t, 20*time.Second, func() error {
		pa, okA := a.Cache().Get("default/shared")
		pb, okB := b.Cache().Get("default/shared")
		if !okA || !okB || pa.ResourceVersion != created.ResourceVersion || pb.ResourceVersion != created.ResourceVersion {
			return errors.New("not both at the created version yet")
		}
		if pa != pb {
			t.Fatalf("the informers decoded version %s twice", pa.ResourceVersion)
		}
		return nil
	})
}
