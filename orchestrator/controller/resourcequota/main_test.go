package resourcequota_test

import (
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	// hashicorp/raft's NetworkTransport does not wait for its connection handlers on Close;
	// they end when the peer's side of the connection closes, which may be a moment later.
	goleak.VerifyTestMain(m, goleak.IgnoreAnyFunction("github.com/hashicorp/raft.(*NetworkTransport).handleConn"),
		// raftstore.Node.wait detaches from a raft future that raft never answers once it has
		// shut down (one still queued for its leader loop); that goroutine is left behind.
		goleak.IgnoreAnyFunction("github.com/keeldb/keel/raftstore.(*Node).wait.func1"))
}
