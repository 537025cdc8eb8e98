package api

import (
	"maps"
	"strings"
	"testing"
	"time"
)

var quotaNow = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// TestQuotaUsagePod: a pod's usage is its requests (also as cpu/memory) and limits, the
// larger of its containers' sum and its largest init container; nothing once it ended or
// its grace period passed.
func TestQuotaUsagePod(t *testing.T) {
	p := &Pod{Spec: PodSpec{
		InitContainers: []Container{container("init", ResourceList{"cpu": "2"}, nil)},
		Containers: []Container{
			container("a", ResourceList{"cpu": "500m", "memory": "256Mi"}, ResourceList{"memory": "512Mi"}),
			container("b", ResourceList{"cpu": "500m", "memory": "256Mi"}, ResourceList{"memory": "512Mi"}),
		}}}
	want := ResourceList{"pods": "1", "count/pods": "1", "cpu": "2", "requests.cpu": "2",
		"memory": "512Mi", "requests.memory": "512Mi", "limits.memory": "1Gi"}
	if got := QuotaUsage(p, quotaNow); !maps.Equal(got, want) {
		t.Errorf("usage %v\nwant  %v", got, want)
	}
	ended := DeepCopy(p)
	ended.Status.Phase = "Failed"
	if got := QuotaUsage(ended, quotaNow); len(got) != 0 {
		t.Errorf("failed pod usage %v, want none", got)
	}
	deleting := DeepCopy(p)
	ts, grace := NewTime(quotaNow.Add(-time.Minute)), int64(30)
	deleting.DeletionTimestamp, deleting.DeletionGracePeriodSeconds = &ts, &grace
	if got := QuotaUsage(deleting, quotaNow); len(got) != 0 {
		t.Errorf("pod past its grace period: usage %v, want none", got)
	}
	if got := QuotaUsage(deleting, quotaNow.Add(-time.Minute)); got["pods"] != "1" {
		t.Errorf("pod within its grace period: usage %v, want counted", got)
	}
}

func TestQuotaUsageServiceClaim(t *testing.T) {
	svc := &Service{Spec: ServiceSpec{Type: ServiceTypeLoadBalancer, Ports: []ServicePort{{Port: 80}, {Port: 443}}}}
	want := ResourceList{"services": "1", "count/services": "1", "services.nodeports": "2", "services.loadbalancers": "1"}
	if got := QuotaUsage(svc, quotaNow); !maps.Equal(got, want) {
		t.Errorf("service usage %v, want %v", got, want)
	}
	class := "gold"
	pvc := &PersistentVolumeClaim{Spec: PersistentVolumeClaimSpec{StorageClassName: &class,
		Resources: VolumeResourceRequirements{Requests: ResourceList{"storage": "5Gi"}}}}
	want = ResourceList{"persistentvolumeclaims": "1", "count/persistentvolumeclaims": "1", "requests.storage": "5Gi",
		"gold.storageclass.storage.k8s.io/requests.storage": "5Gi", "gold.storageclass.storage.k8s.io/persistentvolumeclaims": "1"}
	if got := QuotaUsage(pvc, quotaNow); !maps.Equal(got, want) {
		t.Errorf("claim usage %v, want %v", got, want)
	}
	if got := QuotaUsage(&Deployment{}, quotaNow); !maps.Equal(got, ResourceList{"count/deployments.apps": "1"}) {
		t.Errorf("deployment usage %v", got)
	}
}

// TestAdmitQuota: observed status.used plus the object against spec.hard; Kubernetes'
// messages for each refusal.
func TestAdmitQuota(t *testing.T) {
	quota := func(hard, used ResourceList) *ResourceQuota {
		return &ResourceQuota{ObjectMeta: ObjectMeta{Name: "q"}, Spec: ResourceQuotaSpec{Hard: hard}, Status: ResourceQuotaStatus{Hard: hard, Used: used}}
	}
	sized := &Pod{Spec: PodSpec{Containers: []Container{container("app", ResourceList{"cpu": "500m", "memory": "1Gi"}, ResourceList{"cpu": "1", "memory": "1Gi"})}}}
	bare := &Pod{Spec: PodSpec{Containers: []Container{container("app", nil, nil), container("side", ResourceList{"cpu": "1"}, nil)}}}
	for _, tc := range []struct {
		name     string
		q        *ResourceQuota
		obj      Object
		wantUsed ResourceList
		wantErr  string
	}{
		{"fits", quota(ResourceList{"pods": "2", "cpu": "1"}, ResourceList{"pods": "1", "cpu": "250m"}), sized,
			ResourceList{"pods": "2", "cpu": "750m"}, ""},
		{"exceeded", quota(ResourceList{"pods": "2", "requests.cpu": "1", "limits.memory": "2Gi"}, ResourceList{"pods": "1", "requests.cpu": "600m", "limits.memory": "1536Mi"}), sized,
			nil, "exceeded quota: q, requested: limits.memory=1Gi,requests.cpu=500m, used: limits.memory=1536Mi,requests.cpu=600m, limited: limits.memory=2Gi,requests.cpu=1"},
		{"must specify", quota(ResourceList{"limits.cpu": "4", "requests.memory": "4Gi"}, ResourceList{"limits.cpu": "0", "requests.memory": "0"}), bare,
			nil, "failed quota: q: must specify limits.cpu for: app,side; requests.memory for: app,side"},
		{"status unknown", quota(ResourceList{"pods": "2", "configmaps": "1"}, nil), sized,
			nil, "status unknown for quota: q, resource: pods"},
		{"not covered", quota(ResourceList{"configmaps": "1"}, ResourceList{"configmaps": "1"}), sized, nil, ""},
		{"count", quota(ResourceList{"count/configmaps": "1"}, ResourceList{"count/configmaps": "1"}), &ConfigMap{},
			nil, "exceeded quota: q, requested: count/configmaps=1, used: count/configmaps=1, limited: count/configmaps=1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			used, err := AdmitQuota(tc.q, tc.obj, quotaNow)
			if got := errString(err); got != tc.wantErr {
				t.Fatalf("error %q\nwant  %q", got, tc.wantErr)
			}
			if !maps.Equal(used, tc.wantUsed) {
				t.Errorf("used %v, want %v", used, tc.wantUsed)
			}
		})
	}
}

func TestQuotaUsed(t *testing.T) {
	hard := ResourceList{"pods": "10", "requests.memory": "4Gi", "count/configmaps": "5", "services.nodeports": "3"}
	mk := func(mem Quantity, phase string) Object {
		return &Pod{Spec: PodSpec{Containers: []Container{container("c", ResourceList{"memory": mem}, nil)}}, Status: PodStatus{Phase: phase}}
	}
	objs := []Object{mk("512Mi", "Running"), mk("512Mi", ""), mk("1Gi", "Succeeded")}
	got := QuotaUsed(hard, objs, map[string]int64{"count/configmaps": 2}, quotaNow)
	want := ResourceList{"pods": "2", "requests.memory": "1Gi", "count/configmaps": "2", "services.nodeports": "0"}
	if !maps.Equal(got, want) {
		t.Errorf("used %v, want %v", got, want)
	}
}

func TestFormatQuantity(t *testing.T) {
	for _, tc := range []struct {
		milli  int64
		binary bool
		want   Quantity
	}{{0, false, "0"}, {500, false, "500m"}, {2000, false, "2"}, {1500, true, "1500m"}, {1 << 30 * 1000, true, "1Gi"},
		{1536 << 20 * 1000, true, "1536Mi"}, {3000 * 1000, false, "3k"}, {10000, false, "10"}} {
		if got := FormatQuantity(tc.milli, tc.binary); got != tc.want {
			t.Errorf("FormatQuantity(%d, %v) = %s, want %s", tc.milli, tc.binary, got, tc.want)
		}
	}
}

func TestValidateResourceQuota(t *testing.T) {
	q := &ResourceQuota{ObjectMeta: ObjectMeta{Name: "q", Namespace: "d"}, Spec: ResourceQuotaSpec{
		Hard: ResourceList{"pods": "1.5", "bogus": "1", "count/deployments.apps": "2", "cpu": "x"}, Scopes: []string{"BestEffort"}}}
	got := Validate(q).Error()
	for _, want := range []string{
		`spec.hard[pods]: Invalid value: "1.5": must be an integer`,
		`spec.hard[bogus]: Invalid value: "bogus": must be a standard resource for quota`,
		`spec.hard[cpu]: Invalid value: "x": must be a quantity`,
		`spec.scopes: Forbidden: quota scopes are not supported by this server`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %q in\n%s", want, got)
		}
	}
	if strings.Contains(got, "count/deployments.apps") {
		t.Errorf("count/deployments.apps refused: %s", got)
	}
}
