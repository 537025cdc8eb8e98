package robustness_test

import (
	"flag"
	"os"
	"strconv"
	"testing"

	"github.com/keeldb/keel/internal/proccluster"
)

// Environment variables the suite reads.
const (
	// envSeed fixes the seed (as -seed does); make robustness passes SEED through.
	envSeed = "SEED"
	// envDuration turns TestRobustnessRandom on and bounds it (a Go duration, e.g. 10m).
	envDuration = "KEEL_ROBUSTNESS_DURATION"
	// envArtifacts is where a failed scenario keeps its history, logs and visualization;
	// the system's temporary directory when unset.
	envArtifacts = "KEEL_ROBUSTNESS_ARTIFACTS"
	// envLogDir, when set, receives the member logs of every scenario as they are written
	// (to follow a run live; later scenarios append to the same m<i>.log files).
	envLogDir = "KEEL_ROBUSTNESS_LOGDIR"
)

var seedFlag = flag.Uint64("seed", 0, "seed of the scenarios (0: $SEED, else each CI scenario's fixed seed, or a time-based one for TestRobustnessRandom)")

func TestMain(m *testing.M) {
	flag.Parse()
	code := m.Run()
	proccluster.RemoveBuilds()
	os.Exit(code)
}

// seedOverride returns the seed given with -seed or $SEED, if any.
func seedOverride(t *testing.T) (uint64, bool) {
	t.Helper()
	if *seedFlag != 0 {
		return *seedFlag, true
	}
	if v := os.Getenv(envSeed); v != "" {
		s, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("%s=%q: %v", envSeed, v, err)
		}
		return s, true
	}
	return 0, false
}
