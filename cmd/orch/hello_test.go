package main

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestHelloServer runs `orch hello-server` in-process: it answers / and /healthz and stops
// cleanly when its context (SIGTERM in main) ends.
func TestHelloServer(t *testing.T) {
	t.Setenv("POD_NAME", "web-1")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		err := run(ctx, []string{"hello-server", "--listen", "127.0.0.1:0"}, pw, io.Discard)
		_ = pw.Close()
		done <- err
	}()
	sc := bufio.NewScanner(pr)
	if !sc.Scan() {
		t.Fatalf("no output: %v", <-done)
	}
	line := sc.Text()
	addr := line[strings.LastIndexByte(line, ' ')+1:]
	go func() { _, _ = io.Copy(io.Discard, pr) }()
	for path, want := range map[string]string{"/": "hello from web-1\n", "/healthz": "ok"} {
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK || string(b) != want {
			t.Errorf("GET %s: %d %q, want %q", path, resp.StatusCode, b, want)
		}
	}
	for path, want := range map[string]int{"/burn?seconds=1&millicores=10": http.StatusOK, "/burn?seconds=x": http.StatusBadRequest} {
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("GET %s: %d, want %d", path, resp.StatusCode, want)
		}
	}
	// The burn started above stops with the server.
	cancel()
	if err := <-done; err != nil {
		t.Errorf("hello-server: %v", err)
	}
}

// TestAgentFlags checks the agent's runtime flags are validated before anything starts.
func TestAgentFlags(t *testing.T) {
	for _, args := range [][]string{
		{"agent", "--node", "n", "--runtime", "vm"},
		{"agent", "--node", "n", "--runtime", "process", "--nodes", "2"},
		{"agent", "--node", "n", "--runtime", "process", "--address", "not-an-ip"},
		{"agent", "--node", "n", "--runtime", "process", "--timing", "slow"},
	} {
		if err := run(context.Background(), args, io.Discard, io.Discard); err == nil {
			t.Errorf("%v: no error", args)
		}
	}
}
