package openapi

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	openapi_v2 "github.com/google/gnostic-models/openapiv2"
	"google.golang.org/protobuf/proto"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/managedfields"
	"k8s.io/kube-openapi/pkg/handler"
	protomodels "k8s.io/kube-openapi/pkg/util/proto"
	"k8s.io/kube-openapi/pkg/util/proto/validation"
	"sigs.k8s.io/yaml"

	"github.com/keeldb/keel/orchestrator/api"
)

func serve(t *testing.T) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	Register(mux, api.Resources())
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func get(t *testing.T, url, accept string, hdr ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

// walk follows keys through a decoded JSON document, resolving $ref and single-element
// allOf against the components or definitions.
func walk(t *testing.T, doc map[string]any, node any, keys ...string) any {
	t.Helper()
	for _, k := range keys {
		m, ok := resolve(doc, node).(map[string]any)
		if !ok {
			t.Fatalf("at %q: %v is not an object", k, node)
		}
		if node = m[k]; node == nil {
			t.Fatalf("no %q in %v", k, m)
		}
	}
	return node
}

// resolve follows $ref and single-element allOf to the schema they name.
func resolve(doc map[string]any, n any) any {
	{
		for {
			m, ok := n.(map[string]any)
			if !ok {
				return n
			}
			if all, ok := m["allOf"].([]any); ok && len(all) == 1 {
				n = all[0]
				continue
			}
			ref, ok := m["$ref"].(string)
			if !ok {
				return n
			}
			var cur any = doc
			for _, p := range splitRef(ref) {
				cur = cur.(map[string]any)[p]
			}
			n = cur
		}
	}
}

func splitRef(ref string) []string { return strings.Split(strings.TrimPrefix(ref, "#/"), "/") }

// schemaByGVK finds the schema carrying x-kubernetes-group-version-kind gvk, as kubectl
// explain does.
func schemaByGVK(t *testing.T, schemas map[string]any, group, version, kind string) map[string]any {
	t.Helper()
	for _, s := range schemas {
		m := s.(map[string]any)
		gvks, _ := m["x-kubernetes-group-version-kind"].([]any)
		for _, g := range gvks {
			g := g.(map[string]any)
			if g["group"] == group && g["version"] == version && g["kind"] == kind {
				return m
			}
		}
	}
	t.Fatalf("no schema of %s/%s %s", group, version, kind)
	return nil
}

func TestV3(t *testing.T) {
	srv := serve(t)
	resp, b := get(t, srv.URL+"/openapi/v3", "application/json")
	if resp.StatusCode != 200 {
		t.Fatalf("discovery: %d %s", resp.StatusCode, b)
	}
	var disc struct {
		Paths map[string]struct {
			ServerRelativeURL string `json:"serverRelativeURL"`
		} `json:"paths"`
	}
	if err := json.Unmarshal(b, &disc); err != nil {
		t.Fatal(err)
	}
	for _, gv := range []string{"api/v1", "apis/apps/v1", "apis/batch/v1", "apis/networking.k8s.io/v1", "apis/autoscaling/v2"} {
		if disc.Paths[gv].ServerRelativeURL == "" {
			t.Errorf("discovery lacks %s: %s", gv, b)
		}
	}

	load := func(gv string) map[string]any {
		resp, b := get(t, srv.URL+disc.Paths[gv].ServerRelativeURL, "application/json")
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d", gv, resp.StatusCode)
		}
		if cc := resp.Header.Get("Cache-Control"); cc != "public, immutable" {
			t.Errorf("%s with its hash: Cache-Control %q", gv, cc)
		}
		var doc map[string]any
		if err := json.Unmarshal(b, &doc); err != nil {
			t.Fatal(err)
		}
		return doc
	}

	apps := load("apis/apps/v1")
	schemas := apps["components"].(map[string]any)["schemas"].(map[string]any)
	dep := schemaByGVK(t, schemas, "apps", "v1", "Deployment")
	replicas := walk(t, apps, dep, "properties", "spec", "properties", "replicas").(map[string]any)
	if replicas["type"] != "integer" || replicas["format"] != "int32" {
		t.Errorf("deployment.spec.replicas = %v, want integer int32", replicas)
	}
	spec := resolve(apps, walk(t, apps, dep, "properties", "spec")).(map[string]any)
	if req, _ := spec["required"].([]any); len(req) != 1 || req[0] != "selector" {
		t.Errorf("deployment.spec required = %v, want [selector]", spec["required"])
	}
	created := resolve(apps, walk(t, apps, dep, "properties", "metadata", "properties", "creationTimestamp")).(map[string]any)
	if created["type"] != "string" || created["format"] != "date-time" {
		t.Errorf("metadata.creationTimestamp = %v", created)
	}
	// The pod template's containers, through apps/v1's copy of the core types.
	containers := walk(t, apps, dep, "properties", "spec", "properties", "template", "properties", "spec", "properties", "containers").(map[string]any)
	if containers["x-kubernetes-patch-merge-key"] != "name" || containers["x-kubernetes-patch-strategy"] != "merge" {
		t.Errorf("containers patch metadata = %v", containers)
	}

	// kubectl's test for server-side field validation: the kind's PATCH lists fieldValidation.
	paths := apps["paths"].(map[string]any)
	patch := paths["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"].(map[string]any)["patch"].(map[string]any)
	if gvk := patch["x-kubernetes-group-version-kind"].(map[string]any); gvk["kind"] != "Deployment" || gvk["group"] != "apps" {
		t.Errorf("patch gvk = %v", gvk)
	}
	var params []string
	for _, p := range patch["parameters"].([]any) {
		params = append(params, p.(map[string]any)["name"].(string))
	}
	if !contains(params, "fieldValidation") || !contains(params, "dryRun") {
		t.Errorf("deployment PATCH parameters = %v, want fieldValidation and dryRun", params)
	}

	core := load("api/v1")
	pod := schemaByGVK(t, core["components"].(map[string]any)["schemas"].(map[string]any), "", "v1", "Pod")
	c := walk(t, core, pod, "properties", "spec", "properties", "containers").(map[string]any)
	if c["x-kubernetes-patch-merge-key"] != "name" {
		t.Errorf("pod containers = %v", c)
	}
	port := walk(t, core, pod, "properties", "spec", "properties", "containers", "items", "properties", "ports", "items", "properties", "containerPort").(map[string]any)
	if port["format"] != "int32" {
		t.Errorf("containerPort = %v", port)
	}
	sec := schemaByGVK(t, core["components"].(map[string]any)["schemas"].(map[string]any), "", "v1", "Secret")
	if data := walk(t, core, sec, "properties", "data", "additionalProperties").(map[string]any); data["format"] != "byte" {
		t.Errorf("secret data values = %v, want format byte", data)
	}

	// A stale hash redirects to the current one; an unknown group version is not served.
	resp, _ = get(t, srv.URL+"/openapi/v3/apis/apps/v1?hash=0", "application/json")
	if resp.Request.URL.RawQuery == "hash=0" {
		t.Errorf("stale hash not redirected")
	}
	if resp, _ := get(t, srv.URL+"/openapi/v3/apis/nope/v1", "application/json"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("unknown group version: %d, want 404", resp.StatusCode)
	}
}

func contains(xs []string, x string) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}

func TestV2JSONAndProto(t *testing.T) {
	srv := serve(t)
	resp, b := get(t, srv.URL+"/openapi/v2", "application/json")
	if resp.StatusCode != 200 {
		t.Fatalf("v2: %d", resp.StatusCode)
	}
	etag := resp.Header.Get("Etag")
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	if doc["swagger"] != "2.0" {
		t.Errorf("swagger = %v", doc["swagger"])
	}
	dep := schemaByGVK(t, doc["definitions"].(map[string]any), "apps", "v1", "Deployment")
	if r := walk(t, doc, dep, "properties", "spec", "properties", "replicas").(map[string]any); r["format"] != "int32" {
		t.Errorf("v2 replicas = %v", r)
	}

	// Unchanged documents answer 304 to their ETag.
	if resp, _ := get(t, srv.URL+"/openapi/v2", "application/json", "If-None-Match", etag); resp.StatusCode != http.StatusNotModified {
		t.Errorf("If-None-Match: %d, want 304", resp.StatusCode)
	}

	resp, b = get(t, srv.URL+"/openapi/v2", "application/com.github.proto-openapi.spec.v2@v1.0+protobuf")
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != 200 || ct != "application/com.github.proto-openapi.spec.v2.v1.0+protobuf" {
		t.Fatalf("v2 protobuf: %d %q", resp.StatusCode, ct)
	}
	var pd openapi_v2.Document
	if err := proto.Unmarshal(b, &pd); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, def := range pd.GetDefinitions().GetAdditionalProperties() {
		if def.GetName() != "io.k8s.api.apps.v1.DeploymentSpec" {
			continue
		}
		found = true
		for _, p := range def.GetValue().GetProperties().GetAdditionalProperties() {
			if p.GetName() == "replicas" && p.GetValue().GetFormat() != "int32" {
				t.Errorf("proto replicas format = %q", p.GetValue().GetFormat())
			}
		}
	}
	if !found {
		t.Errorf("proto document lacks io.k8s.api.apps.v1.DeploymentSpec")
	}
}

// The v2 document, read as kubectl reads it for client-side validation and patch
// metadata (proto models), validates objects by their kind.
func TestV2Models(t *testing.T) {
	b, err := handler.ToProtoBinary(mustJSON(t, V2(api.Resources())))
	if err != nil {
		t.Fatal(err)
	}
	var doc openapi_v2.Document
	if err := proto.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	models, err := protomodels.NewOpenAPIData(&doc)
	if err != nil {
		t.Fatalf("kubectl cannot read the v2 document: %v", err)
	}
	dep := models.LookupModel("io.k8s.api.apps.v1.Deployment")
	if dep == nil {
		t.Fatal("no Deployment model")
	}
	valid := func(y string) []error {
		var obj map[string]any
		if err := yaml.Unmarshal([]byte(y), &obj); err != nil {
			t.Fatal(err)
		}
		return validation.ValidateModel(obj, dep, "Deployment")
	}
	good := "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  replicas: 2\n  selector: {matchLabels: {app: web}}\n" +
		"  template:\n    metadata: {labels: {app: web}}\n    spec:\n      containers:\n      - name: web\n        image: nginx\n" +
		"        ports: [{containerPort: 80}]\n        resources: {limits: {cpu: 1, memory: 64Mi}}\n        livenessProbe: {httpGet: {port: 80, path: /}}\n"
	if errs := valid(good); len(errs) != 0 {
		t.Errorf("a valid Deployment: %v", errs)
	}
	if errs := valid(strings.Replace(good, "replicas: 2", "replicass: 2", 1)); len(errs) == 0 {
		t.Errorf("an unknown field passed validation")
	}
	if errs := valid(strings.Replace(good, "replicas: 2", "replicas: two", 1)); len(errs) == 0 {
		t.Errorf("a string replicas passed validation")
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The schemas build server-side apply's type converter, and it merges containers by
// name (the patch merge key) instead of replacing the list.
func TestSchemasForServerSideApply(t *testing.T) {
	tc, err := managedfields.NewTypeConverter(Schemas(api.Resources()), false)
	if err != nil {
		t.Fatalf("NewTypeConverter: %v", err)
	}
	obj := func(y string) *unstructured.Unstructured {
		u := &unstructured.Unstructured{}
		if err := yaml.Unmarshal([]byte(y), &u.Object); err != nil {
			t.Fatal(err)
		}
		return u
	}
	live, err := tc.ObjectToTyped(obj("apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - {name: a, image: img1}\n  - {name: b, image: img2}\n"))
	if err != nil {
		t.Fatalf("ObjectToTyped: %v", err)
	}
	patch, err := tc.ObjectToTyped(obj("apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - {name: b, image: img3}\n"))
	if err != nil {
		t.Fatal(err)
	}
	merged, err := live.Merge(patch)
	if err != nil {
		t.Fatalf("Merge: %v", err)
	}
	got := mustJSON(t, merged.AsValue().Unstructured())
	if want := `"containers":[{"image":"img1","name":"a"},{"image":"img3","name":"b"}]`; !strings.Contains(string(got), want) {
		t.Errorf("merged pod = %s, want %s", got, want)
	}
}
