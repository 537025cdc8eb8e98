package agent

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestWriteAtomic(t *testing.T) {
	dir := t.TempDir()
	t0 := time.Date(2026, 12, 7, 18, 0, 0, 0, time.UTC)
	read := func(name string) string {
		t.Helper()
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	v1 := map[string]volumeFile{"a": {data: []byte("1"), mode: 0o644}, "sub/b": {data: []byte("2"), mode: 0o400}}
	if err := writeAtomic(dir, v1, t0); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.Readlink(filepath.Join(dir, "..data")); got != "..2026_12_07_18_00_00.000000000" {
		t.Fatalf("..data -> %q", got)
	}
	if got, _ := os.Readlink(filepath.Join(dir, "a")); got != "..data/a" {
		t.Fatalf("a -> %q, want ..data/a", got)
	}
	if read("a") != "1" || read("sub/b") != "2" {
		t.Fatalf("got a=%q sub/b=%q", read("a"), read("sub/b"))
	}
	if st, _ := os.Stat(filepath.Join(dir, "sub/b")); st.Mode().Perm() != 0o400 {
		t.Fatalf("sub/b mode %o, want 0400", st.Mode().Perm())
	}
	// Unchanged: nothing is rewritten.
	if err := writeAtomic(dir, v1, t0.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.Readlink(filepath.Join(dir, "..data")); got != "..2026_12_07_18_00_00.000000000" {
		t.Fatalf("unchanged payload rewritten: ..data -> %q", got)
	}
	// Changed: a new version, the removed key's link and the old directory gone.
	v2 := map[string]volumeFile{"a": {data: []byte("one"), mode: 0o644}, "c": {data: []byte("3"), mode: 0o644}}
	if err := writeAtomic(dir, v2, t0.Add(2*time.Second)); err != nil {
		t.Fatal(err)
	}
	if read("a") != "one" || read("c") != "3" {
		t.Fatalf("after update got a=%q c=%q", read("a"), read("c"))
	}
	ents, _ := os.ReadDir(dir)
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	want := []string{"..2026_12_07_18_00_02.000000000", "..data", "a", "c"}
	if len(names) != len(want) {
		t.Fatalf("dir holds %v, want %v", names, want)
	}
	for i := range want {
		if names[i] != want[i] {
			t.Fatalf("dir holds %v, want %v", names, want)
		}
	}
}

var testTime = time.Date(2026, 12, 7, 18, 0, 0, 0, time.UTC)
