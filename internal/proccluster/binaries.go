package proccluster

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// Environment variables read by the binary helpers.
const (
	// EnvRequireEtcd set to "1" turns a missing etcd or etcdctl binary into a test failure
	// instead of a skip. CI sets it, because CI installs etcd.
	EnvRequireEtcd = "KEEL_REQUIRE_ETCD"
	// EnvKeeldBinary names a prebuilt keeld to use instead of building ./cmd/keeld.
	EnvKeeldBinary = "KEEL_KEELD_BINARY"
	// EnvKeeldRace set to "1" builds keeld with -race.
	EnvKeeldRace = "KEEL_KEELD_RACE"
)

// keeldPackage is the import path BuildKeeld builds.
const keeldPackage = "github.com/keeldb/keel/cmd/keeld"

// build caches the one keeld build per test binary.
var build struct {
	once sync.Once
	path string
	err  error
}

// ModuleRoot returns the directory of the main module's go.mod, found with `go env GOMOD` from
// the test's working directory. It fails the test when there is no module.
func ModuleRoot(t testing.TB) string {
	t.Helper()
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		t.Fatalf("proccluster: go env GOMOD: %v", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		t.Fatalf("proccluster: not inside a Go module (go env GOMOD = %q)", gomod)
	}
	return filepath.Dir(gomod)
}

// KeeldAvailable reports whether the cmd/keeld source directory exists in the module (or
// KEEL_KEELD_BINARY names a binary), so callers can decide to run the Keel side of a test.
func KeeldAvailable(t testing.TB) bool {
	t.Helper()
	if os.Getenv(EnvKeeldBinary) != "" {
		return true
	}
	st, err := os.Stat(filepath.Join(ModuleRoot(t), "cmd", "keeld"))
	return err == nil && st.IsDir()
}

// BuildKeeld returns the path of a keeld binary built from ./cmd/keeld of the module under
// test. It builds at most once per test binary (later calls reuse the result, including a
// build failure). KEEL_KEELD_BINARY overrides the build; KEEL_KEELD_RACE=1 builds with -race.
//
// It skips the test with a clear message while cmd/keeld does not exist, and fails it when the
// build fails. The binary lives in a temporary directory shared by all tests of the binary;
// call RemoveBuilds from TestMain to delete it.
func BuildKeeld(t testing.TB) string {
	t.Helper()
	if p := os.Getenv(EnvKeeldBinary); p != "" {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("proccluster: %s=%q: %v", EnvKeeldBinary, p, err)
		}
		return p
	}
	if !KeeldAvailable(t) {
		t.Skip("proccluster: cmd/keeld does not exist yet; skipping the Keel side (set " +
			EnvKeeldBinary + " to use a prebuilt binary)")
	}
	root := ModuleRoot(t)
	build.once.Do(func() {
		dir, err := os.MkdirTemp("", "keel-proccluster-")
		if err != nil {
			build.err = err
			return
		}
		out := filepath.Join(dir, "keeld")
		args := []string{"build", "-o", out}
		if os.Getenv(EnvKeeldRace) == "1" {
			args = append(args, "-race")
		}
		args = append(args, keeldPackage)
		cmd := exec.Command("go", args...)
		cmd.Dir = root
		var buf bytes.Buffer
		cmd.Stdout, cmd.Stderr = &buf, &buf
		if err := cmd.Run(); err != nil {
			build.err = errors.New("go " + strings.Join(args, " ") + ": " + err.Error() + "\n" + buf.String())
			return
		}
		build.path = out
	})
	if build.err != nil {
		t.Fatalf("proccluster: building keeld: %v", build.err)
	}
	return build.path
}

// RemoveBuilds deletes the binary BuildKeeld built, if any. Call it from TestMain after m.Run.
func RemoveBuilds() {
	if build.path != "" {
		_ = os.RemoveAll(filepath.Dir(build.path))
	}
}

// EtcdBinary returns the path of the etcd server found on PATH (Debian installs
// /usr/bin/etcd). It skips the test when etcd is missing, or fails it when
// KEEL_REQUIRE_ETCD=1.
func EtcdBinary(t testing.TB) string {
	t.Helper()
	return lookTool(t, "etcd")
}

// EtcdctlBinary returns the path of etcdctl found on PATH, with the same skip/fail rule as
// EtcdBinary.
func EtcdctlBinary(t testing.TB) string {
	t.Helper()
	return lookTool(t, "etcdctl")
}

func lookTool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	msg := "proccluster: " + name + " not found on PATH (" + err.Error() + "); install it (Debian: apt-get install etcd-server etcd-client)"
	if os.Getenv(EnvRequireEtcd) == "1" {
		t.Fatal(msg + "; failing because " + EnvRequireEtcd + "=1")
	}
	t.Skip(msg + "; set " + EnvRequireEtcd + "=1 to fail instead")
	return ""
}
