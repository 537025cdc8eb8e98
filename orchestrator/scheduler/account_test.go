package scheduler

import (
	"testing"

	"github.com/keeldb/keel/orchestrator/api"
)

// TestAccounting checks the incremental per-node bookkeeping the handlers keep.
func TestAccounting(t *testing.T) {
	s := New(nil, Config{})
	s.nodeChanged(readyNode("n1", nil, "4", "8Gi"))
	s.nodeChanged(readyNode("n2", nil, "4", "8Gi"))
	pod := func(rv, node string) *api.Pod {
		p := podWith("1", nil)
		p.ResourceVersion, p.Spec.NodeName = rv, node
		return p
	}
	used := func(node string) (int64, int) {
		s.mu.Lock()
		defer s.mu.Unlock()
		ni := s.infos[node]
		if ni == nil {
			return 0, 0
		}
		return ni.requested["cpu"], ni.pods
	}
	check := func(step, node string, cpu int64, pods int) {
		t.Helper()
		if c, n := used(node); c != cpu || n != pods {
			t.Fatalf("%s: %s has %dm cpu in %d pods, want %dm in %d", step, node, c, n, cpu, pods)
		}
	}

	s.podAdded(pod("10", ""))
	check("unbound pod", "n1", 0, 0)
	// The scheduler binds at revision 12 and assumes the pod at once.
	s.mu.Lock()
	rec := recordOf(pod("12", "n1"))
	rec.boundRV = 12
	s.recordLocked("default/p", rec)
	s.mu.Unlock()
	check("assumed", "n1", 1000, 1)
	s.podUpdated(pod("10", ""), pod("11", ""))
	check("stale unbound event after binding", "n1", 1000, 1)
	s.podUpdated(pod("11", ""), pod("12", "n1"))
	check("binding seen", "n1", 1000, 1)
	done := pod("13", "n1")
	done.Status.Phase = api.PodSucceeded
	s.podUpdated(pod("12", "n1"), done)
	check("terminal pod frees its node", "n1", 0, 0)
	s.podUpdated(done, pod("14", "n2"))
	check("bound elsewhere", "n2", 1000, 1)
	s.nodeDeleted(readyNode("n2", nil, "4", "8Gi"))
	if len(s.order) != 1 || s.order[0].node.Name != "n1" {
		t.Fatalf("order after deleting n2: %d nodes", len(s.order))
	}
	check("pods stay counted on a deleted node", "n2", 1000, 1)
	s.podDeleted(pod("14", "n2"))
	check("deleted pod", "n2", 0, 0)
	if len(s.infos) != 1 || len(s.records) != 0 {
		t.Fatalf("leftovers: %d infos, %d records", len(s.infos), len(s.records))
	}
}
