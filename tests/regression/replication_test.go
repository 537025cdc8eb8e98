package regression_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/keeldb/keel/internal/failpoint"
)

// TestRaft612FollowerCatchesUpAfterPanicMidAppend guards against hashicorp/raft#612 as Keel
// met it: a follower restarted after a raftAfterSave panic got no entries at all, its leader
// logging nothing about it but one failed heartbeat, until TestEtcd13766's hang guard.
//
// A follower that panics inside raft's appendEntries still answers that request: the deferred
// Respond runs while the panic unwinds, with Success false. The leader's pipelineDecode stops
// at that rejection, and the pipeline's next send could block forever on the transport's
// decoder, which waits to hand over a response nobody reads; heartbeats go on, so no election
// heals it (raftstore/pipeline.go, guardedTransport). The test panics a follower at
// raftAfterSave under recorded load, over and over, restarting it each time, and fails if
// the follower does not reach the revision of a write acknowledged after its restart, or if
// the load's checks fail.
func TestRaft612FollowerCatchesUpAfterPanicMidAppend(t *testing.T) {
	const rounds = 16
	c := start(t, 3)
	l := c.startLoad("k612/", 6)
	cli := c.Client(t)
	l.progress(30)
	for r := range rounds {
		_, others := c.roles()
		f := others[r%len(others)]
		c.crash(f, failpoint.RaftAfterSave, "panic", nil)
		l.progress(30)
		ctx := c.ctx()
		resp, err := cli.Put(ctx, "k612-mark", fmt.Sprint(r))
		if err != nil {
			t.Fatal(err)
		}
		c.waitRevision(ctx, cli, f, resp.Header.Revision)
	}
	l.finish()
}

// waitRevision polls, through cli, until member i's store is at revision rev or later.
func (c *cluster) waitRevision(ctx context.Context, cli *clientv3.Client, i int, rev int64) {
	c.t.Helper()
	last := "no answer"
	for {
		sctx, cancel := context.WithTimeout(ctx, stepTimeout)
		st, err := cli.Status(sctx, c.Endpoint(i))
		cancel()
		if err == nil && st.Header.Revision >= rev {
			return
		}
		if err == nil {
			last = fmt.Sprintf("revision %d", st.Header.Revision)
		} else {
			last = err.Error()
		}
		select {
		case <-ctx.Done():
			c.t.Fatalf("m%d did not reach revision %d: %s", i, rev, last)
		case <-time.After(100 * time.Millisecond):
		}
	}
}
