package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"
)

// runHello is the hidden `orch hello-server --listen ADDR` command, a demo workload for
// examples and end-to-end tests: GET / answers "hello from <$POD_NAME, $HOSTNAME or hostname>", GET
// /healthz answers "ok"; GET /burn?seconds=N[&millicores=M] burns M millicores (default
// 1000, one core) for N seconds in the background, for autoscaling demos; with
// --burn-cpu-while-exists FILE it burns --burn-millicores whenever FILE exists. SIGTERM
// (ctx) stops it cleanly, burns included.
func runHello(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var g globals
	fs := newFlagSet("orch hello-server", stderr, &g)
	listen := fs.String("listen", "127.0.0.1:8080", "address to listen on")
	burnFile := fs.String("burn-cpu-while-exists", "", "burn cpu whenever this file exists")
	burnMilli := fs.Int("burn-millicores", 1000, "cpu burnt by --burn-cpu-while-exists, in millicores of one core (at most 1000)")
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
	// Burns are owned by the server: they stop with ctx and are waited for before return.
	bctx, stopBurns := context.WithCancel(ctx)
	var burns sync.WaitGroup
	defer func() { stopBurns(); burns.Wait() }()
	if *burnFile != "" {
		burns.Go(func() { burnWhileExists(bctx, *burnFile, *burnMilli) })
	}
	mux.HandleFunc("GET /burn", func(w http.ResponseWriter, r *http.Request) {
		secs, err := strconv.Atoi(r.URL.Query().Get("seconds"))
		milli := 1000
		if m := r.URL.Query().Get("millicores"); m != "" && err == nil {
			milli, err = strconv.Atoi(m)
		}
		if err != nil || secs <= 0 || secs > 3600 || milli <= 0 {
			http.Error(w, "want ?seconds=N (1..3600) and optionally &millicores=M", http.StatusBadRequest)
			return
		}
		until := time.Now().Add(time.Duration(secs) * time.Second)
		burns.Go(func() { burnCPU(bctx, milli, func() bool { return time.Now().Before(until) }) })
		fmt.Fprintf(w, "burning %dm for %ds\n", min(milli, 1000), secs)
	})
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
