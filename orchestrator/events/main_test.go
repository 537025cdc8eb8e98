package events_test

import (
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	// hashicorp/raft's NetworkTransport does not wait for its connection handlers on Close;
	// they end when the peer's side of the connection closes, which may be a moment later.
	// raftstore's Node.wait leaves its helper blocked on a raft future that hashicorp/raft
	// never answers when it shuts down with the future still queued (see raftstore/node.go);
	// seen here once at cluster close while a lease revoke was in flight.
	goleak.VerifyTestMain(m, goleak.IgnoreAnyFunction("github.com/hashicorp/raft.(*NetworkTransport).handleConn"),
		goleak.IgnoreAnyFunction("github.com/keeldb/keel/raftstore.(*Node).wait.func1"))
}
