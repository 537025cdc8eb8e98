package api_test

import (
	"os"
	"strings"
	"testing"

	"github.com/keeldb/keel/orchestrator/api"
)

func TestDecodeValidateIngress(t *testing.T) {
	const head = "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {name: web, namespace: default}\n"
	for _, tc := range []struct {
		name, spec string
		want       string // "" = valid
	}{
		{"valid", `spec:
  ingressClassName: keel
  rules:
  - host: "*.example.com"
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}
      - {path: /api, pathType: Exact, backend: {service: {name: api, port: {name: http}}}}`, ""},
		{"default backend only", `spec: {defaultBackend: {service: {name: web, port: {number: 80}}}}`, ""},
		{"empty", `spec: {}`, "spec: Invalid value: \"\": either `defaultBackend` or `rules` must be specified"},
		{"no pathType", `spec: {rules: [{http: {paths: [{path: /, backend: {service: {name: web, port: {number: 80}}}}]}}]}`,
			"spec.rules[0].http.paths[0].pathType: Required value: pathType must be specified"},
		{"bad pathType", `spec: {rules: [{http: {paths: [{path: /, pathType: Regex, backend: {service: {name: web, port: {number: 80}}}}]}}]}`,
			`spec.rules[0].http.paths[0].pathType: Unsupported value: "Regex": supported values: "Exact", "ImplementationSpecific", "Prefix"`},
		{"relative path", `spec: {rules: [{http: {paths: [{path: api, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}]}}]}`,
			`spec.rules[0].http.paths[0].path: Invalid value: "api": must be an absolute path`},
		{"both ports", `spec: {defaultBackend: {service: {name: web, port: {number: 80, name: http}}}}`,
			"cannot set both port name & port number"},
		{"IP host", `spec: {rules: [{host: 10.0.0.1, http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}]}}]}`,
			`spec.rules[0].host: Invalid value: "10.0.0.1": must be a DNS name, not an IP address`},
		{"resource backend refused", `spec: {defaultBackend: {resource: {kind: Bucket, name: b}}}`, "spec.defaultBackend.resource"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			objs, err := api.DecodeManifests(strings.NewReader(head + tc.spec))
			if err == nil {
				api.Default(objs[0])
				err = api.Validate(objs[0]).Err()
			}
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("error %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestValidateIngressClass(t *testing.T) {
	c := &api.IngressClass{ObjectMeta: api.ObjectMeta{Name: "keel"}}
	if err := api.Validate(c).Err(); err == nil || !strings.Contains(err.Error(), "spec.controller: Required value") {
		t.Fatalf("got %v", err)
	}
	c.Spec.Controller = "keel.dev/ingress-controller"
	if err := api.Validate(c).Err(); err != nil {
		t.Fatal(err)
	}
	if r, ok := api.LookupResource("ing"); !ok || r.Kind != "Ingress" {
		t.Fatalf("ing resolves to %v %v", r, ok)
	}
}

// TestExampleIngress decodes and validates examples/ingress.yaml.
func TestExampleIngress(t *testing.T) {
	b, err := os.ReadFile("../../examples/ingress.yaml")
	if err != nil {
		t.Fatal(err)
	}
	objs, err := api.DecodeManifests(strings.NewReader(string(b)))
	if err != nil || len(objs) != 5 {
		t.Fatalf("got %d objects, %v", len(objs), err)
	}
	for _, o := range objs {
		api.Default(o)
		if err := api.Validate(o).Err(); err != nil {
			t.Errorf("%s: %v", o.Meta().Name, err)
		}
	}
}
