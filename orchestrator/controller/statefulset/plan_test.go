package statefulset_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/keeldb/keel/orchestrator/api"
	"github.com/keeldb/keel/orchestrator/controller/statefulset"
)

var now = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func newSTS(replicas int32, mut func(*api.StatefulSet)) *api.StatefulSet {
	s := &api.StatefulSet{ObjectMeta: api.ObjectMeta{Namespace: "default", Name: "web", UID: "sts-uid", Generation: 1},
		Spec: api.StatefulSetSpec{Replicas: &replicas, ServiceName: "nginx",
			Selector: &api.LabelSelector{MatchLabels: map[string]string{"app": "nginx"}},
			Template: api.PodTemplateSpec{ObjectMeta: api.ObjectMeta{Labels: map[string]string{"app": "nginx"}},
				Spec: api.PodSpec{Containers: []api.Container{{Name: "c", Image: "i"}}}},
		}}
	if mut != nil {
		mut(s)
	}
	api.Default(s)
	return s
}

// state builds pods from a compact description: "0:R" (ordinal 0, Running and Ready),
// "1:P" (Pending), "2:T" (terminating), "3:F" (Failed); an "@rev" suffix sets the revision
// (default "new").
func state(desc string) []*api.Pod {
	var pods []*api.Pod
	for _, f := range strings.Fields(desc) {
		rev := "new"
		if before, after, ok := strings.Cut(f, "@"); ok {
			f, rev = before, after
		}
		ord, st, _ := strings.Cut(f, ":")
		p := &api.Pod{ObjectMeta: api.ObjectMeta{Namespace: "default", Name: "web-" + ord, UID: "uid-" + ord,
			Labels: map[string]string{"app": "nginx", statefulset.ControllerRevisionHashLabel: rev}},
			Spec: api.PodSpec{NodeName: "n1"}, Status: api.PodStatus{Phase: api.PodPending}}
		switch st {
		case "R", "T":
			p.Status.Phase = api.PodRunning
			p.Status.Conditions = []api.PodCondition{{Type: "Ready", Status: api.ConditionTrue, LastTransitionTime: api.NewTime(now.Add(-time.Hour))}}
			if st == "T" {
				p.DeletionTimestamp = &api.Time{Time: now}
			}
		case "F":
			p.Status.Phase = api.PodFailed
		}
		pods = append(pods, p)
	}
	return pods
}

func render(acts []statefulset.Action) string {
	var out []string
	for _, a := range acts {
		switch a.Type {
		case statefulset.Create:
			out = append(out, fmt.Sprintf("create %d@%s", a.Ordinal, a.Revision))
		case statefulset.Delete:
			out = append(out, "delete "+a.Pod.Name)
		}
	}
	return strings.Join(out, ", ")
}

func TestNextOrdering(t *testing.T) {
	partition := func(p int32) func(*api.StatefulSet) {
		return func(s *api.StatefulSet) {
			s.Spec.UpdateStrategy.RollingUpdate = &api.RollingUpdateStatefulSetStrategy{Partition: &p}
		}
	}
	parallel := func(s *api.StatefulSet) { s.Spec.PodManagementPolicy = api.ParallelPodManagement }
	onDelete := func(s *api.StatefulSet) {
		s.Spec.UpdateStrategy = api.StatefulSetUpdateStrategy{Type: api.OnDeleteStrategy}
	}
	tests := []struct {
		name     string
		replicas int32
		mut      func(*api.StatefulSet)
		pods     string
		want     string
	}{
		{"empty: web-0 first", 3, nil, "", "create 0@new"},
		{"web-1 waits for web-0 Ready", 3, nil, "0:P", ""},
		{"web-1 after web-0 Ready", 3, nil, "0:R", "create 1@new"},
		{"web-2 after web-1 Ready", 3, nil, "0:R 1:R", "create 2@new"},
		{"complete", 3, nil, "0:R 1:R 2:R", ""},
		{"deleted web-1 comes back as web-1", 3, nil, "0:R 2:R", "create 1@new"},
		{"failed pod deleted to be recreated", 3, nil, "0:R 1:F 2:R", "delete web-1"},
		{"scale down: highest first", 1, nil, "0:R 1:R 2:R", "delete web-2"},
		{"scale down: next waits for the terminating one", 1, nil, "0:R 1:R 2:T", ""},
		{"scale down: web-1 once web-2 is gone", 1, nil, "0:R 1:R", "delete web-1"},
		{"scale down waits for unhealthy replicas", 1, nil, "0:P 1:R 2:R", ""},
		{"parallel: all at once", 3, parallel, "", "create 0@new, create 1@new, create 2@new"},
		{"parallel: scale down at once", 1, parallel, "0:R 1:R 2:P", "delete web-2, delete web-1"},
		{"parallel: missing ones regardless of readiness", 3, parallel, "0:P", "create 1@new, create 2@new"},
		{"rolling update: highest ordinal first", 3, nil, "0:R@old 1:R@old 2:R@old", "delete web-2"},
		{"rolling update: waits for the terminating one", 3, nil, "0:R@old 1:R@old 2:T@old", ""},
		{"rolling update: recreated at the update revision", 3, nil, "0:R@old 1:R@old", "create 2@new"},
		{"rolling update: next once the new one is Ready", 3, nil, "0:R@old 1:R@old 2:R", "delete web-1"},
		{"rolling update: waits while the new one is not Ready", 3, nil, "0:R@old 1:R@old 2:P", ""},
		{"partition: ordinals below keep the old revision", 3, partition(2), "0:R@old 1:R@old 2:R", ""},
		{"partition: recreated below it at the current revision", 3, partition(2), "0:R@old 2:R", "create 1@old"},
		{"OnDelete: nothing replaced", 3, onDelete, "0:R@old 1:R@old 2:R@old", ""},
		{"OnDelete: a deleted pod comes back at the update revision", 3, onDelete, "0:R@old 2:R@old", "create 1@new"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSTS(tt.replicas, tt.mut)
			current := "new"
			if strings.Contains(tt.pods, "@old") {
				current = "old"
			}
			got := render(statefulset.Next(s, current, "new", state(tt.pods), now))
			if got != tt.want {
				t.Errorf("Next(%q) = %q, want %q", tt.pods, got, tt.want)
			}
		})
	}
}

func TestComputeStatus(t *testing.T) {
	s := newSTS(3, nil)
	st := statefulset.ComputeStatus(s, "old", "new", state("0:R@old 1:P 2:R"), now)
	want := api.StatefulSetStatus{ObservedGeneration: 1, Replicas: 3, ReadyReplicas: 2, AvailableReplicas: 2,
		CurrentReplicas: 1, UpdatedReplicas: 2, CurrentRevision: "old", UpdateRevision: "new"}
	if st.CollisionCount != nil || fmt.Sprint(st) != fmt.Sprint(want) {
		t.Errorf("status = %+v, want %+v", st, want)
	}
	st = statefulset.ComputeStatus(s, "old", "new", state("0:R 1:R 2:R"), now)
	if st.CurrentRevision != "new" || st.CurrentReplicas != 3 {
		t.Errorf("after a complete update: current %s (%d), want new (3)", st.CurrentRevision, st.CurrentReplicas)
	}
}

func TestNewPod(t *testing.T) {
	s := newSTS(3, nil)
	p := statefulset.NewPod(s, s.Spec.Template, "web-abc", 1)
	if p.Name != "web-1" || p.Spec.Hostname != "web-1" || p.Spec.Subdomain != "nginx" {
		t.Errorf("name %s hostname %s subdomain %s", p.Name, p.Spec.Hostname, p.Spec.Subdomain)
	}
	for k, v := range map[string]string{statefulset.PodNameLabel: "web-1", statefulset.PodIndexLabel: "1",
		statefulset.ControllerRevisionHashLabel: "web-abc", "app": "nginx"} {
		if p.Labels[k] != v {
			t.Errorf("label %s = %q, want %q", k, p.Labels[k], v)
		}
	}
	if ref := p.ControllerRef(); ref == nil || ref.Kind != "StatefulSet" || ref.UID != "sts-uid" {
		t.Errorf("controller ref = %+v", ref)
	}
	if tmpl := statefulset.TemplateOf(p); fmt.Sprint(tmpl.Labels) != fmt.Sprint(s.Spec.Template.Labels) || tmpl.Spec.Hostname != "" {
		t.Errorf("TemplateOf = %+v", tmpl)
	}
	if statefulset.Ordinal("web", "web-10") != 10 || statefulset.Ordinal("web", "web-01") != -1 || statefulset.Ordinal("web", "webx-1") != -1 {
		t.Error("Ordinal parses wrongly")
	}
}

func TestNewPodClaims(t *testing.T) {
	sts := &api.StatefulSet{Spec: api.StatefulSetSpec{Selector: &api.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
		Template: api.PodTemplateSpec{Spec: api.PodSpec{Volumes: []api.Volume{
			{Name: "www", VolumeSource: api.VolumeSource{EmptyDir: &api.EmptyDirVolumeSource{}}},
			{Name: "cfg", VolumeSource: api.VolumeSource{EmptyDir: &api.EmptyDirVolumeSource{}}}}}}}}
	sts.Namespace, sts.Name, sts.UID = "default", "web", "u"
	tmpl := api.PersistentVolumeClaim{Spec: api.PersistentVolumeClaimSpec{AccessModes: []string{"ReadWriteOnce"},
		Resources: api.VolumeResourceRequirements{Requests: api.ResourceList{"storage": "1Gi"}}}}
	tmpl.Name = "www"
	logs := api.DeepCopy(&tmpl)
	logs.Name = "logs"
	sts.Spec.VolumeClaimTemplates = []api.PersistentVolumeClaim{tmpl, *logs}

	p := statefulset.NewPod(sts, sts.Spec.Template, "r1", 2)
	claims := map[string]string{}
	for _, v := range p.Spec.Volumes {
		if v.PersistentVolumeClaim != nil {
			claims[v.Name] = v.PersistentVolumeClaim.ClaimName
		}
	}
	if len(p.Spec.Volumes) != 3 || claims["www"] != "www-web-2" || claims["logs"] != "logs-web-2" || p.Spec.Volumes[1].EmptyDir == nil {
		t.Errorf("volumes %+v", p.Spec.Volumes)
	}
	if len(sts.Spec.Template.Spec.Volumes) != 2 || sts.Spec.Template.Spec.Volumes[0].EmptyDir == nil {
		t.Error("the set's template was changed")
	}
	cs := statefulset.NewClaims(sts, 2)
	if len(cs) != 2 || cs[0].Name != "www-web-2" || cs[0].Namespace != "default" || cs[0].Labels["app"] != "web" ||
		cs[1].Name != "logs-web-2" || len(cs[0].OwnerReferences) != 0 || cs[0].Kind != "PersistentVolumeClaim" {
		t.Errorf("claims %+v", cs)
	}
}
