package robustness_test

import (
	"fmt"
	"math/rand/v2"
	"os"
	"testing"
	"time"
)

// ciScenarios is TestRobustness's fixed subset: every process fault and profile at least
// once, over cluster sizes 1, 3 and 5, a few seconds of traffic each, and every failpoint and
// network fault kind at least once in chains (TestFaultCoverage checks).
func ciScenarios() []Scenario {
	return []Scenario{
		{Name: "kv-1-restart", Members: 1, Traffic: kvProfile, Fault: restartFault{anyMember}, Seed: 101},
		{Name: "kv-3-pause-leader", Members: 3, Traffic: kvProfile, Fault: pauseFault{leaderMember}, Seed: 102},
		{Name: "kv-3-restart-follower", Members: 3, Traffic: kvProfile, Fault: restartFault{followerMember}, Seed: 103},
		{Name: "kv-5-kill-leader", Members: 5, Traffic: kvProfile, Fault: killFault{leaderMember}, Seed: 104},
		{Name: "kv-3-member-replace", Members: 3, Traffic: kvProfile, Fault: memberReplaceFault{}, Seed: 105},
		{Name: "k8s-3-kill-follower", Members: 3, Traffic: k8sProfile, Fault: killFault{followerMember}, Seed: 106},
		{Name: "k8s-1-kill", Members: 1, Traffic: k8sProfile, Fault: killFault{anyMember}, Seed: 107},
		{Name: "lock-3-kill-leader", Members: 3, Traffic: lockProfile, Fault: killFault{leaderMember}, Seed: 108},
		{Name: "lock-5-pause-member", Members: 5, Traffic: lockProfile, Fault: pauseFault{anyMember}, Seed: 109},
		// Every failpoint and network fault at least once (TestFaultCoverage checks), as
		// chains: one cluster each, every fault healed before the next.
		{Name: "kv-3-failpoints", Members: 3, Traffic: kvProfile, Seed: 110, Fault: chain("failpoints-raft-backend-lease-forward-watch",
			"raftBeforeSave-panic-leader", "raftAfterSave-panic-follower", "backendBeforeCommit-panic-member",
			"backendAfterCommit-panic-member", "beforeForwardReply-panic-leader", "beforeSendWatchResponse-panic-member",
			"beforeLeaseRevoke-panic-member", "afterLeaseRevoke-panic-member", "beforeLeaseCheckpoint-panic-member",
			"raftBeforeSave-sleep-leader", "beforeForwardReply-sleep-leader", "beforeSendWatchResponse-sleep-member")},
		{Name: "k8s-3-failpoints", Members: 3, Traffic: k8sProfile, Seed: 111, Fault: chain("failpoints-compact-defrag-snapshot",
			"compactBeforeCommitBatch-panic-member", "compactAfterCommitBatch-panic-member", "compactBeforeCommitBatch-sleep-member",
			"defragBeforeCopy-panic-member", "defragBeforeRename-panic-member",
			"defragAfterCatchUp-panic-member", "defragAfterRename-panic-member",
			"raftBeforeSaveSnap-panic-member", "raftAfterSaveSnap-panic-member",
			"beforeRestoreSwap-panic-follower", "afterRestoreSwap-panic-follower")},
		{Name: "kv-3-network", Members: 3, Traffic: kvProfile, Seed: 112, Fault: chain("network",
			"net-blackhole-leader", "net-blackhole-follower", "net-blackhole-tx-leader", "net-blackhole-rx-follower",
			"net-partition-pair-leader", "net-delay-member", "net-drop-member", "net-blackhole-until-snapshot-follower")},
	}
}

// TestRobustness runs the fixed-seed subset; every scenario must pass every check. -seed (or
// $SEED) replaces each scenario's seed.
func TestRobustness(t *testing.T) {
	override, ok := seedOverride(t)
	for _, sc := range ciScenarios() {
		t.Run(sc.Name, func(t *testing.T) {
			if ok {
				sc.Seed = override
			}
			sc.Repro = reproduce("TestRobustness$/^"+sc.Name+"$", sc.Seed)
			failOn(t, sc, runScenario(t, sc, true))
		})
	}
}

// TestRobustnessRandom runs random scenarios (size, profile, fault) until
// $KEEL_ROBUSTNESS_DURATION has passed; scenario n takes the seed seed+n, so any one of them
// replays alone with -seed (and a short duration). Skipped unless the variable is set
// (make robustness sets it).
func TestRobustnessRandom(t *testing.T) {
	v := os.Getenv(envDuration)
	if v == "" {
		t.Skipf("set %s (e.g. 10m) to run random scenarios; make robustness DURATION=... does", envDuration)
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		t.Fatalf("%s=%q: %v", envDuration, v, err)
	}
	seed, ok := seedOverride(t)
	if !ok {
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("robustness: seed %d; replay with SEED=%d", seed, seed)
	deadline := time.Now().Add(d)
	for n := uint64(0); n == 0 || time.Now().Before(deadline); n++ {
		sc := randomScenario(seed + n)
		sc.Repro = fmt.Sprintf("%s=1s %s", envDuration, reproduce("TestRobustnessRandom", sc.Seed))
		if !t.Run(sc.Name, func(t *testing.T) { failOn(t, sc, runScenario(t, sc, true)) }) {
			return
		}
	}
}

// profiles are the traffic profiles TestRobustnessRandom picks from.
func profiles() []Profile { return []Profile{kvProfile, k8sProfile, lockProfile} }

// randomScenario derives a scenario from its seed alone.
func randomScenario(seed uint64) Scenario {
	rng := rand.New(rand.NewPCG(seed, 0x5ce))
	sizes := []int{1, 3, 5}
	members := sizes[rng.IntN(len(sizes))]
	ps := profiles()
	p := ps[rng.IntN(len(ps))]
	var faults []Fault
	for _, f := range allFaults() {
		if f.Available(members) {
			faults = append(faults, f)
		}
	}
	f := faults[rng.IntN(len(faults))]
	return Scenario{Name: fmt.Sprintf("%s-%d-%s-%d", p.Name, members, f.Name(), seed), Members: members,
		Traffic: p, Fault: f, Seed: seed}
}

// mutations are the deliberate bugs keeld's test-only flags switch on, each with the name of
// the CI subset's scenario that must catch it and the checks that may report it.
func mutations() []struct {
	flag, scenario string
	checks         []string
} {
	return []struct {
		flag, scenario string
		checks         []string
	}{
		{"--unsafe-local-linearizable-reads", "kv-3-pause-leader", []string{"linearizable"}},
		{"--unsafe-drop-watch-events", "kv-3-restart-follower", []string{"watch", "lost-write", "lease"}},
		{"--unsafe-lose-acked-writes", "kv-1-restart", []string{"lost-write", "linearizable", "watch", "lease"}},
	}
}

// ciScenario returns the CI subset's scenario of that name.
func ciScenario(t *testing.T, name string) Scenario {
	t.Helper()
	for _, sc := range ciScenarios() {
		if sc.Name == name {
			return sc
		}
	}
	t.Fatalf("no scenario %q in the CI subset", name)
	return Scenario{}
}

// TestMutations proves the checks can fail: with each test-only bug switched on, its
// scenario must report a violation of one of the expected checks. (TestRobustness proves the
// other side: with the flags off, no violation.)
func TestMutations(t *testing.T) {
	override, ok := seedOverride(t)
	for _, m := range mutations() {
		t.Run(m.scenario, func(t *testing.T) {
			sc := ciScenario(t, m.scenario)
			if ok {
				sc.Seed = override
			}
			sc.ExtraArgs = []string{m.flag}
			sc.Repro = reproduce("TestMutations/^"+sc.Name+"$", sc.Seed)
			rep := runScenario(t, sc, false)
			caught := false
			for _, c := range m.checks {
				caught = caught || rep.has(c)
			}
			if !caught {
				t.Errorf("with %s, scenario %s (seed %d) found no %v violation (found %v)\nreproduce: %s",
					m.flag, sc.Name, sc.Seed, m.checks, rep.violations, sc.Repro)
				return
			}
			t.Logf("robustness mutation %s: caught by scenario %s: %d violations, first: %s",
				m.flag, sc.Name, len(rep.violations), rep.violations[0])
		})
	}
}
