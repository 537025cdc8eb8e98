package agent

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/keeldb/keel/orchestrator/api"
)

// handler serves the agent's HTTP API:
//
//	GET /healthz
//	GET /containerLogs/{namespace}/{pod}/{container}?follow=&tailLines=&previous=
func (rt *procRuntime) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") })
	mux.HandleFunc("GET /containerLogs/{namespace}/{pod}/{container}", rt.serveLogs)
	return mux
}

// logAttempts returns the run numbers (restart counts) that have a log in a container dir,
// ascending.
func logAttempts(dir string) []int32 {
	files, _ := filepath.Glob(filepath.Join(dir, "*.log"))
	var out []int32
	for _, f := range files {
		n, err := strconv.Atoi(strings.TrimSuffix(filepath.Base(f), ".log"))
		if err == nil {
			out = append(out, int32(n))
		}
	}
	slices.Sort(out)
	return out
}

func (rt *procRuntime) serveLogs(w http.ResponseWriter, req *http.Request) {
	ns, name, cname := req.PathValue("namespace"), req.PathValue("pod"), req.PathValue("container")
	q := req.URL.Query()
	follow := q.Get("follow") == "true" || q.Get("follow") == "1"
	previous := q.Get("previous") == "true" || q.Get("previous") == "1"
	tail := -1
	if s := q.Get("tailLines"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			http.Error(w, fmt.Sprintf("invalid tailLines %q", s), http.StatusBadRequest)
			return
		}
		tail = n
	}
	p, ok := rt.a.pods.Cache().Get(ns + "/" + name)
	if !ok || p.Spec.NodeName != rt.node {
		http.Error(w, fmt.Sprintf("pod %s/%s not found on node %s", ns, name, rt.node), http.StatusNotFound)
		return
	}
	found := false
	for _, c := range append(append([]api.Container(nil), p.Spec.InitContainers...), p.Spec.Containers...) {
		found = found || c.Name == cname
	}
	if !found {
		http.Error(w, fmt.Sprintf("container %q is not valid for pod %q", cname, name), http.StatusNotFound)
		return
	}
	dir := filepath.Join(rt.podDir(ns, name, p.UID), cname)
	runs := logAttempts(dir)
	if previous {
		if len(runs) < 2 {
			http.Error(w, fmt.Sprintf("previous terminated container %q in pod %q not found", cname, name), http.StatusNotFound)
			return
		}
		runs = runs[:len(runs)-1]
		follow = false
	}
	if len(runs) == 0 {
		http.Error(w, fmt.Sprintf("container %q in pod %q is waiting to start", cname, name), http.StatusBadRequest)
		return
	}
	n := runs[len(runs)-1]
	f, err := os.Open(logFile(dir, n))
	if err != nil {
		http.Error(w, fmt.Sprintf("container %q in pod %q: no log: %v", cname, name, err), http.StatusNotFound)
		return
	}
	defer func() { _ = f.Close() }()
	if tail >= 0 {
		if err := seekTail(f, tail); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	if !follow {
		_, _ = io.Copy(w, f)
		return
	}
	fl, _ := w.(http.Flusher)
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		_, err := io.Copy(w, f)
		if err != nil {
			return
		}
		if fl != nil {
			fl.Flush()
		}
		// The run is over once its exit is recorded (or its pod is gone); drain and stop.
		if _, err := os.Stat(exitFile(dir, n)); err == nil || errors.Is(err, os.ErrNotExist) && !exists(dir) {
			_, _ = io.Copy(w, f)
			return
		}
		select {
		case <-req.Context().Done():
			return
		case <-t.C:
		}
	}
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// seekTail positions f at the start of its last n lines.
func seekTail(f *os.File, n int) error {
	end, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return err
	}
	if n == 0 {
		return nil
	}
	const chunk = 8 << 10
	buf := make([]byte, chunk)
	pos, lines := end, 0
	for pos > 0 {
		size := min(int64(chunk), pos)
		pos -= size
		if _, err := f.ReadAt(buf[:size], pos); err != nil && !errors.Is(err, io.EOF) {
			return err
		}
		b := buf[:size]
		for i := len(b) - 1; i >= 0; i-- {
			if b[i] != '\n' {
				continue
			}
			if pos+int64(i) == end-1 {
				continue // a final newline ends the last line; it does not start another one
			}
			lines++
			if lines == n {
				_, err := f.Seek(pos+int64(i)+1, io.SeekStart)
				return err
			}
		}
	}
	_, err = f.Seek(0, io.SeekStart)
	return err
}
