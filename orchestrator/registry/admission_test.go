package registry_test

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/keeldb/keel/internal/testcluster"
	"github.com/keeldb/keel/orchestrator/api"
	"github.com/keeldb/keel/orchestrator/registry"
)

// TestQuotaConcurrentCreates: 20 pods created at once against a quota of pods: 10 give
// exactly 10 pods, the others refused with Kubernetes' Forbidden message, and status.used
// says 10, because each create charges the quota in its own transaction.
func TestQuotaConcurrentCreates(t *testing.T) {
	c := testcluster.Start(t, 1)
	ctx := ctxT(t)
	st := registry.NewStores(c.Client(), registry.Config{})

	q := &api.ResourceQuota{ObjectMeta: api.ObjectMeta{Namespace: "default", Name: "pods-10"},
		Spec: api.ResourceQuotaSpec{Hard: api.ResourceList{"pods": "10"}}}
	if _, err := st.ResourceQuotas.Create(ctx, q); err != nil {
		t.Fatal(err)
	}
	// Before the quota controller computed its usage, creates it covers are refused.
	if _, err := st.Pods.Create(ctx, pod("default", "early", nil)); !errors.Is(err, registry.ErrForbidden) ||
		!strings.Contains(err.Error(), "status unknown for quota: pods-10, resource: pods") {
		t.Fatalf("create before status: %v, want status unknown", err)
	}
	q.Status = api.ResourceQuotaStatus{Hard: api.ResourceList{"pods": "10"}, Used: api.ResourceList{"pods": "0"}}
	if _, err := st.ResourceQuotas.UpdateStatus(ctx, q); err != nil {
		t.Fatal(err)
	}

	var wg sync.WaitGroup
	errs := make([]error, 20)
	for i := range errs {
		wg.Go(func() {
			_, errs[i] = st.Pods.Create(ctx, pod("default", fmt.Sprintf("p%d", i), nil))
		})
	}
	wg.Wait()
	ok := 0
	for i, err := range errs {
		switch {
		case err == nil:
			ok++
		case errors.Is(err, registry.ErrForbidden):
			want := fmt.Sprintf(`pods "p%d" is forbidden: exceeded quota: pods-10, requested: pods=1, used: pods=10, limited: pods=10`, i)
			if err.Error() != want {
				t.Errorf("refusal %q, want %q", err, want)
			}
		default:
			t.Errorf("create p%d: %v", i, err)
		}
	}
	if ok != 10 {
		t.Errorf("%d creates succeeded, want 10", ok)
	}
	l, err := st.Pods.List(ctx, registry.ListOptions{Namespace: "default"})
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Items) != 10 {
		t.Errorf("%d pods stored, want 10", len(l.Items))
	}
	got, err := st.ResourceQuotas.Get(ctx, "default", "pods-10")
	if err != nil {
		t.Fatal(err)
	}
	if got.Status.Used["pods"] != "10" {
		t.Errorf("status.used %v, want pods=10", got.Status.Used)
	}
	// Another namespace is not limited.
	if _, err := st.Pods.Create(ctx, pod("other", "free", nil)); err != nil {
		t.Errorf("create in another namespace: %v", err)
	}
}

// TestQuotaComputeAndObjects: a compute quota requires requests and limits, charges them,
// and count/ and service quotas charge their objects.
func TestQuotaComputeAndObjects(t *testing.T) {
	c := testcluster.Start(t, 1)
	ctx := ctxT(t)
	st := registry.NewStores(c.Client(), registry.Config{})
	hard := api.ResourceList{"requests.cpu": "1", "limits.memory": "1Gi", "services.nodeports": "1", "count/deployments.apps": "1"}
	used := api.ResourceList{"requests.cpu": "0", "limits.memory": "0", "services.nodeports": "0", "count/deployments.apps": "0"}
	q := &api.ResourceQuota{ObjectMeta: api.ObjectMeta{Namespace: "default", Name: "compute"}, Spec: api.ResourceQuotaSpec{Hard: hard}}
	if _, err := st.ResourceQuotas.Create(ctx, q); err != nil {
		t.Fatal(err)
	}
	q.Status = api.ResourceQuotaStatus{Hard: hard, Used: used}
	if _, err := st.ResourceQuotas.UpdateStatus(ctx, q); err != nil {
		t.Fatal(err)
	}

	bare := pod("default", "bare", nil)
	_, err := st.Pods.Create(ctx, bare)
	want := `pods "bare" is forbidden: failed quota: compute: must specify limits.memory for: c; requests.cpu for: c`
	if err == nil || err.Error() != want {
		t.Fatalf("pod without resources: %v, want %s", err, want)
	}
	sized := func(name, cpu, mem string) *api.Pod {
		p := pod("default", name, nil)
		p.Spec.Containers[0].Resources = api.ResourceRequirements{
			Requests: api.ResourceList{"cpu": api.Quantity(cpu)}, Limits: api.ResourceList{"memory": api.Quantity(mem)}}
		return p
	}
	if _, err := st.Pods.Create(ctx, sized("a", "600m", "512Mi")); err != nil {
		t.Fatal(err)
	}
	_, err = st.Pods.Create(ctx, sized("b", "600m", "256Mi"))
	want = `pods "b" is forbidden: exceeded quota: compute, requested: requests.cpu=600m, used: requests.cpu=600m, limited: requests.cpu=1`
	if err == nil || err.Error() != want {
		t.Fatalf("second pod: %v, want %s", err, want)
	}
	if _, err := st.Pods.Create(ctx, sized("c", "400m", "512Mi")); err != nil {
		t.Fatal(err)
	}
	got, _ := st.ResourceQuotas.Get(ctx, "default", "compute")
	if got.Status.Used["requests.cpu"] != "1" || got.Status.Used["limits.memory"] != "1Gi" {
		t.Errorf("used %v, want requests.cpu=1 limits.memory=1Gi", got.Status.Used)
	}

	np := &api.Service{ObjectMeta: api.ObjectMeta{Namespace: "default", Name: "np"},
		Spec: api.ServiceSpec{Type: api.ServiceTypeNodePort, Ports: []api.ServicePort{{Port: 80}, {Port: 81, Name: "b"}}}}
	np.Spec.Ports[0].Name = "a"
	_, err = st.Services.Create(ctx, np)
	if err == nil || !strings.Contains(err.Error(), "exceeded quota: compute, requested: services.nodeports=2, used: services.nodeports=0, limited: services.nodeports=1") {
		t.Fatalf("NodePort service with 2 ports: %v", err)
	}

	dep := func(name string) *api.Deployment {
		return &api.Deployment{ObjectMeta: api.ObjectMeta{Namespace: "default", Name: name},
			Spec: api.DeploymentSpec{Selector: &api.LabelSelector{MatchLabels: map[string]string{"app": "x"}},
				Template: api.PodTemplateSpec{ObjectMeta: api.ObjectMeta{Labels: map[string]string{"app": "x"}},
					Spec: api.PodSpec{Containers: []api.Container{{Name: "c", Image: "x"}}}}}}
	}
	if _, err := st.Deployments.Create(ctx, dep("one")); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Deployments.Create(ctx, dep("two")); err == nil || !strings.Contains(err.Error(), "exceeded quota: compute, requested: count/deployments.apps=1") {
		t.Fatalf("second deployment: %v", err)
	}
}

// TestLimitRangeOnCreate: a pod created without resources gets its namespace's Container
// defaults (and the QoS class they give), and a pod over the max is refused with
// Kubernetes' message; a claim over the storage max is refused.
func TestLimitRangeOnCreate(t *testing.T) {
	c := testcluster.Start(t, 1)
	ctx := ctxT(t)
	st := registry.NewStores(c.Client(), registry.Config{})
	lr := &api.LimitRange{ObjectMeta: api.ObjectMeta{Namespace: "default", Name: "limits"}, Spec: api.LimitRangeSpec{Limits: []api.LimitRangeItem{
		{Type: api.LimitTypeContainer, Max: api.ResourceList{"memory": "1Gi"}, Default: api.ResourceList{"cpu": "500m", "memory": "256Mi"},
			DefaultRequest: api.ResourceList{"cpu": "100m"}},
		{Type: api.LimitTypePersistentVolumeClaim, Max: api.ResourceList{"storage": "2Gi"}},
	}}}
	if _, err := st.LimitRanges.Create(ctx, lr); err != nil {
		t.Fatal(err)
	}
	got, err := st.Pods.Create(ctx, pod("default", "plain", nil))
	if err != nil {
		t.Fatal(err)
	}
	r := got.Spec.Containers[0].Resources
	if r.Limits["cpu"] != "500m" || r.Limits["memory"] != "256Mi" || r.Requests["cpu"] != "100m" || r.Requests["memory"] != "256Mi" {
		t.Errorf("defaulted resources %+v", r)
	}
	if got.Status.QOSClass != api.QOSBurstable {
		t.Errorf("qosClass %s, want Burstable", got.Status.QOSClass)
	}
	if got.Annotations[api.LimitRangerAnnotation] == "" {
		t.Error("no limit-ranger annotation")
	}

	big := pod("default", "big", nil)
	big.Spec.Containers[0].Resources.Limits = api.ResourceList{"memory": "2Gi"}
	_, err = st.Pods.Create(ctx, big)
	want := `pods "big" is forbidden: maximum memory usage per Container is 1Gi, but limit is 2Gi`
	if !errors.Is(err, registry.ErrForbidden) || err.Error() != want {
		t.Fatalf("pod over max: %v, want %s", err, want)
	}

	claims := registry.New[api.PersistentVolumeClaim](c.Client(), registry.Config{})
	pvc := &api.PersistentVolumeClaim{ObjectMeta: api.ObjectMeta{Namespace: "default", Name: "huge"},
		Spec: api.PersistentVolumeClaimSpec{AccessModes: []string{"ReadWriteOnce"},
			Resources: api.VolumeResourceRequirements{Requests: api.ResourceList{"storage": "5Gi"}}}}
	_, err = claims.Create(ctx, pvc)
	want = `persistentvolumeclaims "huge" is forbidden: maximum storage usage per PersistentVolumeClaim is 2Gi, but request is 5Gi`
	if err == nil || err.Error() != want {
		t.Fatalf("claim over max: %v, want %s", err, want)
	}
}
