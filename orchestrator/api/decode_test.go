package api_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/keeldb/keel/orchestrator/api"
)

// A plain Kubernetes manifest, as `kubectl create deployment`/`expose` and the docs write it.
const webManifest = `# web app
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels:
    app: web
spec:
  replicas: 3
  selector:
    matchLabels:
      app: web
  strategy:
    type: RollingUpdate
    rollingUpdate:
      maxSurge: 1
      maxUnavailable: 25%
  template:
    metadata:
      labels:
        app: web
    spec:
      nodeSelector:
        disktype: ssd
      tolerations:
      - key: dedicated
        operator: Equal
        value: web
        effect: NoSchedule
      containers:
      - name: web
        image: nginx:1.27
        command: ["nginx", "-g", "daemon off;"]
        ports:
        - containerPort: 80
          name: http
        resources:
          requests:
            cpu: 100m
            memory: 64Mi
          limits:
            cpu: "1"
            memory: 128Mi
        readinessProbe:
          httpGet:
            path: /
            port: http
---
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector:
    app: web
  ports:
  - port: 80
    targetPort: http
---
# trailing empty document
`

func TestDecodeKubernetesManifest(t *testing.T) {
	objs, err := api.DecodeManifests(strings.NewReader(webManifest))
	if err != nil {
		t.Fatalf("DecodeManifests: %v", err)
	}
	if len(objs) != 2 {
		t.Fatalf("got %d objects, want 2", len(objs))
	}
	d, ok := objs[0].(*api.Deployment)
	if !ok {
		t.Fatalf("first object is %T, want *api.Deployment", objs[0])
	}
	if d.Namespace != "default" || *d.Spec.Replicas != 3 || d.Spec.Strategy.RollingUpdate.MaxSurge.String() != "1" ||
		d.Spec.Strategy.RollingUpdate.MaxUnavailable.String() != "25%" {
		t.Errorf("deployment decoded as %+v", d.Spec)
	}
	c := d.Spec.Template.Spec.Containers[0]
	if c.Image != "nginx:1.27" || c.Resources.Requests["cpu"].MilliValue() != 100 ||
		c.Resources.Limits["memory"].Value() != 128<<20 || c.ReadinessProbe.HTTPGet.Port.StrVal != "http" ||
		c.ReadinessProbe.PeriodSeconds != 10 {
		t.Errorf("container decoded as %+v", c)
	}
	if d.Spec.Template.Spec.RestartPolicy != api.RestartAlways || *d.Spec.RevisionHistoryLimit != 10 {
		t.Errorf("defaults not applied: %+v", d.Spec)
	}
	svc, ok := objs[1].(*api.Service)
	if !ok {
		t.Fatalf("second object is %T, want *api.Service", objs[1])
	}
	if svc.Spec.Ports[0].TargetPort.StrVal != "http" || svc.Spec.Ports[0].Protocol != "TCP" || svc.Spec.Type != "ClusterIP" {
		t.Errorf("service decoded as %+v", svc.Spec)
	}
	// The JSON has Kubernetes' shape.
	b, _ := json.Marshal(d)
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	if m["apiVersion"] != "apps/v1" || m["kind"] != "Deployment" || m["metadata"].(map[string]any)["name"] != "web" {
		t.Errorf("marshalled deployment: %s", b)
	}
}

func TestDecodeRefusesUnsupported(t *testing.T) {
	cases := []struct {
		name, from, to, wantField, wantType string
	}{
		{"unknown container field", "        image: nginx:1.27\n", "        image: nginx:1.27\n        securityContext:\n          privileged: true\n",
			"spec.template.spec.containers[0].securityContext", api.ErrorUnknownField},
		{"unknown spec field", "  replicas: 3\n", "  replicas: 3\n  minReplicas: 2\n", "spec.minReplicas", api.ErrorUnknownField},
		{"wrong case", "  replicas: 3\n", "  Replicas: 3\n", "spec.Replicas", api.ErrorUnknownField},
		{"missing image", "        image: nginx:1.27\n", "", "spec.template.spec.containers[0].image", api.ErrorRequired},
		{"bad strategy", "    type: RollingUpdate\n", "    type: BlueGreen\n", "spec.strategy.type", api.ErrorNotSupported},
		{"wrong type", "  replicas: 3\n", "  replicas: three\n", "spec.replicas", api.ErrorInvalid},
		{"selector mismatch", "      labels:\n        app: web\n    spec:", "      labels:\n        app: api\n    spec:",
			"spec.template.metadata.labels", api.ErrorInvalid},
		{"bad quantity", "cpu: 100m", "cpu: lots", "spec.template.spec.containers[0].resources.requests[cpu]", api.ErrorInvalid},
		{"unsupported service type", "  selector:\n    app: web\n  ports:", "  type: Balanced\n  selector:\n    app: web\n  ports:",
			"spec.type", api.ErrorNotSupported},
		{"unsupported service field", "  selector:\n    app: web\n  ports:", "  externalTrafficPolicy: Local\n  selector:\n    app: web\n  ports:",
			"spec.externalTrafficPolicy", api.ErrorUnknownField},
		{"unknown kind", "kind: Service", "kind: NetworkPolicy", "kind", api.ErrorNotSupported},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in := strings.Replace(webManifest, tc.from, tc.to, 1)
			if in == webManifest {
				t.Fatalf("test edit %q not applied", tc.from)
			}
			_, err := api.DecodeManifests(strings.NewReader(in))
			if err == nil {
				t.Fatal("decoded, want a field error")
			}
			if !errors.Is(err, api.ErrInvalid) {
				t.Errorf("errors.Is(%v, ErrInvalid) = false", err)
			}
			var list api.ErrorList
			if !errors.As(err, &list) {
				t.Fatalf("error %v is not an ErrorList", err)
			}
			if !strings.Contains(err.Error(), tc.wantField+": "+tc.wantType) {
				t.Errorf("message %q does not name %s", err, tc.wantField)
			}
			for _, fe := range list {
				if fe.Field == tc.wantField && fe.Type == tc.wantType {
					return
				}
			}
			t.Fatalf("got %v, want a %q error at %s", err, tc.wantType, tc.wantField)
		})
	}
}

func TestDecodeDocumentNumberAndDuplicateKey(t *testing.T) {
	in := "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: a\n---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: b\n  name: c\n"
	_, err := api.DecodeManifests(strings.NewReader(in))
	if err == nil || !strings.Contains(err.Error(), "document 2") {
		t.Fatalf("got %v, want an error naming document 2", err)
	}
}

func TestPodDecodeAndValidate(t *testing.T) {
	pod := `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","namespace":"ns1","labels":{"app":"x"}},
	"spec":{"restartPolicy":"Never","containers":[{"name":"c","image":"busybox","command":["sleep","1"]},{"name":"c","image":"busybox"}],
	"tolerations":[{"operator":"Exists","value":"v"}]}}`
	_, err := api.DecodeObject([]byte(pod))
	var list api.ErrorList
	if !errors.As(err, &list) {
		t.Fatalf("got %v, want field errors", err)
	}
	want := map[string]string{
		"spec.containers[1].name":   api.ErrorDuplicate,
		"spec.tolerations[0].value": api.ErrorInvalid,
	}
	for _, fe := range list {
		if want[fe.Field] == fe.Type {
			delete(want, fe.Field)
		}
	}
	if len(want) > 0 {
		t.Fatalf("missing errors %v in %v", want, err)
	}
}

func TestQuantity(t *testing.T) {
	cases := []struct {
		in    string
		milli int64
		ok    bool
	}{
		{"100m", 100, true}, {"1", 1000, true}, {"0.5", 500, true}, {"1.5Gi", 1536 << 20 * 1000, true},
		{"2k", 2000000, true}, {"1e3", 1000000, true}, {"1E", 0, false}, {"abc", 0, false},
		{"1.0001m", 2, true}, {"", 0, false},
	}
	for _, tc := range cases {
		got, err := api.ParseQuantity(tc.in)
		if (err == nil) != tc.ok {
			t.Errorf("ParseQuantity(%q) err = %v, want ok=%v", tc.in, err, tc.ok)
			continue
		}
		if tc.ok && got != tc.milli {
			t.Errorf("ParseQuantity(%q) = %d, want %d", tc.in, got, tc.milli)
		}
	}
}

func TestIntOrStringScaled(t *testing.T) {
	for _, tc := range []struct {
		v       api.IntOrString
		up      bool
		total   int
		want    int
		wantErr bool
	}{
		{api.FromString("25%"), true, 10, 3, false},
		{api.FromString("25%"), false, 10, 2, false},
		{api.FromInt(4), false, 10, 4, false},
		{api.FromString("x"), false, 10, 0, true},
	} {
		got, err := tc.v.ScaledValue(tc.total, tc.up)
		if (err != nil) != tc.wantErr || got != tc.want {
			t.Errorf("%v.ScaledValue(%d, %v) = %d, %v; want %d", tc.v, tc.total, tc.up, got, err, tc.want)
		}
	}
}

// What `kubectl create deployment web --image=nginx --dry-run=client -o yaml` and
// `kubectl create service clusterip web --tcp=80:80 --dry-run=client -o yaml` and
// `kubectl run nginx --image=nginx --dry-run=client -o yaml` print.
const kubectlGenerated = `apiVersion: apps/v1
kind: Deployment
metadata:
  creationTimestamp: null
  labels:
    app: web
  name: web
spec:
  replicas: 1
  selector:
    matchLabels:
      app: web
  strategy: {}
  template:
    metadata:
      creationTimestamp: null
      labels:
        app: web
    spec:
      containers:
      - image: nginx
        name: nginx
        resources: {}
status: {}
---
apiVersion: v1
kind: Service
metadata:
  creationTimestamp: null
  labels:
    app: web
  name: web
spec:
  ports:
  - name: 80-80
    port: 80
    protocol: TCP
    targetPort: 80
  selector:
    app: web
  type: ClusterIP
status:
  loadBalancer: {}
---
apiVersion: v1
kind: Pod
metadata:
  creationTimestamp: null
  labels:
    run: nginx
  name: nginx
spec:
  containers:
  - image: nginx
    name: nginx
    resources: {}
  dnsPolicy: ClusterFirst
  restartPolicy: Always
status: {}
`

func TestDecodeKubectlGenerated(t *testing.T) {
	objs, err := api.DecodeManifests(strings.NewReader(kubectlGenerated))
	if err != nil {
		t.Fatalf("DecodeManifests: %v", err)
	}
	if len(objs) != 3 || objs[0].Meta().Name != "web" || objs[1].Meta().Name != "web" || objs[2].Meta().Name != "nginx" {
		t.Fatalf("decoded %v", objs)
	}
	if d := objs[0].(*api.Deployment); d.Spec.Strategy.Type != api.RollingUpdateStrategy || !d.CreationTimestamp.IsZero() {
		t.Errorf("deployment %+v", d)
	}
}
