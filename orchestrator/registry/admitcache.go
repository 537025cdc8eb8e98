package registry

import (
	"sync"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/keeldb/keel/orchestrator/api"
)

// The cache of policy-free namespaces (issue 17). Admission reads the LimitRanges and the
// ResourceQuotas of a namespace at every create (admission.go); a ReplicaSet creating
// 150,000 pods in a namespace that has neither spends more on those two reads than on its
// create transaction. A Store remembers, per namespace, a store revision R at which the
// namespace had no LimitRange and no ResourceQuota (the header revision of the reads that
// found both prefixes empty), and a create in such a namespace skips both reads: its
// transaction instead holds, per prefix, the guard
//
//	mod_revision(prefix) < R+1, over the whole prefix
//
// A range compare holds when every key of the range satisfies it and, over an empty range,
// compares a zero KeyValue (mod_revision 0), as etcd's applyCompare (Keel's apply.compare
// does the same; tests/compat checks it against etcd). Since the prefix was empty at R, a
// key in it now was put after R, so the guard holds exactly while the prefix is still empty:
// a LimitRange or ResourceQuota created by any writer, this process or another, fails the
// create, which then drops the namespace and is admitted again through the reads. Every
// write still goes through the store's compare-and-swap; the cache only saves reads.
// LimitRanges and ResourceQuotas deleted since do not matter (the guard only sees keys that
// exist). Any R at or below the revision a prefix was read empty at is as exact, so one R,
// the lower of the two reads', serves both prefixes.

// maxEmptyNamespaces bounds the cache; past it an arbitrary entry is forgotten (its next
// create reads again).
const maxEmptyNamespaces = 4096

// emptyPolicies maps namespaces to a revision at which they had no LimitRange and no
// ResourceQuota. It is safe for concurrent use.
type emptyPolicies struct {
	// mu guards revs.
	mu   sync.Mutex
	revs map[string]int64
}

func newEmptyPolicies() *emptyPolicies { return &emptyPolicies{revs: map[string]int64{}} }

// get returns the revision ns was known empty at, if it is.
func (c *emptyPolicies) get(ns string) (int64, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	rev, ok := c.revs[ns]
	return rev, ok
}

// put records that ns was empty at rev; a later revision replaces an earlier one (both are
// exact, the later fails fewer guards).
func (c *emptyPolicies) put(ns string, rev int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cur, ok := c.revs[ns]; ok {
		c.revs[ns] = max(cur, rev)
		return
	}
	if len(c.revs) >= maxEmptyNamespaces {
		for k := range c.revs {
			delete(c.revs, k)
			break
		}
	}
	c.revs[ns] = rev
}

// drop forgets ns if it is still recorded at rev (a newer record is left alone).
func (c *emptyPolicies) drop(ns string, rev int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.revs[ns] == rev {
		delete(c.revs, ns)
	}
}

// len returns the number of namespaces recorded (tests).
func (c *emptyPolicies) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.revs)
}

// policyPrefixes returns the key prefixes of the namespace's policies that s's creates are
// admitted by: its ResourceQuotas and, for pods and claims, its LimitRanges. Each ends with
// "/", so it covers exactly that namespace's objects.
func (s *Store[T, P]) policyPrefixes(ns string) []string {
	prefixes := []string{s.siblingPrefix(api.ResourceQuotaResource.Name, ns)}
	if s.limited {
		prefixes = append(prefixes, s.siblingPrefix(api.LimitRangeResource.Name, ns))
	}
	return prefixes
}

// emptyGuards returns the compares that hold while the namespace's policy prefixes, empty
// at rev, still are, and count-only reads of the same prefixes for the Else of the guarded
// create: a non-zero count says a guard failed.
func (s *Store[T, P]) emptyGuards(ns string, rev int64) ([]clientv3.Cmp, []clientv3.Op) {
	prefixes := s.policyPrefixes(ns)
	cmps := make([]clientv3.Cmp, 0, len(prefixes))
	probes := make([]clientv3.Op, 0, len(prefixes))
	for _, p := range prefixes {
		cmps = append(cmps, clientv3.Compare(clientv3.ModRevision(p), "<", rev+1).WithPrefix())
		probes = append(probes, clientv3.OpGet(p, clientv3.WithPrefix(), clientv3.WithCountOnly()))
	}
	return cmps, probes
}
