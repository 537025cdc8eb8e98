package rbac_test

import (
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	// As the informer tests: hashicorp/raft's NetworkTransport does not wait for its
	// connection handlers on Close, and raftstore.Node.wait may leave a detached waiter.
	goleak.VerifyTestMain(m, goleak.IgnoreAnyFunction("github.com/hashicorp/raft.(*NetworkTransport).handleConn"),
		goleak.IgnoreAnyFunction("github.com/keeldb/keel/raftstore.(*Node).wait.func1"))
}
