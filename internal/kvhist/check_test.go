package kvhist_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/keeldb/keel/internal/kvhist"
	"github.com/keeldb/keel/internal/watchcheck"
)

func TestCheckWrites(t *testing.T) {
	writes := []kvhist.Write{{Key: "k", Value: "a", Rev: 2, Acked: true}, {Key: "k", Value: "b"}}
	hist := []watchcheck.Event{{Rev: 2, Key: "k", Value: "a"}}
	if lost, extra := kvhist.CheckWrites(hist, writes, nil); len(lost)+len(extra) > 0 {
		t.Errorf("valid history: lost %v, extra %v", lost, extra)
	}
	if lost, _ := kvhist.CheckWrites(nil, writes, nil); len(lost) != 1 {
		t.Errorf("history without the acknowledged write: lost %v, want one", lost)
	}
	if lost, _ := kvhist.CheckWrites([]watchcheck.Event{{Rev: 2, Key: "k", Value: "b"}}, writes, nil); len(lost) != 1 {
		t.Errorf("another value at the acknowledged revision: lost %v, want one", lost)
	}
	if _, extra := kvhist.CheckWrites(append(hist, watchcheck.Event{Rev: 3, Key: "k", Value: "z"}), writes, nil); len(extra) != 1 {
		t.Errorf("a value nobody wrote: extra %v, want one", extra)
	}
	if _, extra := kvhist.CheckWrites(append(hist, watchcheck.Event{Rev: 3, Key: "k", Value: "a"}), writes, nil); len(extra) == 0 {
		t.Error("a write applied twice was not reported")
	}
	withDelete := append(writes, kvhist.Write{Key: "k", Delete: true, Rev: 3, Acked: true})
	deleted := append(hist, watchcheck.Event{Rev: 3, Key: "k", Delete: true})
	if lost, extra := kvhist.CheckWrites(deleted, withDelete, nil); len(lost)+len(extra) > 0 {
		t.Errorf("history with a delete: lost %v, extra %v", lost, extra)
	}
	if lost, _ := kvhist.CheckWrites(hist, withDelete, nil); len(lost) != 1 {
		t.Errorf("history without the acknowledged delete: lost %v, want one", lost)
	}
	marked := append(hist, watchcheck.Event{Rev: 3, Key: "m", Value: "marker"})
	if lost, extra := kvhist.CheckWrites(marked, writes, map[string]bool{"marker": true}); len(lost)+len(extra) > 0 {
		t.Errorf("history with a marker: lost %v, extra %v", lost, extra)
	}
}

// An illegal history is written out for inspection only when a directory is given.
func TestCheckLinearizableVisualization(t *testing.T) {
	stale := []porcupine.Operation{
		op(0, kvhist.Input{Kind: kvhist.Put, Key: "k", Value: "a"}, kvhist.Output{}, 0, 10),
		op(0, kvhist.Input{Kind: kvhist.Put, Key: "k", Value: "b"}, kvhist.Output{}, 20, 30),
		op(1, kvhist.Input{Kind: kvhist.Get, Key: "k"}, kvhist.Output{Value: "a"}, 40, 50),
	}
	if res, path := kvhist.CheckLinearizable(stale, time.Minute, ""); res != porcupine.Illegal || path != "" {
		t.Errorf("without a directory: got %v, %q, want %v and no file", res, path, porcupine.Illegal)
	}
	dir := t.TempDir()
	res, path := kvhist.CheckLinearizable(stale, time.Minute, dir)
	if res != porcupine.Illegal {
		t.Fatalf("got %v, want %v", res, porcupine.Illegal)
	}
	if filepath.Dir(path) != dir {
		t.Fatalf("visualization at %q, want a file in %s", path, dir)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "<html") {
		t.Errorf("%s holds %d bytes and no HTML", path, len(b))
	}
	if res, path := kvhist.CheckLinearizable(stale[:1], time.Minute, dir); res != porcupine.Ok || path != "" {
		t.Errorf("legal history: got %v, %q, want %v and no file", res, path, porcupine.Ok)
	}
}
