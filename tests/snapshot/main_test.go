// Package snapshot_test checks disaster recovery from a snapshot with real processes: keys
// written to a 3-member keeld cluster are saved with Debian's `etcdctl snapshot save`, restored
// with `keelctl snapshot restore` into the data dirs of a new 3-member cluster, and that
// cluster starts with every key, the revision, the leases and the history hash of the
// original, under its own cluster ID, and goes on from the restored revision.
package snapshot_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keeldb/keel/internal/poll"
	"github.com/keeldb/keel/internal/proccluster"
)

var keelctlBuild struct {
	once sync.Once
	dir  string
	path string
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	proccluster.RemoveBuilds()
	if keelctlBuild.dir != "" {
		_ = os.RemoveAll(keelctlBuild.dir)
	}
	os.Exit(code)
}

// buildKeelctl builds cmd/keelctl once per test binary.
func buildKeelctl(t *testing.T) string {
	t.Helper()
	root := proccluster.ModuleRoot(t)
	keelctlBuild.once.Do(func() {
		dir, err := os.MkdirTemp("", "keelctl-")
		if err != nil {
			keelctlBuild.err = err
			return
		}
		keelctlBuild.dir = dir
		out := filepath.Join(dir, "keelctl")
		cmd := exec.Command("go", "build", "-o", out, "github.com/keeldb/keel/cmd/keelctl")
		cmd.Dir = root
		var buf bytes.Buffer
		cmd.Stdout, cmd.Stderr = &buf, &buf
		if err := cmd.Run(); err != nil {
			keelctlBuild.err = errors.New("go build cmd/keelctl: " + err.Error() + "\n" + buf.String())
			return
		}
		keelctlBuild.path = out
	})
	if keelctlBuild.err != nil {
		t.Fatal(keelctlBuild.err)
	}
	return keelctlBuild.path
}

// runTool runs a command line and fails the test unless it exits 0; it returns the output.
func runTool(t *testing.T, ctx context.Context, env []string, name string, args ...string) string {
	t.Helper()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = env
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s", filepath.Base(name), strings.Join(args, " "), err, out.String())
	}
	return out.String()
}

// cleanEnv is the test environment without ETCDCTL_* settings, plus extra.
func cleanEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "ETCDCTL_") {
			env = append(env, kv)
		}
	}
	return append(env, extra...)
}

// flagValue returns the value following name in args ("" if absent).
func flagValue(args []string, name string) string {
	for i := 0; i+1 < len(args); i++ {
		if args[i] == name {
			return args[i+1]
		}
	}
	return ""
}

// eventually polls f, each attempt bounded by 10 s, until it holds or ctx ends.
func eventually(t *testing.T, ctx context.Context, what string, f func(context.Context) error) {
	t.Helper()
	poll.UntilEach(t, ctx, what, 10*time.Second, f)
}
