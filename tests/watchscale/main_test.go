// Package watchscale_test proves Keel's watch guarantees at scale against real keeld processes:
// 10,000 watchers over 100 gRPC watch streams on one member of a 3-member cluster, under a
// concurrent write load and across a kill -9 and restart of that member (docs/RELIABILITY.md
// "Invariants", I4). Every watcher's stream must be ordered, gap-free and duplicate-free
// against the full history, with clients resuming from their last received revision + 1. The
// put-to-event latency and the member's RSS are reported, not asserted.
package watchscale_test

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
