package agent_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"testing"

	"go.uber.org/goleak"

	"github.com/keeldb/keel/orchestrator/agent"
)

func TestMain(m *testing.M) {
	// The process runtime re-executes this binary as the containers' shim.
	agent.MaybeRunShim()
	if len(os.Args) > 2 && os.Args[1] == "test-http-server" {
		os.Exit(testHTTPServer(os.Args[2], os.Args[3:]))
	}
	// hashicorp/raft's NetworkTransport does not wait for its connection handlers on Close;
	// they end when the peer's side of the connection closes, which may be a moment later.
	goleak.VerifyTestMain(m, goleak.IgnoreAnyFunction("github.com/hashicorp/raft.(*NetworkTransport).handleConn"),
		// raftstore.Node.wait detaches from a raft future that raft never answers once it has
		// shut down (one still queued for its leader loop); that goroutine is left behind.
		goleak.IgnoreAnyFunction("github.com/keeldb/keel/raftstore.(*Node).wait.func1"))
}

// testHTTPServer is a container for the tests: it serves GET / ("hello") and GET /healthz
// (200 once the file named by its second argument exists, else 503) on addr until SIGTERM.
func testHTTPServer(addr string, rest []string) int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "hello") })
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		if len(rest) > 0 {
			if _, err := os.Stat(rest[0]); err != nil {
				http.Error(w, "not ready", http.StatusServiceUnavailable)
				return
			}
		}
		fmt.Fprintln(w, "ok")
	})
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println("listening on", ln.Addr())
	srv := &http.Server{Handler: mux}
	go func() { <-ctx.Done(); _ = srv.Close() }()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return 1
	}
	fmt.Println("terminated")
	return 0
}
