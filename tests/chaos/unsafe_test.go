package chaos_test

import (
	"strings"
	"testing"

	"github.com/anishathalye/porcupine"

	"github.com/keeldb/keel/internal/kvhist"
)

// maxProbes bounds the pause/resume rounds TestCheckerCatchesStaleReads tries.
const maxProbes = 4

// TestCheckerCatchesStaleReads proves the checker can fail. keeld runs with the test-only
// --unsafe-local-linearizable-reads, which serves linearizable reads from local state. The
// probe of TestPauseLeader (pause the leader, write through the new one, read from the old
// one as it resumes) then gets a stale read, and porcupine must call the history not
// linearizable: both the probe key's history alone and the whole scenario's.
func TestCheckerCatchesStaleReads(t *testing.T) {
	s := startScenario(t, "--unsafe-local-linearizable-reads")
	s.progress(progressWrites)
	stale := 0
	for round := 0; round < maxProbes && stale == 0; round++ {
		stale += s.staleReadProbe().stale
	}
	if stale == 0 {
		t.Fatalf("no stale read in %d pause/resume rounds: the broken read path was not exercised", maxProbes)
	}
	o := s.finish(true)
	probe, _ := kvhist.CheckLinearizable(probeOps(s.rec.Snapshot().Ops), checkTimeout, "")
	if probe != porcupine.Illegal {
		t.Errorf("porcupine on the probe key's history with %d stale reads: %v, want %v", stale, probe, porcupine.Illegal)
	}
	if o.linearizable != porcupine.Illegal {
		t.Errorf("porcupine on the whole history: %v, want %v", o.linearizable, porcupine.Illegal)
	}
	if !t.Failed() {
		t.Logf("chaos unsafe-local-reads: ops %d, faults [%s], %d stale reads observed by the probe, "+
			"linearizable: NOT linearizable (as required; probe key's history: %v, whole history: %v)",
			o.ops, strings.Join(s.faults, "; "), stale, probe, o.linearizable)
	}
}
