package volume

import (
	"testing"
	"time"

	"github.com/keeldb/keel/orchestrator/api"
)

func claim(name, uid, size string, class *string) *api.PersistentVolumeClaim {
	c := &api.PersistentVolumeClaim{Spec: api.PersistentVolumeClaimSpec{AccessModes: []string{"ReadWriteOnce"},
		Resources: api.VolumeResourceRequirements{Requests: api.ResourceList{"storage": api.Quantity(size)}}, StorageClassName: class}}
	c.Namespace, c.Name, c.UID = "default", name, uid
	return c
}

func volume(name, size, class string, modes ...string) *api.PersistentVolume {
	pv := &api.PersistentVolume{Spec: api.PersistentVolumeSpec{Capacity: api.ResourceList{"storage": api.Quantity(size)},
		AccessModes: modes, StorageClassName: class, PersistentVolumeReclaimPolicy: api.ReclaimRetain}}
	pv.Name = name
	return pv
}

func TestClassOf(t *testing.T) {
	classes := []*api.StorageClass{{ObjectMeta: api.ObjectMeta{Name: "slow"}}, api.DefaultLocalPathClass()}
	empty, slow := "", "slow"
	for _, tc := range []struct {
		class *string
		want  string
	}{{nil, "local-path"}, {&empty, ""}, {&slow, "slow"}} {
		if got := ClassOf(claim("c", "u", "1Gi", tc.class), classes); got != tc.want {
			t.Errorf("ClassOf(%v) = %q, want %q", tc.class, got, tc.want)
		}
	}
}

func TestMatchVolume(t *testing.T) {
	small := volume("small", "500Mi", "", "ReadWriteOnce")
	big := volume("big", "10Gi", "", "ReadWriteOnce")
	fit := volume("fit", "2Gi", "", "ReadWriteOnce", "ReadOnlyMany")
	rox := volume("rox", "2Gi", "", "ReadOnlyMany")
	other := volume("other", "2Gi", "fast", "ReadWriteOnce")
	taken := volume("taken", "1Gi", "", "ReadWriteOnce")
	taken.Spec.ClaimRef = &api.ObjectReference{Namespace: "default", Name: "x", UID: "ux"}
	c := claim("c", "uc", "1Gi", nil)
	if got := MatchVolume(c, "", []*api.PersistentVolume{small, big, fit, rox, other, taken}); got != fit {
		t.Errorf("match: got %v, want the smallest fitting volume fit", got)
	}
	if got := MatchVolume(c, "local-path", []*api.PersistentVolume{small, big, fit}); got != nil {
		t.Errorf("match of another class: got %s", got.Name)
	}
	pre := volume("pre", "1Mi", "other", "ReadWriteOnce")
	pre.Spec.ClaimRef = &api.ObjectReference{Namespace: "default", Name: "c"}
	if got := MatchVolume(c, "", []*api.PersistentVolume{fit, pre}); got != pre {
		t.Errorf("a volume pre-bound to the claim wins: got %v", got)
	}
}

func TestProvisionNode(t *testing.T) {
	c := claim("data", "u", "1Gi", nil)
	pod := func(name, node string, created int, claim string) *api.Pod {
		p := &api.Pod{Spec: api.PodSpec{NodeName: node, Volumes: []api.Volume{{Name: "v",
			VolumeSource: api.VolumeSource{PersistentVolumeClaim: &api.PersistentVolumeClaimVolumeSource{ClaimName: claim}}}}}}
		p.Namespace, p.Name = "default", name
		p.CreationTimestamp = api.NewTime(time.Unix(int64(created), 0))
		return p
	}
	pods := []*api.Pod{pod("unbound", "", 1, "data"), pod("late", "n2", 5, "data"), pod("early", "n1", 3, "data"), pod("other", "n3", 0, "x")}
	if got := ProvisionNode(c, pods); got != "n1" {
		t.Errorf("node = %q, want n1 (the oldest scheduled consumer)", got)
	}
	if got := ProvisionNode(c, pods[:1]); got != "" {
		t.Errorf("without a scheduled consumer: %q", got)
	}
	c.Annotations = map[string]string{api.SelectedNodeAnnotation: "n9"}
	if got := ProvisionNode(c, pods); got != "n9" {
		t.Errorf("selected-node annotation: got %q", got)
	}
}

func TestNewLocalVolume(t *testing.T) {
	pv := NewLocalVolume(claim("data", "abc", "1Gi", nil), api.DefaultLocalPathClass(), "n1", "/lp")
	if pv.Name != "pvc-abc" || pv.VolumePath() != "/lp/pvc-abc" || pv.Spec.PersistentVolumeReclaimPolicy != api.ReclaimDelete ||
		pv.Spec.StorageClassName != "local-path" || pv.Spec.ClaimRef.UID != "abc" {
		t.Errorf("volume %+v", pv)
	}
	n1 := &api.Node{ObjectMeta: api.ObjectMeta{Name: "n1", Labels: map[string]string{"kubernetes.io/hostname": "n1"}}}
	n2 := &api.Node{ObjectMeta: api.ObjectMeta{Name: "n2", Labels: map[string]string{"kubernetes.io/hostname": "n2"}}}
	m := pv.NodeMatcher()
	if !m.Matches(n1) || m.Matches(n2) {
		t.Errorf("affinity matches n1 %v n2 %v", m.Matches(n1), m.Matches(n2))
	}
}

func TestVolumeStatus(t *testing.T) {
	c := claim("data", "u1", "1Gi", nil)
	bound := volume("v", "1Gi", "", "ReadWriteOnce")
	bound.Spec.ClaimRef = &api.ObjectReference{Namespace: "default", Name: "data", UID: "u1"}
	bound.Status.Phase = api.VolumeBound
	c.Spec.VolumeName = "v"
	del := api.DeepCopy(bound)
	del.Spec.PersistentVolumeReclaimPolicy = api.ReclaimDelete
	recreated := claim("data", "u2", "1Gi", nil)
	for _, tc := range []struct {
		name      string
		pv        *api.PersistentVolume
		claim     *api.PersistentVolumeClaim
		wantPhase string
		wantDel   bool
	}{
		{"unclaimed", volume("v", "1Gi", ""), nil, api.VolumeAvailable, false},
		{"bound", bound, c, api.VolumeBound, false},
		{"claim gone, Retain", bound, nil, api.VolumeReleased, false},
		{"claim gone, Delete", del, nil, api.VolumeReleased, true},
		{"claim recreated with another uid", bound, recreated, api.VolumeReleased, false},
	} {
		ph, d := VolumeStatus(tc.pv, tc.claim)
		if ph != tc.wantPhase || d != tc.wantDel {
			t.Errorf("%s: got %s %v, want %s %v", tc.name, ph, d, tc.wantPhase, tc.wantDel)
		}
	}
}
