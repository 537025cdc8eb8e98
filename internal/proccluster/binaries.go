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

// builds caches one build per package and set of tags per test binary.
var builds struct {
	mu    sync.Mutex
	byPkg map[string]*buildResult
}

type buildResult struct {
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
	return buildPackage(t, keeldPackage, os.Getenv(EnvKeeldRace) == "1")
}

// BuildKeeldWithTags is BuildKeeld with build tags, e.g. "failpoints" for a keeld with
// gofail's failpoints compiled in (internal/failpoint). Each set of tags is built at most once
// per test binary, beside BuildKeeld's build (call RemoveBuilds from TestMain).
// KEEL_KEELD_RACE=1 builds with -race; KEEL_KEELD_BINARY is ignored, since a prebuilt binary
// may lack the tags. It skips the test while cmd/keeld does not exist.
func BuildKeeldWithTags(t testing.TB, tags ...string) string {
	t.Helper()
	if st, err := os.Stat(filepath.Join(ModuleRoot(t), "cmd", "keeld")); err != nil || !st.IsDir() {
		t.Skip("proccluster: cmd/keeld does not exist yet; skipping the Keel side")
	}
	return buildPackage(t, keeldPackage, os.Getenv(EnvKeeldRace) == "1", tags...)
}

// BuildOrch returns the path of an orch binary built from ./cmd/orch, once per test binary,
// next to keeld's build (call RemoveBuilds from TestMain).
func BuildOrch(t testing.TB) string {
	t.Helper()
	return buildPackage(t, orchPackage, false)
}

// orchPackage is the import path BuildOrch builds.
const orchPackage = "github.com/keeldb/keel/cmd/orch"

// buildPackage builds pkg with tags once per test binary into its own temporary directory.
func buildPackage(t testing.TB, pkg string, race bool, tags ...string) string {
	t.Helper()
	root := ModuleRoot(t)
	key := pkg
	if len(tags) > 0 {
		key += " -tags=" + strings.Join(tags, ",")
	}
	builds.mu.Lock()
	if builds.byPkg == nil {
		builds.byPkg = map[string]*buildResult{}
	}
	b := builds.byPkg[key]
	if b == nil {
		b = &buildResult{}
		builds.byPkg[key] = b
	}
	builds.mu.Unlock()
	b.once.Do(func() {
		dir, err := os.MkdirTemp("", "keel-proccluster-")
		if err != nil {
			b.err = err
			return
		}
		out := filepath.Join(dir, filepath.Base(pkg))
		args := []string{"build", "-o", out}
		if race {
			args = append(args, "-race")
		}
		if len(tags) > 0 {
			args = append(args, "-tags="+strings.Join(tags, ","))
		}
		args = append(args, pkg)
		cmd := exec.Command("go", args...)
		cmd.Dir = root
		var buf bytes.Buffer
		cmd.Stdout, cmd.Stderr = &buf, &buf
		if err := cmd.Run(); err != nil {
			b.err = errors.New("go " + strings.Join(args, " ") + ": " + err.Error() + "\n" + buf.String())
			return
		}
		b.path = out
	})
	if b.err != nil {
		t.Fatalf("proccluster: building %s: %v", key, b.err)
	}
	return b.path
}

// RemoveBuilds deletes the binaries BuildKeeld and BuildOrch built, if any. Call it from
// TestMain after m.Run.
func RemoveBuilds() {
	builds.mu.Lock()
	defer builds.mu.Unlock()
	for _, b := range builds.byPkg {
		if b.path != "" {
			_ = os.RemoveAll(filepath.Dir(b.path))
		}
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
