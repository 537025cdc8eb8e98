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
	"sync/atomic"
	"time"
)

// runHello is the hidden `orch hello-server --listen ADDR` command, a demo workload for
// examples and end-to-end tests: / and any other path (any method, as behind an Ingress)
// answers "hello from <$POD_NAME, $HOSTNAME or hostname>", after ?sleep=DURATION (at most 10 s) if asked; GET /healthz answers "ok"; GET
// /burn?seconds=N[&millicores=M] burns M millicores (default 1000, one core) for N seconds in
// the background, for autoscaling demos; with --burn-cpu-while-exists FILE it burns
// --burn-millicores whenever FILE exists. SIGTERM (ctx) drains it, as a Kubernetes server
// should: for --shutdown-delay it keeps serving (with /healthz 503 and keep-alives off, so
// clients and proxies move to other replicas while the endpoint removal propagates), then it
// stops accepting and waits up to --shutdown-timeout for requests in flight
// (http.Server.Shutdown); burns stop with it.
func runHello(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var g globals
	fs := newFlagSet("orch hello-server", stderr, &g)
	listen := fs.String("listen", "127.0.0.1:8080", "address to listen on")
	burnFile := fs.String("burn-cpu-while-exists", "", "burn cpu whenever this file exists")
	burnMilli := fs.Int("burn-millicores", 1000, "cpu burnt by --burn-cpu-while-exists, in millicores of one core (at most 1000)")
	delay := fs.Duration("shutdown-delay", 0, "after SIGTERM, keep serving this long before draining")
	timeout := fs.Duration("shutdown-timeout", 5*time.Second, "how long draining waits for requests in flight")
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
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if d, err := time.ParseDuration(r.URL.Query().Get("sleep")); err == nil && d > 0 {
			time.Sleep(min(d, 10*time.Second)) // a slow request, to have some in flight
		}
		fmt.Fprintf(w, "hello from %s\n", name)
	})
	var draining atomic.Bool
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		if draining.Load() {
			http.Error(w, "shutting down", http.StatusServiceUnavailable)
			return
		}
		_, _ = io.WriteString(w, "ok")
	})
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
	fmt.Fprintln(stdout, "hello-server draining")
	draining.Store(true)
	srv.SetKeepAlivesEnabled(false)
	if *delay > 0 {
		t := time.NewTimer(*delay)
		select {
		case <-t.C:
		case err := <-done:
			t.Stop()
			return err
		}
	}
	sctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	err = srv.Shutdown(sctx)
	if serr := <-done; !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = serr
	}
	fmt.Fprintln(stdout, "hello-server stopped")
	return err
}
