package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"time"
)

// runHello is the hidden `orch hello-server --listen ADDR` command, a demo workload for
// examples and end-to-end tests: GET / answers "hello from <$POD_NAME, $HOSTNAME or hostname>", GET
// /healthz answers "ok"; SIGTERM (ctx) stops it cleanly.
func runHello(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var g globals
	fs := newFlagSet("orch hello-server", stderr, &g)
	listen := fs.String("listen", "127.0.0.1:8080", "address to listen on")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		fmt.Fprintf(stderr, "unexpected arguments %v\n", pos)
		return errUsage
	}
	name := os.Getenv("POD_NAME")
	if name == "" {
		name = os.Getenv("HOSTNAME") // the pod's hostname, as the process runtime sets it
	}
	if name == "" {
		name, _ = os.Hostname()
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintf(w, "hello from %s\n", name)
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") })
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "hello-server %s listening on %s\n", name, ln.Addr())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err = srv.Shutdown(sctx)
	if serr := <-done; !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = serr
	}
	fmt.Fprintln(stdout, "hello-server stopped")
	return err
}
