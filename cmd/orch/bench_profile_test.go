package main

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// With a window, the profile rotates into one file per window, each a complete profile.
func TestCPUProfileWindows(t *testing.T) {
	dir := t.TempDir()
	stop, err := startCPUProfiles(filepath.Join(dir, "bench.pprof"), 20*time.Millisecond, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "three profile windows", func() error {
		if m, _ := filepath.Glob(filepath.Join(dir, "bench-*s.pprof")); len(m) < 3 {
			return fmt.Errorf("%d profile files", len(m))
		}
		return nil
	})
	stop()
	files, _ := filepath.Glob(filepath.Join(dir, "*"))
	for _, f := range files {
		fi, err := os.Stat(f)
		if err != nil || fi.Size() == 0 {
			t.Errorf("%s: empty or missing (%v)", f, err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "bench-000s.pprof")); err != nil {
		t.Errorf("first window: %v", err)
	}
	// Profiling stopped: another profile can start.
	stop, err = startCPUProfiles(filepath.Join(dir, "again.pprof"), 0, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("profile after stop: %v", err)
	}
	stop()
}
