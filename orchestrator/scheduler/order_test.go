package scheduler

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestNodeOrder checks that nodes added in any order, updated and deleted keep order
// sorted by name with each node once, and that the cached requests follow the pods.
func TestNodeOrder(t *testing.T) {
	s := New(nil, Config{})
	var names []string
	for i := range 200 {
		names = append(names, fmt.Sprintf("node-%03d", i))
	}
	rng := rand.New(rand.NewPCG(1, 2))
	rng.Shuffle(len(names), func(i, j int) { names[i], names[j] = names[j], names[i] })
	for _, n := range names {
		s.nodeChanged(readyNode(n, nil, "4", "8Gi"))
	}
	for _, n := range names[:50] { // updates do not add
		s.nodeChanged(readyNode(n, nil, "8", "8Gi"))
	}
	deleted := names[50]
	s.nodeDeleted(readyNode(deleted, nil, "4", "8Gi"))
	want := slices.DeleteFunc(slices.Clone(names), func(n string) bool { return n == deleted })
	slices.Sort(want)
	var got []string
	for _, ni := range s.order {
		got = append(got, ni.node.Name)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("order = %v\nwant %v", got, want)
	}
	ni := s.infos[names[0]]
	if ni.allocCPU != 8000 {
		t.Fatalf("allocCPU = %d after the update to 8 cpus, want 8000", ni.allocCPU)
	}
	rec := recordOf(podWith("1500m", nil))
	ni.add(rec)
	if ni.reqCPU != 1500 {
		t.Fatalf("reqCPU = %d, want 1500", ni.reqCPU)
	}
	ni.remove(rec)
	if ni.reqCPU != 0 || ni.reqMem != 0 {
		t.Fatalf("requests after remove = %d cpu, %d memory, want 0", ni.reqCPU, ni.reqMem)
	}
}
