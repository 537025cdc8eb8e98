package agent

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// dataDirName is the symlink to the current payload directory, as kubelet's AtomicWriter.
const dataDirName = "..data"

// writeAtomic writes payload (relative path → file) into dir as kubelet's AtomicWriter
// does, so that a reader never sees a mix of two versions:
//
//	dir/..2026_12_07_18_14_43.123456789/key   the files of this version
//	dir/..data -> ..2026_12_07_18_14_43.123456789
//	dir/key -> ..data/key                      one symlink per top-level name
//
// A new version is written to a new timestamped directory, then ..data is swapped to it
// with a rename (atomic), then the top-level symlinks are added or removed and the old
// directory deleted. An unchanged payload writes nothing.
func writeAtomic(dir string, payload map[string]volumeFile, now time.Time) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	dataLink := filepath.Join(dir, dataDirName)
	old, _ := os.Readlink(dataLink)
	if old != "" && samePayload(filepath.Join(dir, old), payload) {
		return nil
	}
	ts := ".." + now.UTC().Format("2006_01_02_15_04_05.000000000")
	tsDir := filepath.Join(dir, ts)
	if err := os.Mkdir(tsDir, 0o755); err != nil {
		return err
	}
	for p, f := range payload {
		full := filepath.Join(tsDir, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(full, f.data, f.mode); err != nil {
			return err
		}
		if err := os.Chmod(full, f.mode); err != nil { // WriteFile's mode is masked by umask
			return err
		}
	}
	tmp := filepath.Join(dir, "..data_tmp")
	_ = os.Remove(tmp)
	if err := os.Symlink(ts, tmp); err != nil {
		return err
	}
	if err := os.Rename(tmp, dataLink); err != nil {
		return fmt.Errorf("swap %s: %w", dataLink, err)
	}
	top := map[string]bool{}
	for p := range payload {
		name, _, _ := strings.Cut(p, "/")
		top[name] = true
	}
	for name := range top {
		link := filepath.Join(dir, name)
		if _, err := os.Lstat(link); err == nil {
			continue
		}
		if err := os.Symlink(filepath.Join(dataDirName, name), link); err != nil {
			return err
		}
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range ents {
		n := e.Name()
		if strings.HasPrefix(n, "..") {
			if n != ts && n != dataDirName && e.IsDir() {
				_ = os.RemoveAll(filepath.Join(dir, n))
			}
			continue
		}
		if !top[n] && e.Type()&os.ModeSymlink != 0 {
			_ = os.Remove(filepath.Join(dir, n))
		}
	}
	return nil
}

// samePayload reports whether dir holds exactly payload's files, contents and modes.
func samePayload(dir string, payload map[string]volumeFile) bool {
	n := 0
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		f, ok := payload[rel]
		if !ok {
			return os.ErrNotExist
		}
		st, err := d.Info()
		if err != nil || st.Mode().Perm() != f.mode.Perm() {
			return os.ErrNotExist
		}
		b, err := os.ReadFile(path)
		if err != nil || !bytes.Equal(b, f.data) {
			return os.ErrNotExist
		}
		n++
		return nil
	})
	return err == nil && n == len(payload)
}
