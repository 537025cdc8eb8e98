package api

import (
	"strings"
	"testing"
)

func container(name string, req, lim ResourceList) Container {
	return Container{Name: name, Image: "i", Resources: ResourceRequirements{Requests: req, Limits: lim}}
}

// TestAdmitPodLimitsDefaults: the Container item's defaults fill what a container lacks and
// keep what it states; the annotation says what was set.
func TestAdmitPodLimitsDefaults(t *testing.T) {
	lr := &LimitRange{Spec: LimitRangeSpec{Limits: []LimitRangeItem{{Type: LimitTypeContainer,
		Default: ResourceList{"cpu": "1", "memory": "512Mi"}, DefaultRequest: ResourceList{"cpu": "200m", "memory": "256Mi"}}}}}
	pod := &Pod{Spec: PodSpec{Containers: []Container{
		container("bare", nil, nil),
		container("own", ResourceList{"cpu": "300m"}, ResourceList{"memory": "1Gi"}),
	}}}
	if err := AdmitPodLimits([]*LimitRange{lr}, pod); err != nil {
		t.Fatal(err)
	}
	bare, own := pod.Spec.Containers[0].Resources, pod.Spec.Containers[1].Resources
	if bare.Requests["cpu"] != "200m" || bare.Requests["memory"] != "256Mi" || bare.Limits["cpu"] != "1" || bare.Limits["memory"] != "512Mi" {
		t.Errorf("bare container: %+v", bare)
	}
	if own.Requests["cpu"] != "300m" || own.Limits["memory"] != "1Gi" || own.Limits["cpu"] != "1" || own.Requests["memory"] != "256Mi" {
		t.Errorf("own container: %+v", own)
	}
	want := "LimitRanger plugin set: cpu, memory request for container bare; cpu, memory limit for container bare; memory request for container own; cpu limit for container own"
	if got := pod.Annotations[LimitRangerAnnotation]; got != want {
		t.Errorf("annotation %q, want %q", got, want)
	}
	if q := PodQOSClass(&pod.Spec); q != QOSBurstable {
		t.Errorf("qos %s", q)
	}
}

// TestAdmitPodLimitsChecks: min, max and ratio per container and per pod, with
// Kubernetes' messages.
func TestAdmitPodLimitsChecks(t *testing.T) {
	ctr := LimitRangeItem{Type: LimitTypeContainer, Min: ResourceList{"cpu": "100m"}, Max: ResourceList{"memory": "1Gi"},
		MaxLimitRequestRatio: ResourceList{"cpu": "2"}}
	podItem := LimitRangeItem{Type: LimitTypePod, Max: ResourceList{"cpu": "2"}}
	for _, tc := range []struct {
		name string
		cs   []Container
		want string
	}{
		{"fits", []Container{container("a", ResourceList{"cpu": "500m"}, ResourceList{"cpu": "1", "memory": "1Gi"})}, ""},
		{"over max", []Container{container("a", ResourceList{"cpu": "500m"}, ResourceList{"cpu": "1", "memory": "2Gi"})},
			"maximum memory usage per Container is 1Gi, but limit is 2Gi"},
		{"no limit", []Container{container("a", ResourceList{"cpu": "500m"}, ResourceList{"cpu": "1"})},
			"maximum memory usage per Container is 1Gi.  No limit is specified"},
		{"under min", []Container{container("a", ResourceList{"cpu": "50m"}, ResourceList{"cpu": "100m", "memory": "1Gi"})},
			"minimum cpu usage per Container is 100m, but request is 50m"},
		{"ratio", []Container{container("a", ResourceList{"cpu": "200m"}, ResourceList{"cpu": "1", "memory": "1Gi"})},
			"cpu max limit to request ratio per Container is 2, but provided ratio is 5.000000"},
		{"pod sum", []Container{
			container("a", ResourceList{"cpu": "1"}, ResourceList{"cpu": "1500m", "memory": "1Gi"}),
			container("b", ResourceList{"cpu": "1"}, ResourceList{"cpu": "1500m", "memory": "1Gi"})},
			"maximum cpu usage per Pod is 2, but limit is 3"},
		{"two errors", []Container{container("a", nil, ResourceList{"memory": "2Gi"})},
			"[minimum cpu usage per Container is 100m.  No request is specified, maximum memory usage per Container is 1Gi, but limit is 2Gi, cpu max limit to request ratio per Container is 2, but no request is specified or request is 0, maximum cpu usage per Pod is 2.  No limit is specified]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pod := &Pod{Spec: PodSpec{Containers: tc.cs}}
			err := AdmitPodLimits([]*LimitRange{{Spec: LimitRangeSpec{Limits: []LimitRangeItem{ctr, podItem}}}}, pod)
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tc.want {
				t.Errorf("got %q\nwant %q", got, tc.want)
			}
		})
	}
}

func TestAdmitClaimLimits(t *testing.T) {
	lr := &LimitRange{Spec: LimitRangeSpec{Limits: []LimitRangeItem{{Type: LimitTypePersistentVolumeClaim,
		Min: ResourceList{"storage": "1Gi"}, Max: ResourceList{"storage": "10Gi"}}}}}
	claim := func(s Quantity) *PersistentVolumeClaim {
		return &PersistentVolumeClaim{Spec: PersistentVolumeClaimSpec{Resources: VolumeResourceRequirements{Requests: ResourceList{"storage": s}}}}
	}
	for s, want := range map[Quantity]string{
		"5Gi":   "",
		"500Mi": "minimum storage usage per PersistentVolumeClaim is 1Gi, but request is 500Mi",
		"20Gi":  "maximum storage usage per PersistentVolumeClaim is 10Gi, but request is 20Gi",
	} {
		err := AdmitClaimLimits([]*LimitRange{lr}, claim(s))
		if got := errString(err); got != want {
			t.Errorf("%s: got %q, want %q", s, got, want)
		}
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// TestValidateLimitRange: the order min <= defaultRequest <= default <= max and the ratio
// are checked with Kubernetes' texts; a Container item's default comes from max.
func TestValidateLimitRange(t *testing.T) {
	lr := &LimitRange{ObjectMeta: ObjectMeta{Name: "l", Namespace: "d"}, Spec: LimitRangeSpec{Limits: []LimitRangeItem{
		{Type: LimitTypeContainer, Min: ResourceList{"cpu": "1"}, Max: ResourceList{"cpu": "500m"}},
		{Type: LimitTypeContainer, DefaultRequest: ResourceList{"memory": "2Gi"}, Default: ResourceList{"memory": "1Gi"}},
		{Type: LimitTypePod, Default: ResourceList{"cpu": "1"}},
		{Type: LimitTypeContainer, MaxLimitRequestRatio: ResourceList{"cpu": "500m"}},
		{Type: "Node"},
	}}}
	Default(lr)
	got := Validate(lr).Error()
	for _, want := range []string{
		`spec.limits[0].min[cpu]: Invalid value: "1": min value 1 is greater than max value 500m`,
		`spec.limits[0].default[cpu]: Invalid value: "500m": min value 1 is greater than default value 500m`,
		`spec.limits[1].defaultRequest[memory]: Invalid value: "2Gi": default request value 2Gi is greater than default limit value 1Gi`,
		"spec.limits[2].default: Forbidden: may not be specified when `type` is 'Pod'",
		`spec.limits[3].maxLimitRequestRatio[cpu]: Invalid value: "500m": ratio 500m is less than 1`,
		`spec.limits[4].type: Unsupported value: "Node"`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %q in\n%s", want, got)
		}
	}
}
