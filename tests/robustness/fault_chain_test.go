package robustness_test

import (
	"context"
	"fmt"

	"github.com/keeldb/keel/internal/proccluster"
)

// chainFault injects several faults one after the other on one cluster, each healed (and the
// traffic making progress again) before the next: TestRobustness covers every failpoint and
// network fault with a few clusters instead of one per fault. Each is recorded as fired.
type chainFault struct {
	name   string
	faults []Fault
}

// chain builds a chain of the pool's faults by name; a name not in the pool panics, so the
// CI subset only runs faults the random mode also knows.
func chain(name string, faults ...string) chainFault {
	c := chainFault{name: name}
	for _, n := range faults {
		c.faults = append(c.faults, poolFault(n))
	}
	return c
}

// poolFault returns allFaults' fault of that name.
func poolFault(name string) Fault {
	for _, f := range allFaults() {
		if f.Name() == name {
			return f
		}
	}
	panic(fmt.Sprintf("robustness: no fault %q in allFaults", name))
}

func (c chainFault) Name() string { return c.name }

func (c chainFault) Available(n int) bool {
	for _, f := range c.faults {
		if !f.Available(n) {
			return false
		}
	}
	return true
}

// ConfigureCluster sets the cluster up for every fault of the chain.
func (c chainFault) ConfigureCluster(cfg *proccluster.Config) {
	for _, f := range c.faults {
		if cc, ok := f.(ClusterConfigurer); ok {
			cc.ConfigureCluster(cfg)
		}
	}
}

func (c chainFault) compacts() bool {
	for _, f := range c.faults {
		if faultCompacts(f) {
			return true
		}
	}
	return false
}

func (c chainFault) Inject(ctx context.Context, env *Env) error {
	for k, f := range c.faults {
		env.Note("chain %s: fault %d/%d: %s", c.name, k+1, len(c.faults), f.Name())
		fctx, cancel := context.WithTimeout(ctx, faultTimeout)
		err := f.Inject(fctx, env)
		if err == nil {
			err = env.WaitProgress(fctx, downWrites) // healed: the traffic goes on
		}
		cancel()
		if err != nil {
			return fmt.Errorf("chain %s: %s: %w", c.name, f.Name(), err)
		}
		env.Fired(f.Name())
	}
	return nil
}

// flatten returns the faults a fault injects: a chain's, else itself.
func flatten(f Fault) []Fault {
	if c, ok := f.(chainFault); ok {
		return c.faults
	}
	return []Fault{f}
}

// faultSteps is how many faults f injects, each with its own faultTimeout.
func faultSteps(f Fault) int { return len(flatten(f)) }

// faultCompacts reports whether f compacts the history (the member watchers must then be
// ready to re-list, as with a compacting profile).
func faultCompacts(f Fault) bool {
	cf, ok := f.(interface{ compacts() bool })
	return ok && cf.compacts()
}
