package scheduler

import (
	"testing"

	"github.com/keeldb/keel/orchestrator/api"
)

func TestWithVolumeAffinity(t *testing.T) {
	node := func(name, zone string) *api.Node {
		return &api.Node{ObjectMeta: api.ObjectMeta{Name: name, Labels: map[string]string{"kubernetes.io/hostname": name, "zone": zone}}}
	}
	p := &api.Pod{}
	if withVolumeAffinity(p, nil) != p {
		t.Fatal("without volumes the pod is not copied")
	}
	// The pod wants zone a or b; its volume is on n2: only n2 (zone b) fits.
	p.Spec.Affinity = &api.Affinity{NodeAffinity: &api.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &api.NodeSelector{
		NodeSelectorTerms: []api.NodeSelectorTerm{
			{MatchExpressions: []api.NodeSelectorRequirement{{Key: "zone", Operator: "In", Values: []string{"a"}}}},
			{MatchExpressions: []api.NodeSelectorRequirement{{Key: "zone", Operator: "In", Values: []string{"b"}}}},
		}}}}
	fit := withVolumeAffinity(p, []*api.NodeSelector{api.HostnameAffinity("n2").Required})
	m := api.NewNodeMatcher(&fit.Spec)
	for _, tc := range []struct {
		n    *api.Node
		want bool
	}{{node("n1", "a"), false}, {node("n2", "b"), true}, {node("n2", "c"), false}} {
		if got := m.Matches(tc.n); got != tc.want {
			t.Errorf("%s zone %s: matches %v, want %v", tc.n.Name, tc.n.Labels["zone"], got, tc.want)
		}
	}
	if len(p.Spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms) != 2 {
		t.Error("the pod itself was changed")
	}
}
