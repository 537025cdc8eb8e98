// Package orche2e_test is the orchestrator's end-to-end suite: keeld and orch run as
// separate processes, as users run them, and the tests drive them through orch ctl and
// check the store.
package orche2e_test

import (
	"os"
	"testing"

	"github.com/keeldb/keel/internal/proccluster"
)

func TestMain(m *testing.M) {
	code := m.Run()
	proccluster.RemoveBuilds()
	os.Exit(code)
}

func writeFile(path, content string) error { return os.WriteFile(path, []byte(content), 0o644) }
