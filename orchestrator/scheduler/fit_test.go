package scheduler

import (
	"fmt"
	"strings"
	"testing"

	"github.com/keeldb/keel/orchestrator/api"
)

func readyNode(name string, lbls map[string]string, cpu, mem string) *api.Node {
	return &api.Node{
		ObjectMeta: api.ObjectMeta{Name: name, Labels: lbls},
		Status: api.NodeStatus{
			Allocatable: api.ResourceList{"cpu": api.Quantity(cpu), "memory": api.Quantity(mem), "pods": "3"},
			Conditions:  []api.NodeCondition{{Type: "Ready", Status: api.ConditionTrue}},
		},
	}
}

func podWith(cpu string, mutate func(*api.Pod)) *api.Pod {
	p := &api.Pod{ObjectMeta: api.ObjectMeta{Namespace: "default", Name: "p", UID: "u"},
		Spec: api.PodSpec{Containers: []api.Container{{Name: "c", Resources: api.ResourceRequirements{
			Requests: api.ResourceList{"cpu": api.Quantity(cpu)}}}}}}
	if mutate != nil {
		mutate(p)
	}
	return p
}

func TestFilter(t *testing.T) {
	affinity := func(op string, vals ...string) func(*api.Pod) {
		return func(p *api.Pod) {
			p.Spec.Affinity = &api.Affinity{NodeAffinity: &api.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &api.NodeSelector{
				NodeSelectorTerms: []api.NodeSelectorTerm{{MatchExpressions: []api.NodeSelectorRequirement{{Key: "zone", Operator: op, Values: vals}}}}}}}
		}
	}
	tolerate := func(tols ...api.Toleration) func(*api.Pod) { return func(p *api.Pod) { p.Spec.Tolerations = tols } }
	for _, tc := range []struct {
		name     string
		pod      *api.Pod
		node     func(*api.Node)
		existing []string // cpu requests of pods already on the node
		want     string   // "" = fits
	}{
		{name: "fits", pod: podWith("1", nil)},
		{name: "cpu exactly full", pod: podWith("1", nil), existing: []string{"2500m", "500m"}},
		{name: "insufficient cpu", pod: podWith("1001m", nil), existing: []string{"3"}, want: "Insufficient cpu"},
		{name: "too many pods", pod: podWith("0", nil), existing: []string{"0", "0", "0"}, want: reasonTooManyPods},
		{name: "insufficient memory", pod: podWith("0", func(p *api.Pod) {
			p.Spec.Containers[0].Resources.Requests["memory"] = "9Gi"
		}), want: "Insufficient memory"},
		{name: "init container larger than the sum", pod: podWith("1", func(p *api.Pod) {
			p.Spec.InitContainers = []api.Container{{Name: "i", Resources: api.ResourceRequirements{Requests: api.ResourceList{"cpu": "5"}}}}
		}), want: "Insufficient cpu"},
		{name: "unknown extended resource", pod: podWith("0", func(p *api.Pod) {
			p.Spec.Containers[0].Resources.Requests["example.com/gpu"] = "1"
		}), want: "Insufficient example.com/gpu"},
		{name: "not ready", pod: podWith("1", nil), node: func(n *api.Node) { n.Status.Conditions[0].Status = api.ConditionUnknown }, want: reasonNotReady},
		{name: "no ready condition", pod: podWith("1", nil), node: func(n *api.Node) { n.Status.Conditions = nil }, want: reasonNotReady},
		{name: "cordoned", pod: podWith("1", nil), node: func(n *api.Node) { n.Spec.Unschedulable = true }, want: reasonUnschedulable},
		{name: "cordoned but tolerated", pod: podWith("1", tolerate(api.Toleration{Key: TaintNodeUnschedulable, Operator: "Exists"})),
			node: func(n *api.Node) { n.Spec.Unschedulable = true }},
		{name: "node selector matches", pod: podWith("1", func(p *api.Pod) { p.Spec.NodeSelector = map[string]string{"zone": "a"} })},
		{name: "node selector differs", pod: podWith("1", func(p *api.Pod) { p.Spec.NodeSelector = map[string]string{"zone": "b"} }), want: reasonSelector},
		{name: "affinity In", pod: podWith("1", affinity("In", "a", "b"))},
		{name: "affinity NotIn", pod: podWith("1", affinity("NotIn", "a")), want: reasonSelector},
		{name: "affinity DoesNotExist", pod: podWith("1", affinity("DoesNotExist")), want: reasonSelector},
		{name: "affinity Gt", pod: podWith("1", func(p *api.Pod) {
			affinity("Gt", "3")(p)
			p.Spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms[0].MatchExpressions[0].Key = "rank"
		})},
		{name: "affinity empty term matches nothing", pod: podWith("1", func(p *api.Pod) {
			p.Spec.Affinity = &api.Affinity{NodeAffinity: &api.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &api.NodeSelector{
				NodeSelectorTerms: []api.NodeSelectorTerm{{}}}}}
		}), want: reasonSelector},
		{name: "matchFields names the node", pod: podWith("1", fieldAffinity("In", "n"))},
		{name: "matchFields names another node", pod: podWith("1", fieldAffinity("In", "m")), want: reasonSelector},
		{name: "matchFields NotIn", pod: podWith("1", fieldAffinity("NotIn", "n")), want: reasonSelector},
		{name: "NoSchedule taint", pod: podWith("1", nil), node: taint("NoSchedule"), want: "untolerated taint {dedicated: gpu}"},
		{name: "NoExecute taint", pod: podWith("1", nil), node: taint("NoExecute"), want: "untolerated taint"},
		{name: "PreferNoSchedule taint is not a filter", pod: podWith("1", nil), node: taint("PreferNoSchedule")},
		{name: "toleration Equal", pod: podWith("1", tolerate(api.Toleration{Key: "dedicated", Operator: "Equal", Value: "gpu", Effect: "NoSchedule"})), node: taint("NoSchedule")},
		{name: "toleration wrong value", pod: podWith("1", tolerate(api.Toleration{Key: "dedicated", Operator: "Equal", Value: "cpu"})), node: taint("NoSchedule"), want: "untolerated taint"},
		{name: "toleration wrong effect", pod: podWith("1", tolerate(api.Toleration{Key: "dedicated", Operator: "Exists", Effect: "NoExecute"})), node: taint("NoSchedule"), want: "untolerated taint"},
		{name: "toleration Exists without key", pod: podWith("1", tolerate(api.Toleration{Operator: "Exists"})), node: taint("NoExecute")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := readyNode("n", map[string]string{"zone": "a", "rank": "5"}, "4", "8Gi")
			if tc.node != nil {
				tc.node(n)
			}
			ni := newNodeInfo(n)
			for _, cpu := range tc.existing {
				other := podWith(cpu, nil)
				other.Spec.NodeName = "n"
				ni.addPod(other)
			}
			got := filter(newPodFit(tc.pod), ni)
			if tc.want == "" && got != "" || !strings.Contains(got, tc.want) {
				t.Fatalf("filter = %q, want %q", got, tc.want)
			}
		})
	}
}

// fieldAffinity is a required node affinity on the node's name, as DaemonSet pods carry.
func fieldAffinity(op, name string) func(*api.Pod) {
	return func(p *api.Pod) {
		p.Spec.Affinity = &api.Affinity{NodeAffinity: &api.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &api.NodeSelector{
			NodeSelectorTerms: []api.NodeSelectorTerm{{MatchFields: []api.NodeSelectorRequirement{{Key: api.NodeFieldName, Operator: op, Values: []string{name}}}}}}}}
	}
}

func taint(effect string) func(*api.Node) {
	return func(n *api.Node) { n.Spec.Taints = []api.Taint{{Key: "dedicated", Value: "gpu", Effect: effect}} }
}

// owned makes a pod's controller owner the ReplicaSet with uid.
func owned(uid string) func(*api.Pod) {
	return func(p *api.Pod) {
		yes := true
		p.OwnerReferences = []api.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "rs", UID: uid, Controller: &yes}}
	}
}

func TestScheduleScores(t *testing.T) {
	t.Run("least allocated", func(t *testing.T) {
		a, b := newNodeInfo(readyNode("a", nil, "4", "8Gi")), newNodeInfo(readyNode("b", nil, "4", "8Gi"))
		busy := podWith("2", nil)
		a.addPod(busy)
		if d := schedule(podWith("1", nil), []*nodeInfo{a, b}, 0); d.node != "b" {
			t.Fatalf("chose %q, want the idle node b", d.node)
		}
	})
	t.Run("balanced allocation", func(t *testing.T) {
		// Both nodes end equally allocated on average; b keeps cpu and memory in balance.
		a := newNodeInfo(readyNode("a", nil, "4", "4Gi"))
		b := newNodeInfo(readyNode("b", nil, "4", "4Gi"))
		a.addPod(podWith("2", func(p *api.Pod) { p.Spec.Containers[0].Resources.Requests["memory"] = "1" }))
		b.addPod(podWith("1", func(p *api.Pod) { p.Spec.Containers[0].Resources.Requests["memory"] = "1Gi" }))
		p := podWith("1", func(p *api.Pod) { p.Spec.Containers[0].Resources.Requests["memory"] = "1Gi" })
		if d := schedule(p, []*nodeInfo{a, b}, 0); d.node != "b" {
			t.Fatalf("chose %q, want the balanced node b", d.node)
		}
	})
	t.Run("owner spreading beats a slightly emptier node", func(t *testing.T) {
		a, b := newNodeInfo(readyNode("a", nil, "4", "8Gi")), newNodeInfo(readyNode("b", nil, "4", "8Gi"))
		a.addPod(podWith("100m", owned("rs1")))
		b.addPod(podWith("500m", owned("other")))
		if d := schedule(podWith("100m", owned("rs1")), []*nodeInfo{a, b}, 0); d.node != "b" {
			t.Fatalf("chose %q, want b (no sibling there)", d.node)
		}
	})
	t.Run("nothing fits", func(t *testing.T) {
		a := newNodeInfo(readyNode("a", nil, "1", "8Gi"))
		cordoned := readyNode("b", nil, "1", "8Gi")
		cordoned.Spec.Unschedulable = true // before newNodeInfo, which reads the node once
		b := newNodeInfo(cordoned)
		d := schedule(podWith("2", nil), []*nodeInfo{a, b}, 1)
		want := "0/2 nodes are available: 1 Insufficient cpu, 1 node(s) were unschedulable."
		if d.node != "" || d.message != want {
			t.Fatalf("got %+v, want message %q", d, want)
		}
	})
}

func TestFeasibleNodeSampling(t *testing.T) {
	for _, tc := range []struct{ nodes, want int }{
		{1, 1}, {99, 99}, {100, 100}, {200, 100}, {400, 188}, {1000, 420}, {5000, 500}, {6000, 300}, {20000, 1000},
	} {
		if got := feasibleNodesToFind(tc.nodes); got != tc.want {
			t.Errorf("feasibleNodesToFind(%d) = %d, want %d", tc.nodes, got, tc.want)
		}
	}
	t.Run("filtering stops at the target and the next cycle starts after it", func(t *testing.T) {
		var nodes []*nodeInfo
		for i := range 1000 {
			nodes = append(nodes, newNodeInfo(readyNode(fmt.Sprintf("n%04d", i), nil, "4", "8Gi")))
		}
		d := schedule(podWith("100m", nil), nodes, 900)
		if d.node == "" || d.visited != 420 {
			t.Fatalf("got %+v, want a node after visiting 420", d)
		}
		// Among equally empty nodes the first found (n0900) wins.
		if d.node != "n0900" {
			t.Fatalf("chose %s, want n0900", d.node)
		}
	})
}

// BenchmarkSchedule is one scheduling cycle at Kubernetes' scale limit: 5,000 nodes, each
// cycle filtering and scoring the 500 feasible nodes it samples. "one owner": each node
// holds 30 pods of the pod's owner (a Deployment of 150,000 replicas) and two of others;
// "many owners": each node holds 100 pods of 100 owners, the pod's owner last.
func BenchmarkSchedule(b *testing.B) {
	const owner = "rs-bench-0123456789abcdef"
	for _, shape := range []struct {
		name         string
		mine, others int
	}{{"one owner", 30, 2}, {"many owners", 1, 99}} {
		b.Run(shape.name, func(b *testing.B) {
			nodes := make([]*nodeInfo, 5000)
			for i := range nodes {
				n := readyNode(fmt.Sprintf("node-%04d", i), nil, "32", "256Gi")
				n.Status.Allocatable["pods"] = "110"
				nodes[i] = newNodeInfo(n)
				for j := range shape.others {
					nodes[i].addPod(podWith("10m", owned(fmt.Sprintf("rs-other-%d", j))))
				}
				for range shape.mine {
					// Each pod carries its own copy of the UID, as pods decoded from the store do.
					nodes[i].addPod(podWith("10m", owned(string([]byte(owner)))))
				}
			}
			p := podWith("10m", owned(owner))
			b.ResetTimer()
			for i := range b.N {
				if d := schedule(p, nodes, (i*500)%len(nodes)); d.node == "" {
					b.Fatal(d.message)
				}
			}
		})
	}
}
