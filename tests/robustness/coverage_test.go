package robustness_test

import (
	"testing"

	"github.com/keeldb/keel/internal/failpoint"
)

// TestFaultCoverage fails when a failpoint of failpoint.All() or a network fault kind has no
// fault in the random pool (allFaults) or is not injected by some scenario of the CI subset
// (ciScenarios, chains flattened), so a new failpoint or kind cannot be forgotten.
func TestFaultCoverage(t *testing.T) {
	type seen struct{ pool, ci bool }
	fps := map[failpoint.Name]*seen{}
	for _, n := range failpoint.All() {
		fps[n] = &seen{}
	}
	kinds := map[netKind]*seen{}
	for _, k := range netKinds() {
		kinds[k] = &seen{}
	}
	mark := func(f Fault, ci bool) {
		set := func(s *seen) {
			if s == nil {
				return
			}
			if ci {
				s.ci = true
			} else {
				s.pool = true
			}
		}
		switch f := f.(type) {
		case failpointFault:
			if fps[f.fp] == nil {
				t.Errorf("fault %s arms %s, which failpoint.All() does not list", f.Name(), f.fp)
			}
			set(fps[f.fp])
		case netFault:
			set(kinds[f.kind])
		}
	}
	names := map[string]bool{}
	for _, f := range allFaults() {
		if names[f.Name()] {
			t.Errorf("two faults named %s in allFaults", f.Name())
		}
		names[f.Name()] = true
		if !f.Available(1) && !f.Available(3) && !f.Available(5) {
			t.Errorf("fault %s is available at no cluster size", f.Name())
		}
		mark(f, false)
	}
	for _, sc := range ciScenarios() {
		if !sc.Fault.Available(sc.Members) {
			t.Errorf("CI scenario %s: fault %s is not available with %d members", sc.Name, sc.Fault.Name(), sc.Members)
		}
		for _, f := range flatten(sc.Fault) {
			mark(f, true)
		}
	}
	for _, n := range failpoint.All() {
		if !fps[n].pool {
			t.Errorf("failpoint %s has no fault in allFaults (add one to failpointFaults)", n)
		}
		if !fps[n].ci {
			t.Errorf("failpoint %s is not injected by any CI scenario (add it to a chain in ciScenarios)", n)
		}
	}
	for _, k := range netKinds() {
		if !kinds[k].pool {
			t.Errorf("network fault %s has no fault in allFaults (add one to netFaults)", k)
		}
		if !kinds[k].ci {
			t.Errorf("network fault %s is not injected by any CI scenario (add it to a chain in ciScenarios)", k)
		}
	}
}
