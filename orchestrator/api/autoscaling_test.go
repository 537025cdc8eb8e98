package api_test

import (
	"strings"
	"testing"

	"github.com/keeldb/keel/orchestrator/api"
)

// The guestbook's ReplicationController and an autoscaler, as Kubernetes' docs write them.
const rcHPAManifest = `apiVersion: v1
kind: ReplicationController
metadata:
  name: redis-master
spec:
  replicas: 1
  template:
    metadata:
      labels:
        app: redis
        role: master
    spec:
      containers:
      - name: master
        image: redis
        ports:
        - containerPort: 6379
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: php-apache
spec:
  scaleTargetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: php-apache
  minReplicas: 1
  maxReplicas: 10
  metrics:
  - type: Resource
    resource:
      name: cpu
      target:
        type: Utilization
        averageUtilization: 50
  behavior:
    scaleDown:
      stabilizationWindowSeconds: 10
`

func TestDecodeReplicationControllerAndHPA(t *testing.T) {
	objs, err := api.DecodeManifests(strings.NewReader(rcHPAManifest))
	if err != nil {
		t.Fatal(err)
	}
	rc := objs[0].(*api.ReplicationController)
	if rc.Spec.Selector["app"] != "redis" || rc.Spec.Selector["role"] != "master" || rc.Labels["role"] != "master" {
		t.Errorf("selector %v labels %v, want both defaulted from the template", rc.Spec.Selector, rc.Labels)
	}
	h := objs[1].(*api.HorizontalPodAutoscaler)
	if *h.Spec.MinReplicas != 1 || h.Spec.MaxReplicas != 10 || *h.Spec.Metrics[0].Resource.Target.AverageUtilization != 50 {
		t.Errorf("spec %+v", h.Spec)
	}
	sd, su := h.Spec.Behavior.ScaleDown, h.Spec.Behavior.ScaleUp
	if *sd.StabilizationWindowSeconds != 10 || *sd.SelectPolicy != "Max" || len(sd.Policies) != 1 || sd.Policies[0].Value != 100 {
		t.Errorf("scaleDown %+v, want window 10 and the default policy", sd)
	}
	if su == nil || *su.StabilizationWindowSeconds != 0 || len(su.Policies) != 2 {
		t.Errorf("scaleUp %+v, want Kubernetes' defaults", su)
	}
}

func TestValidateReplicationControllerAndHPA(t *testing.T) {
	for _, tc := range []struct {
		name, doc, want string
	}{
		{"rc selector mismatch", `apiVersion: v1
kind: ReplicationController
metadata: {name: x}
spec:
  selector: {app: a}
  template:
    metadata: {labels: {app: b}}
    spec: {containers: [{name: c, image: i}]}
`, "spec.template.metadata.labels: Invalid value"},
		{"rc without template", `apiVersion: v1
kind: ReplicationController
metadata: {name: x}
spec: {selector: {app: a}}
`, "spec.template: Required value"},
		{"rc matchLabels refused", `apiVersion: v1
kind: ReplicationController
metadata: {name: x}
spec:
  selector: {matchLabels: {app: a}}
  template:
    metadata: {labels: {app: a}}
    spec: {containers: [{name: c, image: i}]}
`, "spec.selector: Invalid value: must be of type string"},
		{"hpa max below min", `apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: x}
spec:
  scaleTargetRef: {kind: Deployment, name: web}
  minReplicas: 3
  maxReplicas: 2
`, `spec.maxReplicas: Invalid value: "2": must be greater than or equal to ` + "`minReplicas`"},
		{"hpa pods metric", `apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: x}
spec:
  scaleTargetRef: {kind: Deployment, name: web}
  maxReplicas: 2
  metrics: [{type: Pods}]
`, `spec.metrics[0].type: Unsupported value: "Pods": supported values: "Resource"`},
		{"hpa bad policy", `apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: x}
spec:
  scaleTargetRef: {kind: Deployment, name: web}
  maxReplicas: 2
  behavior:
    scaleUp:
      selectPolicy: Fastest
      policies: [{type: Pods, value: 0, periodSeconds: 15}]
`, `spec.behavior.scaleUp.selectPolicy: Unsupported value: "Fastest"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := api.DecodeManifests(strings.NewReader(tc.doc))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want it to contain %q", err, tc.want)
			}
		})
	}
}
