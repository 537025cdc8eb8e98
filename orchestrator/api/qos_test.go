package api

import "testing"

func TestPodQOSClass(t *testing.T) {
	res := func(req, lim ResourceList) Container {
		return Container{Name: "c", Image: "i", Resources: ResourceRequirements{Requests: req, Limits: lim}}
	}
	cm := func(cpu, mem string) ResourceList {
		rl := ResourceList{}
		if cpu != "" {
			rl["cpu"] = Quantity(cpu)
		}
		if mem != "" {
			rl["memory"] = Quantity(mem)
		}
		return rl
	}
	for _, tc := range []struct {
		name       string
		containers []Container
		init       []Container
		want       string
	}{
		{"no resources", []Container{res(nil, nil)}, nil, QOSBestEffort},
		{"only other resources", []Container{res(ResourceList{"ephemeral-storage": "1Gi"}, nil)}, nil, QOSBestEffort},
		{"zero request", []Container{res(cm("0", ""), nil)}, nil, QOSBestEffort},
		{"limits only (requests defaulted)", []Container{res(nil, cm("100m", "64Mi"))}, nil, QOSGuaranteed},
		{"equal requests and limits", []Container{res(cm("0.1", "64Mi"), cm("100m", "64Mi"))}, nil, QOSGuaranteed},
		{"request below limit", []Container{res(cm("50m", "64Mi"), cm("100m", "64Mi"))}, nil, QOSBurstable},
		{"memory limit only", []Container{res(nil, cm("", "64Mi"))}, nil, QOSBurstable},
		{"request only", []Container{res(cm("100m", ""), nil)}, nil, QOSBurstable},
		{"one of two containers limited", []Container{res(nil, cm("1", "1Gi")), res(nil, nil)}, nil, QOSBurstable},
		{"init container without limits", []Container{res(nil, cm("1", "1Gi"))}, []Container{res(nil, nil)}, QOSBurstable},
		{"init container only", []Container{res(nil, nil)}, []Container{res(cm("1", ""), nil)}, QOSBurstable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := &Pod{ObjectMeta: ObjectMeta{Name: "p"}, Spec: PodSpec{Containers: tc.containers, InitContainers: tc.init}}
			Default(p)
			if p.Status.QOSClass != tc.want {
				t.Fatalf("qosClass = %q, want %q", p.Status.QOSClass, tc.want)
			}
		})
	}
}

func TestDefaultPodRequestsFromLimits(t *testing.T) {
	p := &Pod{ObjectMeta: ObjectMeta{Name: "p"}, Spec: PodSpec{Containers: []Container{{Name: "c", Image: "i",
		Resources: ResourceRequirements{Requests: ResourceList{"cpu": "50m"}, Limits: ResourceList{"cpu": "100m", "memory": "64Mi"}}}}}}
	Default(p)
	got := p.Spec.Containers[0].Resources.Requests
	if got["cpu"] != "50m" || got["memory"] != "64Mi" {
		t.Fatalf("requests = %v, want cpu 50m (kept) and memory 64Mi (from the limit)", got)
	}
	rs := &ReplicaSet{ObjectMeta: ObjectMeta{Name: "rs"}}
	rs.Spec.Template.Spec.Containers = []Container{{Name: "c", Image: "i", Resources: ResourceRequirements{Limits: ResourceList{"cpu": "1"}}}}
	Default(rs)
	if rs.Spec.Template.Spec.Containers[0].Resources.Requests != nil {
		t.Fatalf("template requests defaulted: %v (Kubernetes defaults them on pods only)", rs.Spec.Template.Spec.Containers[0].Resources.Requests)
	}
}
