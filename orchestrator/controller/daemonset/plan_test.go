package daemonset_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/keeldb/keel/orchestrator/api"
	"github.com/keeldb/keel/orchestrator/controller/daemonset"
)

var now = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func newDS(mut func(*api.DaemonSet)) *api.DaemonSet {
	ds := &api.DaemonSet{ObjectMeta: api.ObjectMeta{Namespace: "default", Name: "agent", UID: "ds-uid", Generation: 1},
		Spec: api.DaemonSetSpec{
			Selector: &api.LabelSelector{MatchLabels: map[string]string{"app": "agent"}},
			Template: api.PodTemplateSpec{ObjectMeta: api.ObjectMeta{Labels: map[string]string{"app": "agent"}},
				Spec: api.PodSpec{Containers: []api.Container{{Name: "c", Image: "i"}}}},
		}}
	if mut != nil {
		mut(ds)
	}
	api.Default(ds)
	return ds
}

func node(name string, mut func(*api.Node)) *api.Node {
	n := &api.Node{ObjectMeta: api.ObjectMeta{Name: name, Labels: map[string]string{"kubernetes.io/hostname": name}}}
	if mut != nil {
		mut(n)
	}
	return n
}

var podSeq int

// pod returns a daemon pod of hash on node; ready pods have been Ready for an hour.
func pod(hash, nodeName string, ready bool) *api.Pod {
	podSeq++
	p := &api.Pod{ObjectMeta: api.ObjectMeta{Namespace: "default", Name: fmt.Sprintf("agent-%03d", podSeq),
		Labels:            map[string]string{"app": "agent", daemonset.ControllerRevisionHashLabel: hash},
		CreationTimestamp: api.NewTime(now.Add(time.Duration(podSeq) * time.Second))},
		Spec:   api.PodSpec{NodeName: nodeName},
		Status: api.PodStatus{Phase: api.PodRunning}}
	if ready {
		p.Status.Conditions = []api.PodCondition{{Type: "Ready", Status: api.ConditionTrue, LastTransitionTime: api.NewTime(now.Add(-time.Hour))}}
	}
	return p
}

func names(ps []*api.Pod) []string {
	out := []string{}
	for _, p := range ps {
		out = append(out, p.Spec.NodeName+"/"+p.Labels[daemonset.ControllerRevisionHashLabel])
	}
	slices.Sort(out)
	return out
}

func TestComputePlacement(t *testing.T) {
	ds := newDS(nil)
	h := daemonset.TemplateHash(ds.Spec.Template)
	taint := func(effect string) func(*api.Node) {
		return func(n *api.Node) { n.Spec.Taints = []api.Taint{{Key: "dedicated", Value: "db", Effect: effect}} }
	}
	tests := []struct {
		name       string
		ds         *api.DaemonSet
		nodes      []*api.Node
		pods       []*api.Pod
		wantCreate []string
		wantDelete []string
	}{
		{name: "one per node", ds: ds, nodes: []*api.Node{node("n1", nil), node("n2", nil), node("n3", nil)},
			wantCreate: []string{"n1", "n2", "n3"}},
		{name: "added node gets its pod", ds: ds, nodes: []*api.Node{node("n1", nil), node("n2", nil)},
			pods: []*api.Pod{pod(h, "n1", true)}, wantCreate: []string{"n2"}},
		{name: "node selector", ds: newDS(func(d *api.DaemonSet) { d.Spec.Template.Spec.NodeSelector = map[string]string{"disk": "ssd"} }),
			nodes: []*api.Node{node("n1", func(n *api.Node) { n.Labels["disk"] = "ssd" }), node("n2", nil)}, wantCreate: []string{"n1"}},
		{name: "node that stops matching loses its pod",
			ds:    newDS(func(d *api.DaemonSet) { d.Spec.Template.Spec.NodeSelector = map[string]string{"disk": "ssd"} }),
			nodes: []*api.Node{node("n1", nil)}, pods: []*api.Pod{pod("x", "n1", true)}, wantDelete: []string{"n1/x"}},
		{name: "required node affinity", ds: newDS(func(d *api.DaemonSet) {
			d.Spec.Template.Spec.Affinity = &api.Affinity{NodeAffinity: &api.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &api.NodeSelector{
				NodeSelectorTerms: []api.NodeSelectorTerm{{MatchExpressions: []api.NodeSelectorRequirement{{Key: "kubernetes.io/hostname", Operator: "NotIn", Values: []string{"n2"}}}}}}}}
		}), nodes: []*api.Node{node("n1", nil), node("n2", nil)}, wantCreate: []string{"n1"}},
		{name: "NoSchedule taint: not placed", ds: ds, nodes: []*api.Node{node("n1", taint(api.TaintNoSchedule))}},
		{name: "NoSchedule taint: running pod stays", ds: ds, nodes: []*api.Node{node("n1", taint(api.TaintNoSchedule))},
			pods: []*api.Pod{pod(h, "n1", true)}},
		{name: "NoExecute taint: pod removed", ds: ds, nodes: []*api.Node{node("n1", taint(api.TaintNoExecute))},
			pods: []*api.Pod{pod(h, "n1", true)}, wantDelete: []string{"n1/" + h}},
		{name: "tolerated taint", ds: newDS(func(d *api.DaemonSet) {
			d.Spec.Template.Spec.Tolerations = []api.Toleration{{Key: "dedicated", Operator: "Exists"}}
		}), nodes: []*api.Node{node("n1", taint(api.TaintNoExecute))}, wantCreate: []string{"n1"}},
		{name: "default tolerations: cordoned, not-ready, unreachable", ds: ds, nodes: []*api.Node{
			node("n1", func(n *api.Node) {
				n.Spec.Unschedulable = true
				n.Spec.Taints = []api.Taint{{Key: daemonset.TaintNodeUnschedulable, Effect: api.TaintNoSchedule}}
			}),
			node("n2", func(n *api.Node) {
				n.Spec.Taints = []api.Taint{{Key: daemonset.TaintNodeNotReady, Effect: api.TaintNoExecute}}
			}),
			node("n3", func(n *api.Node) {
				n.Spec.Taints = []api.Taint{{Key: daemonset.TaintNodeUnreachable, Effect: api.TaintNoExecute}, {Key: daemonset.TaintNodeUnreachable, Effect: api.TaintNoSchedule}}
			})}, wantCreate: []string{"n1", "n2"}},
		{name: "failed pod replaced", ds: ds, nodes: []*api.Node{node("n1", nil)},
			pods: []*api.Pod{func() *api.Pod { p := pod(h, "n1", false); p.Status.Phase = api.PodFailed; return p }()}, wantDelete: []string{"n1/" + h}},
		{name: "duplicates: oldest stays", ds: ds, nodes: []*api.Node{node("n1", nil)},
			pods: []*api.Pod{pod(h, "n1", true), pod("dup", "n1", true)}, wantDelete: []string{"n1/dup"}},
		{name: "pod of a deleted node", ds: ds, nodes: []*api.Node{node("n1", nil)},
			pods: []*api.Pod{pod(h, "n1", true), pod(h, "gone", true)}, wantDelete: []string{"gone/" + h}},
		{name: "pod being deleted is waited for", ds: ds, nodes: []*api.Node{node("n1", nil)},
			pods: []*api.Pod{func() *api.Pod { p := pod("x", "n1", true); p.DeletionTimestamp = &api.Time{Time: now}; return p }()}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			plan := daemonset.Compute(tt.ds, daemonset.TemplateHash(tt.ds.Spec.Template), tt.nodes, tt.pods, now)
			if !slices.Equal(plan.Create, tt.wantCreate) && len(plan.Create)+len(tt.wantCreate) > 0 {
				t.Errorf("create = %v, want %v", plan.Create, tt.wantCreate)
			}
			if got := names(plan.Delete); !slices.Equal(got, tt.wantDelete) && len(got)+len(tt.wantDelete) > 0 {
				t.Errorf("delete = %v, want %v", got, tt.wantDelete)
			}
		})
	}
}

func TestComputeRollingUpdate(t *testing.T) {
	three := []*api.Node{node("n1", nil), node("n2", nil), node("n3", nil)}
	tests := []struct {
		name       string
		mut        func(*api.DaemonSet)
		pods       func(h string) []*api.Pod
		wantCreate []string
		wantDelete []string
	}{
		{name: "maxUnavailable 1: one old pod at a time",
			pods: func(string) []*api.Pod {
				return []*api.Pod{pod("old", "n1", true), pod("old", "n2", true), pod("old", "n3", true)}
			},
			wantDelete: []string{"n1/old"}},
		{name: "maxUnavailable 1: waits while a new pod is not available",
			pods: func(h string) []*api.Pod {
				return []*api.Pod{pod(h, "n1", false), pod("old", "n2", true), pod("old", "n3", true)}
			}},
		{name: "maxUnavailable 1: next once the new pod is available",
			pods: func(h string) []*api.Pod {
				return []*api.Pod{pod(h, "n1", true), pod("old", "n2", true), pod("old", "n3", true)}
			}, wantDelete: []string{"n2/old"}},
		{name: "unavailable old pods go at once",
			pods: func(h string) []*api.Pod {
				return []*api.Pod{pod("old", "n1", false), pod("old", "n2", false), pod("old", "n3", true)}
			}, wantDelete: []string{"n1/old", "n2/old"}},
		{name: "maxUnavailable 2",
			mut: func(d *api.DaemonSet) {
				d.Spec.UpdateStrategy.RollingUpdate = &api.RollingUpdateDaemonSet{MaxUnavailable: ptr(api.FromString("50%"))}
			},
			pods: func(string) []*api.Pod {
				return []*api.Pod{pod("old", "n1", true), pod("old", "n2", true), pod("old", "n3", true)}
			},
			wantDelete: []string{"n1/old", "n2/old"}},
		{name: "maxSurge 1: new pod beside the old",
			mut: func(d *api.DaemonSet) {
				d.Spec.UpdateStrategy.RollingUpdate = &api.RollingUpdateDaemonSet{MaxSurge: ptr(api.FromInt(1)), MaxUnavailable: ptr(api.FromInt(0))}
			},
			pods: func(string) []*api.Pod {
				return []*api.Pod{pod("old", "n1", true), pod("old", "n2", true), pod("old", "n3", true)}
			},
			wantCreate: []string{"n1"}},
		{name: "maxSurge 1: old pod goes once the new one is available",
			mut: func(d *api.DaemonSet) {
				d.Spec.UpdateStrategy.RollingUpdate = &api.RollingUpdateDaemonSet{MaxSurge: ptr(api.FromInt(1)), MaxUnavailable: ptr(api.FromInt(0))}
			},
			pods: func(h string) []*api.Pod {
				return []*api.Pod{pod("old", "n1", true), pod(h, "n1", true), pod("old", "n2", true), pod("old", "n3", true)}
			},
			wantDelete: []string{"n1/old"}},
		{name: "OnDelete leaves old pods",
			mut: func(d *api.DaemonSet) {
				d.Spec.UpdateStrategy = api.DaemonSetUpdateStrategy{Type: api.OnDeleteStrategy}
			},
			pods: func(string) []*api.Pod {
				return []*api.Pod{pod("old", "n1", true), pod("old", "n2", true), pod("old", "n3", true)}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ds := newDS(tt.mut)
			h := daemonset.TemplateHash(ds.Spec.Template)
			plan := daemonset.Compute(ds, h, three, tt.pods(h), now)
			if !slices.Equal(plan.Create, tt.wantCreate) && len(plan.Create)+len(tt.wantCreate) > 0 {
				t.Errorf("create = %v, want %v", plan.Create, tt.wantCreate)
			}
			if got := names(plan.Delete); !slices.Equal(got, tt.wantDelete) && len(got)+len(tt.wantDelete) > 0 {
				t.Errorf("delete = %v, want %v", got, tt.wantDelete)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

func TestComputeStatus(t *testing.T) {
	ds := newDS(func(d *api.DaemonSet) { d.Spec.Template.Spec.NodeSelector = map[string]string{"disk": "ssd"} })
	h := daemonset.TemplateHash(ds.Spec.Template)
	ssd := func(n *api.Node) { n.Labels["disk"] = "ssd" }
	nodes := []*api.Node{node("n1", ssd), node("n2", ssd), node("n3", ssd), node("n4", nil)}
	pods := []*api.Pod{pod(h, "n1", true), pod("old", "n2", true), pod(h, "n3", false), pod(h, "n4", true)}
	st, recheck := daemonset.ComputeStatus(ds, h, nodes, pods, now)
	want := api.DaemonSetStatus{DesiredNumberScheduled: 3, CurrentNumberScheduled: 3, NumberMisscheduled: 1, NumberReady: 2,
		NumberAvailable: 2, NumberUnavailable: 1, UpdatedNumberScheduled: 2, ObservedGeneration: 1}
	if st != want || recheck != 0 {
		t.Errorf("status = %+v, %v; want %+v, 0", st, recheck, want)
	}
}

func TestPodSpecFor(t *testing.T) {
	ds := newDS(nil)
	p := daemonset.NewPod(ds, "abc", "n7")
	if daemonset.TargetNode(p) != "n7" {
		t.Errorf("TargetNode = %q, want n7", daemonset.TargetNode(p))
	}
	if p.Labels[daemonset.ControllerRevisionHashLabel] != "abc" || p.ControllerRef() == nil || p.ControllerRef().UID != "ds-uid" {
		t.Errorf("pod meta = %+v", p.ObjectMeta)
	}
	m := api.NewNodeMatcher(&p.Spec)
	if !m.Matches(node("n7", nil)) || m.Matches(node("n8", nil)) {
		t.Error("pod's node affinity does not name exactly n7")
	}
	if len(p.Spec.Tolerations) != 6 || ds.Spec.Template.Spec.Affinity != nil {
		t.Errorf("tolerations = %v, template affinity = %v", p.Spec.Tolerations, ds.Spec.Template.Spec.Affinity)
	}
	api.Default(p)
	if errs := api.Validate(p); len(errs) > 0 {
		t.Errorf("daemon pod invalid: %v", errs)
	}
}
