package apiserver_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/keeldb/keel/internal/testcluster"
	"github.com/keeldb/keel/orchestrator/apiserver"
	"github.com/keeldb/keel/orchestrator/authz"
)

// denyDelete allows everything but deletes by the user "viewer".
type denyDelete struct{}

func (denyDelete) Authorize(_ context.Context, a authz.Attributes) (authz.Decision, string, error) {
	if a.User.Name == "viewer" && (a.Verb == "delete" || a.Verb == "deletecollection") {
		return authz.DecisionNoOpinion, "", nil
	}
	return authz.DecisionAllow, "", nil
}

// env is an apiserver over a real 3-member cluster, reached with bearer tokens.
type env struct {
	t   *testing.T
	url string
	c   *testcluster.Cluster
}

func newEnv(t *testing.T) *env {
	c := testcluster.Start(t, 3)
	s := apiserver.New(apiserver.Config{Client: c.Client(), Authorizer: denyDelete{},
		Tokens: apiserver.TokenFile{"admin-token": {Name: "admin", Groups: []string{authz.SystemPrivilegedGrp}}, "viewer-token": {Name: "viewer"}}})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.Bootstrap(ctx); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	t.Cleanup(srv.CloseClientConnections)
	return &env{t: t, url: srv.URL, c: c}
}

// with returns e reporting to the subtest t.
func (e *env) with(t *testing.T) *env { return &env{t: t, url: e.url, c: e.c} }

type resp struct {
	code   int
	header http.Header
	body   []byte
}

func (r resp) status(t *testing.T) metav1.Status {
	t.Helper()
	var st metav1.Status
	if err := json.Unmarshal(r.body, &st); err != nil || st.Kind != "Status" {
		t.Fatalf("want a Status, got %d %s", r.code, r.body)
	}
	return st
}

func (r resp) into(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
}

// do sends a request as token ("" = none) with the given headers ("Key: value").
func (e *env) do(token, method, path, body string, headers ...string) resp {
	e.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, e.url+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for _, h := range headers {
		k, v, _ := strings.Cut(h, ": ")
		req.Header.Set(k, v)
	}
	r, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer func() { _ = r.Body.Close() }()
	b, err := io.ReadAll(r.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return resp{code: r.StatusCode, header: r.Header, body: b}
}

func (e *env) admin(method, path, body string, headers ...string) resp {
	e.t.Helper()
	return e.do("admin-token", method, path, body, headers...)
}

func wantCode(t *testing.T, r resp, code int) {
	t.Helper()
	if r.code != code {
		t.Fatalf("got %d, want %d: %s", r.code, code, r.body)
	}
}

const podJSON = `{"apiVersion":"v1","kind":"Pod","metadata":{"name":%q,"labels":{"app":%q}},"spec":{"containers":[{"name":"c","image":"busybox"}]}}`

const deployJSON = `{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":%q},"spec":{"replicas":2,"selector":{"matchLabels":{"app":"d"}},
"template":{"metadata":{"labels":{"app":"d"}},"spec":{"containers":[{"name":"a","image":"nginx:1"},{"name":"b","image":"busybox"}]}}}}`

func TestAPIServer(t *testing.T) {
	e := newEnv(t)
	t.Run("Authentication", func(t *testing.T) { e.with(t).testAuthentication(t) })
	t.Run("Discovery", func(t *testing.T) { e.with(t).testDiscovery(t) })
	t.Run("CreateGetErrors", func(t *testing.T) { e.with(t).testCreateGetErrors(t) })
	t.Run("FieldValidation", func(t *testing.T) { e.with(t).testFieldValidation(t) })
	t.Run("UpdateConflict", func(t *testing.T) { e.with(t).testUpdateConflict(t) })
	t.Run("ListSelectorsPaging", func(t *testing.T) { e.with(t).testList(t) })
	t.Run("Patch", func(t *testing.T) { e.with(t).testPatch(t) })
	t.Run("Watch", func(t *testing.T) { e.with(t).testWatch(t) })
	t.Run("Table", func(t *testing.T) { e.with(t).testTable(t) })
	t.Run("ScaleStatus", func(t *testing.T) { e.with(t).testScale(t) })
	t.Run("DeleteDryRunForbidden", func(t *testing.T) { e.with(t).testDelete(t) })
}

func (e *env) testAuthentication(t *testing.T) {
	st := e.do("", "GET", "/api/v1/pods", "").status(t)
	if st.Code != 401 || st.Reason != metav1.StatusReasonUnauthorized {
		t.Fatalf("anonymous: %+v", st)
	}
	if st := e.do("wrong", "GET", "/version", "").status(t); st.Code != 401 {
		t.Fatalf("bad token: %+v", st)
	}
	r := e.admin("GET", "/version", "")
	wantCode(t, r, 200)
	var v struct{ Major, Minor, GitVersion string }
	r.into(t, &v)
	if v.Major != "1" || v.Minor != "32" || !strings.HasPrefix(v.GitVersion, "v1.32.") {
		t.Fatalf("version: %+v", v)
	}
	wantCode(t, e.admin("GET", "/healthz", ""), 200)
	wantCode(t, e.admin("GET", "/readyz", ""), 200)
}

func (e *env) testDiscovery(t *testing.T) {
	var l metav1.APIResourceList
	e.admin("GET", "/api/v1", "").into(t, &l)
	found := map[string]metav1.APIResource{}
	for _, r := range l.APIResources {
		found[r.Name] = r
	}
	if p := found["pods"]; !p.Namespaced || p.Kind != "Pod" || len(p.ShortNames) == 0 || p.ShortNames[0] != "po" || len(p.Verbs) != 8 {
		t.Fatalf("pods: %+v", p)
	}
	if ev := found["pods/eviction"]; ev.Group != "policy" || ev.Version != "v1" || ev.Kind != "Eviction" {
		t.Fatalf("pods/eviction: %+v", ev)
	}
	for _, n := range []string{"pods/status", "pods/log", "pods/binding", "replicationcontrollers/scale", "namespaces"} {
		if _, ok := found[n]; !ok {
			t.Errorf("/api/v1 lacks %s", n)
		}
	}
	var apps metav1.APIResourceList
	e.admin("GET", "/apis/apps/v1", "").into(t, &apps)
	if apps.GroupVersion != "apps/v1" {
		t.Fatalf("apps: %+v", apps)
	}
	var metrics metav1.APIResourceList
	e.admin("GET", "/apis/metrics.k8s.io/v1beta1", "").into(t, &metrics)
	if len(metrics.APIResources) != 2 || metrics.APIResources[0].Name != "nodes" || metrics.APIResources[1].Name != "pods" ||
		metrics.APIResources[1].Kind != "PodMetrics" {
		t.Fatalf("metrics.k8s.io: %+v", metrics.APIResources)
	}
	wantCode(t, e.admin("GET", "/apis/metrics.k8s.io/v1beta1/namespaces/default/pods", ""), 200)
	r := e.admin("GET", "/apis", "", "Accept: application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json")
	if ct := r.header.Get("Content-Type"); ct != "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList" {
		t.Fatalf("aggregated Content-Type %q", ct)
	}
	var agg struct {
		Kind  string
		Items []struct {
			Metadata struct{ Name string }
			Versions []struct {
				Version   string
				Resources []struct {
					Resource     string
					Subresources []struct{ Subresource string }
				}
			}
		}
	}
	r.into(t, &agg)
	groups := map[string]bool{}
	for _, g := range agg.Items {
		groups[g.Metadata.Name] = true
		if g.Metadata.Name == "apps" {
			for _, res := range g.Versions[0].Resources {
				if res.Resource == "deployments" && len(res.Subresources) != 2 {
					t.Errorf("deployments subresources %+v", res.Subresources)
				}
			}
		}
	}
	if agg.Kind != "APIGroupDiscoveryList" || !groups["apps"] || !groups["authorization.k8s.io"] || groups[""] {
		t.Fatalf("aggregated /apis: %s", r.body)
	}
	r = e.admin("GET", "/api", "", "Accept: application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList")
	if !bytes.Contains(r.body, []byte(`"resource":"pods"`)) {
		t.Fatalf("aggregated /api: %s", r.body)
	}
}

func (e *env) testCreateGetErrors(t *testing.T) {
	r := e.admin("POST", "/api/v1/namespaces/default/pods", fmt.Sprintf(podJSON, "p1", "web"))
	wantCode(t, r, 201)
	var p struct{ Metadata metav1.ObjectMeta }
	r.into(t, &p)
	if p.Metadata.UID == "" || p.Metadata.ResourceVersion == "" {
		t.Fatalf("created: %s", r.body)
	}
	st := e.admin("POST", "/api/v1/namespaces/default/pods", fmt.Sprintf(podJSON, "p1", "web")).status(t)
	if st.Code != 409 || st.Reason != metav1.StatusReasonAlreadyExists || st.Message != `pods "p1" already exists` {
		t.Fatalf("AlreadyExists: %+v", st)
	}
	wantCode(t, e.admin("GET", "/api/v1/namespaces/default/pods/p1", ""), 200)
	st = e.admin("GET", "/api/v1/namespaces/default/pods/nope", "").status(t)
	if st.Code != 404 || st.Reason != metav1.StatusReasonNotFound || st.Message != `pods "nope" not found` {
		t.Fatalf("NotFound: %+v", st)
	}
	st = e.admin("GET", "/apis/apps/v1/namespaces/default/deployments/nope", "").status(t)
	if st.Message != `deployments.apps "nope" not found` {
		t.Fatalf("NotFound in a group: %+v", st)
	}
	// generateName.
	r = e.admin("POST", "/api/v1/namespaces/default/pods", `{"metadata":{"generateName":"gen-"},"spec":{"containers":[{"name":"c","image":"x"}]}}`)
	wantCode(t, r, 201)
	r.into(t, &p)
	if !strings.HasPrefix(p.Metadata.Name, "gen-") || len(p.Metadata.Name) <= 4 {
		t.Fatalf("generateName: %q", p.Metadata.Name)
	}
	// Invalid: field causes.
	st = e.admin("POST", "/api/v1/namespaces/default/pods", `{"metadata":{"name":"bad"},"spec":{"containers":[{"name":"c"}]}}`).status(t)
	if st.Code != 422 || st.Reason != metav1.StatusReasonInvalid || st.Details == nil || len(st.Details.Causes) == 0 ||
		!strings.HasPrefix(st.Message, `Pod "bad" is invalid: `) {
		t.Fatalf("Invalid: %+v", st)
	}
	if c := st.Details.Causes[0]; c.Field != "spec.containers[0].image" || c.Type != metav1.CauseTypeFieldValueRequired {
		t.Fatalf("Invalid cause: %+v", st.Details.Causes)
	}
	// No namespace object: NamespaceLifecycle.
	st = e.admin("POST", "/api/v1/namespaces/nowhere/pods", fmt.Sprintf(podJSON, "p1", "web")).status(t)
	if st.Code != 404 || st.Message != `namespaces "nowhere" not found` {
		t.Fatalf("missing namespace: %+v", st)
	}
	// Media types.
	st = e.admin("POST", "/api/v1/namespaces/default/pods", "x", "Content-Type: text/plain").status(t)
	if st.Code != 415 || st.Reason != metav1.StatusReasonUnsupportedMediaType {
		t.Fatalf("415: %+v", st)
	}
	st = e.admin("GET", "/api/v1/namespaces/default/pods/p1", "", "Accept: application/xml").status(t)
	if st.Code != 406 || st.Reason != metav1.StatusReasonNotAcceptable {
		t.Fatalf("406: %+v", st)
	}
	st = e.admin("POST", "/api/v1/namespaces/default/pods/p1", "{}").status(t)
	if st.Code != 405 || st.Reason != metav1.StatusReasonMethodNotAllowed {
		t.Fatalf("405: %+v", st)
	}
}

func (e *env) testFieldValidation(t *testing.T) {
	body := `{"metadata":{"name":"fv"},"spec":{"foo":1,"containers":[{"name":"c","image":"x","bar":2}]}}`
	st := e.admin("POST", "/api/v1/namespaces/default/pods?fieldValidation=Strict", body).status(t)
	if st.Code != 400 || st.Reason != metav1.StatusReasonBadRequest ||
		st.Message != `strict decoding error: unknown field "spec.containers[0].bar", unknown field "spec.foo"` {
		t.Fatalf("Strict: %+v", st)
	}
	r := e.admin("POST", "/api/v1/namespaces/default/pods?fieldValidation=Warn", body)
	wantCode(t, r, 201)
	if w := r.header.Values("Warning"); len(w) != 2 || w[1] != `299 - "unknown field \"spec.foo\""` {
		t.Fatalf("Warn: warnings %q", w)
	}
	r = e.admin("POST", "/api/v1/namespaces/default/pods?fieldValidation=Ignore", strings.Replace(body, `"fv"`, `"fv2"`, 1))
	wantCode(t, r, 201)
	if w := r.header.Values("Warning"); len(w) != 0 {
		t.Fatalf("Ignore: warnings %q", w)
	}
	st = e.admin("POST", "/api/v1/namespaces/default/pods?fieldValidation=Loud", body).status(t)
	if st.Code != 400 {
		t.Fatalf("bad fieldValidation: %+v", st)
	}
}

func (e *env) testUpdateConflict(t *testing.T) {
	r := e.admin("POST", "/api/v1/namespaces/default/configmaps", `{"metadata":{"name":"cm"},"data":{"a":"1"}}`)
	wantCode(t, r, 201)
	var cm struct {
		Metadata metav1.ObjectMeta `json:"metadata"`
		Data     map[string]string `json:"data"`
	}
	r.into(t, &cm)
	stale := cm.Metadata.ResourceVersion
	cm.Data["a"] = "2"
	b, _ := json.Marshal(cm)
	r = e.admin("PUT", "/api/v1/namespaces/default/configmaps/cm", string(b))
	wantCode(t, r, 200)
	st := e.admin("PUT", "/api/v1/namespaces/default/configmaps/cm", string(b)).status(t)
	if st.Code != 409 || st.Reason != metav1.StatusReasonConflict ||
		st.Message != `Operation cannot be fulfilled on configmaps "cm": the object has been modified; please apply your changes to the latest version and try again` {
		t.Fatalf("Conflict: %+v (stale rv %s)", st, stale)
	}
	st = e.admin("PUT", "/api/v1/namespaces/default/configmaps/other", string(b)).status(t)
	if st.Code != 400 {
		t.Fatalf("name mismatch: %+v", st)
	}
}

func (e *env) testList(t *testing.T) {
	for i := range 5 {
		app := "a"
		if i%2 == 1 {
			app = "b"
		}
		wantCode(t, e.admin("POST", "/api/v1/namespaces/kube-public/pods", fmt.Sprintf(podJSON, fmt.Sprintf("l%d", i), app)), 201)
	}
	type podList struct {
		Kind     string
		Metadata metav1.ListMeta
		Items    []struct{ Metadata metav1.ObjectMeta }
	}
	names := func(l podList) string {
		var n []string
		for _, it := range l.Items {
			n = append(n, it.Metadata.Name)
		}
		return strings.Join(n, ",")
	}
	var l podList
	e.admin("GET", "/api/v1/namespaces/kube-public/pods?labelSelector=app%3Da", "").into(t, &l)
	if l.Kind != "PodList" || names(l) != "l0,l2,l4" || l.Metadata.ResourceVersion == "" {
		t.Fatalf("labelSelector: %s %+v", names(l), l.Metadata)
	}
	e.admin("GET", "/api/v1/pods?fieldSelector=metadata.namespace%3Dkube-public,metadata.name!%3Dl0", "").into(t, &l)
	if names(l) != "l1,l2,l3,l4" {
		t.Fatalf("fieldSelector: %s", names(l))
	}
	e.admin("GET", "/api/v1/namespaces/kube-public/pods?fieldSelector=spec.nodeName%3D", "").into(t, &l)
	if len(l.Items) != 5 {
		t.Fatalf("spec.nodeName=: %s", names(l))
	}
	st := e.admin("GET", "/api/v1/pods?fieldSelector=spec.foo%3Dx", "").status(t)
	if st.Code != 400 || !strings.Contains(st.Message, "field label not supported: spec.foo") {
		t.Fatalf("unsupported field: %+v", st)
	}
	// Paging at one revision.
	l = podList{}
	e.admin("GET", "/api/v1/namespaces/kube-public/pods?limit=2", "").into(t, &l)
	got, rv := names(l), l.Metadata.ResourceVersion
	for l.Metadata.Continue != "" {
		if l.Metadata.ResourceVersion != rv {
			t.Fatalf("page at %s, first at %s", l.Metadata.ResourceVersion, rv)
		}
		next := l.Metadata.Continue
		l = podList{}
		e.admin("GET", "/api/v1/namespaces/kube-public/pods?limit=2&continue="+next, "").into(t, &l)
		got += "," + names(l)
	}
	if got != "l0,l1,l2,l3,l4" {
		t.Fatalf("pages: %s", got)
	}
	// Exact read at an old revision, and 410 once it is compacted.
	wantCode(t, e.admin("DELETE", "/api/v1/namespaces/kube-public/pods/l4?gracePeriodSeconds=0", ""), 200)
	l = podList{}
	e.admin("GET", "/api/v1/namespaces/kube-public/pods?resourceVersion="+rv+"&resourceVersionMatch=Exact", "").into(t, &l)
	if len(l.Items) != 5 {
		t.Fatalf("exact read at %s: %s", rv, names(l))
	}
	var cur podList
	e.admin("GET", "/api/v1/namespaces/kube-public/pods?resourceVersion=0", "").into(t, &cur)
	if len(cur.Items) != 4 {
		t.Fatalf("rv=0: %s", names(cur))
	}
	var rev int64
	fmt.Sscan(cur.Metadata.ResourceVersion, &rev)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := e.c.Client().Compact(ctx, rev); err != nil {
		t.Fatal(err)
	}
	st = e.admin("GET", "/api/v1/namespaces/kube-public/pods?resourceVersion="+rv+"&resourceVersionMatch=Exact", "").status(t)
	if st.Code != 410 || st.Reason != metav1.StatusReasonExpired {
		t.Fatalf("compacted: %+v", st)
	}
	st = e.admin("GET", "/api/v1/namespaces/kube-public/pods?resourceVersion=999999999", "").status(t)
	if st.Code != 504 || !strings.HasPrefix(st.Message, "Too large resource version") {
		t.Fatalf("future rv: %+v", st)
	}
}

func (e *env) testPatch(t *testing.T) {
	wantCode(t, e.admin("POST", "/apis/apps/v1/namespaces/default/deployments", fmt.Sprintf(deployJSON, "pd")), 201)
	type dep struct {
		Metadata metav1.ObjectMeta
		Spec     struct {
			Replicas int
			Template struct {
				Spec struct {
					Containers []struct{ Name, Image string }
				}
			}
		}
	}
	var d dep
	// Strategic merge: containers merge by name.
	r := e.admin("PATCH", "/apis/apps/v1/namespaces/default/deployments/pd",
		`{"spec":{"template":{"spec":{"containers":[{"name":"b","image":"busybox:2"}]}}}}`, "Content-Type: application/strategic-merge-patch+json")
	wantCode(t, r, 200)
	r.into(t, &d)
	if c := d.Spec.Template.Spec.Containers; len(c) != 2 || c[0].Image != "nginx:1" || c[1].Image != "busybox:2" {
		t.Fatalf("strategic: %+v", c)
	}
	// Merge patch: lists are replaced.
	r = e.admin("PATCH", "/apis/apps/v1/namespaces/default/deployments/pd",
		`{"metadata":{"labels":{"x":"y"}},"spec":{"template":{"spec":{"containers":[{"name":"b","image":"busybox:3"}]}}}}`, "Content-Type: application/merge-patch+json")
	wantCode(t, r, 200)
	r.into(t, &d)
	if c := d.Spec.Template.Spec.Containers; len(c) != 1 || c[0].Image != "busybox:3" || d.Metadata.Labels["x"] != "y" {
		t.Fatalf("merge: %+v %v", c, d.Metadata.Labels)
	}
	// JSON patch.
	r = e.admin("PATCH", "/apis/apps/v1/namespaces/default/deployments/pd",
		`[{"op":"replace","path":"/spec/replicas","value":4}]`, "Content-Type: application/json-patch+json")
	wantCode(t, r, 200)
	r.into(t, &d)
	if d.Spec.Replicas != 4 {
		t.Fatalf("json patch: replicas %d", d.Spec.Replicas)
	}
	// A patch naming a stale resourceVersion conflicts.
	st := e.admin("PATCH", "/apis/apps/v1/namespaces/default/deployments/pd",
		`{"metadata":{"resourceVersion":"1"},"spec":{"replicas":1}}`, "Content-Type: application/merge-patch+json").status(t)
	if st.Code != 409 || st.Reason != metav1.StatusReasonConflict {
		t.Fatalf("stale patch: %+v", st)
	}
	st = e.admin("PATCH", "/apis/apps/v1/namespaces/default/deployments/nope", `{}`, "Content-Type: application/merge-patch+json").status(t)
	if st.Code != 404 {
		t.Fatalf("patch missing: %+v", st)
	}
	st = e.admin("PATCH", "/apis/apps/v1/namespaces/default/deployments/pd", `{}`, "Content-Type: application/json").status(t)
	if st.Code != 415 {
		t.Fatalf("patch media type: %+v", st)
	}
}

// watchEvent reads watch events from a streaming response.
type watchStream struct {
	t    *testing.T
	body io.ReadCloser
	sc   *bufio.Scanner
}

func (e *env) watch(t *testing.T, path string, headers ...string) *watchStream {
	req, err := http.NewRequest("GET", e.url+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer admin-token")
	for _, h := range headers {
		k, v, _ := strings.Cut(h, ": ")
		req.Header.Set(k, v)
	}
	r, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if r.StatusCode != 200 {
		b, _ := io.ReadAll(r.Body)
		_ = r.Body.Close()
		t.Fatalf("watch: %d %s", r.StatusCode, b)
	}
	w := &watchStream{t: t, body: r.Body, sc: bufio.NewScanner(r.Body)}
	w.sc.Buffer(nil, 1<<20)
	t.Cleanup(func() { _ = r.Body.Close() })
	return w
}

type event struct {
	Type   string
	Object json.RawMessage
}

func (w *watchStream) next() (event, map[string]any) {
	w.t.Helper()
	if !w.sc.Scan() {
		w.t.Fatalf("watch ended: %v", w.sc.Err())
	}
	var ev event
	if err := json.Unmarshal(w.sc.Bytes(), &ev); err != nil {
		w.t.Fatalf("event %s: %v", w.sc.Bytes(), err)
	}
	var obj map[string]any
	_ = json.Unmarshal(ev.Object, &obj)
	return ev, obj
}

func nameOf(obj map[string]any) string {
	m, _ := obj["metadata"].(map[string]any)
	s, _ := m["name"].(string)
	return s
}

func (e *env) testWatch(t *testing.T) {
	wantCode(t, e.admin("POST", "/api/v1/namespaces", `{"metadata":{"name":"w"}}`), 201)
	wantCode(t, e.admin("POST", "/api/v1/namespaces/w/pods", fmt.Sprintf(podJSON, "w0", "x")), 201)
	var l struct{ Metadata metav1.ListMeta }
	e.admin("GET", "/api/v1/namespaces/w/pods", "").into(t, &l)
	w := e.watch(t, "/api/v1/namespaces/w/pods?watch=1&labelSelector=app%3Dx&resourceVersion="+l.Metadata.ResourceVersion)
	wantCode(t, e.admin("POST", "/api/v1/namespaces/w/pods", fmt.Sprintf(podJSON, "w1", "other")), 201)
	wantCode(t, e.admin("POST", "/api/v1/namespaces/w/pods", fmt.Sprintf(podJSON, "w2", "x")), 201)
	if ev, obj := w.next(); ev.Type != "ADDED" || nameOf(obj) != "w2" {
		t.Fatalf("want ADDED w2, got %s %s", ev.Type, ev.Object)
	}
	// Relabelled out of the selection: DELETED; into it: ADDED.
	wantCode(t, e.admin("PATCH", "/api/v1/namespaces/w/pods/w2", `{"metadata":{"labels":{"app":"y"}}}`, "Content-Type: application/merge-patch+json"), 200)
	if ev, obj := w.next(); ev.Type != "DELETED" || nameOf(obj) != "w2" {
		t.Fatalf("want DELETED w2, got %s %s", ev.Type, ev.Object)
	}
	wantCode(t, e.admin("PATCH", "/api/v1/namespaces/w/pods/w1", `{"metadata":{"labels":{"app":"x"}}}`, "Content-Type: application/merge-patch+json"), 200)
	if ev, obj := w.next(); ev.Type != "ADDED" || nameOf(obj) != "w1" {
		t.Fatalf("want ADDED w1, got %s %s", ev.Type, ev.Object)
	}
	wantCode(t, e.admin("PATCH", "/api/v1/namespaces/w/pods/w1", `{"metadata":{"annotations":{"a":"b"}}}`, "Content-Type: application/merge-patch+json"), 200)
	if ev, _ := w.next(); ev.Type != "MODIFIED" {
		t.Fatalf("want MODIFIED, got %s", ev.Type)
	}
	wantCode(t, e.admin("DELETE", "/api/v1/namespaces/w/pods/w1", ""), 200)
	if ev, obj := w.next(); ev.Type != "DELETED" || nameOf(obj) != "w1" {
		t.Fatalf("want DELETED w1, got %s %s", ev.Type, ev.Object)
	}
	// Without resourceVersion: the current objects first, as ADDED; timeoutSeconds ends it.
	w2 := e.watch(t, "/api/v1/namespaces/w/pods?watch=true&timeoutSeconds=1&labelSelector=app%3Dx")
	if ev, obj := w2.next(); ev.Type != "ADDED" || nameOf(obj) != "w0" {
		t.Fatalf("initial: %s %s", ev.Type, ev.Object)
	}
	if w2.sc.Scan() {
		t.Fatalf("after timeoutSeconds: %s", w2.sc.Bytes())
	}
	// From a compacted revision: an ERROR event with a 410 Status.
	w3 := e.watch(t, "/api/v1/namespaces/w/pods?watch=1&resourceVersion=2")
	ev, obj := w3.next()
	if ev.Type != "ERROR" || obj["code"] != float64(410) || obj["reason"] != "Expired" {
		t.Fatalf("compacted watch: %s %s", ev.Type, ev.Object)
	}
	// Tables, as kubectl get -w asks for them.
	w4 := e.watch(t, "/api/v1/namespaces/w/pods?watch=1&timeoutSeconds=5", "Accept: application/json;as=Table;v=v1;g=meta.k8s.io")
	if ev, obj := w4.next(); ev.Type != "ADDED" || obj["kind"] != "Table" {
		t.Fatalf("table watch: %s %s", ev.Type, ev.Object)
	}
}

func (e *env) testTable(t *testing.T) {
	var tb metav1.Table
	r := e.admin("GET", "/api/v1/namespaces/kube-public/pods", "", "Accept: application/json;as=Table;v=v1;g=meta.k8s.io,application/json")
	wantCode(t, r, 200)
	r.into(t, &tb)
	if tb.Kind != "Table" || len(tb.ColumnDefinitions) == 0 || tb.ColumnDefinitions[0].Name != "Name" || len(tb.Rows) != 4 || tb.ResourceVersion == "" {
		t.Fatalf("table: %s", r.body)
	}
	if c := tb.Rows[0].Cells[0]; c != "l0" {
		t.Fatalf("first cell %v", c)
	}
	if !bytes.Contains(tb.Rows[0].Object.Raw, []byte(`"kind":"PartialObjectMetadata"`)) {
		t.Fatalf("row object %s", tb.Rows[0].Object.Raw)
	}
	e.admin("GET", "/api/v1/namespaces/kube-public/pods/l1?includeObject=Object", "", "Accept: application/json;as=Table;v=v1;g=meta.k8s.io").into(t, &tb)
	if len(tb.Rows) != 1 || !bytes.Contains(tb.Rows[0].Object.Raw, []byte(`"kind":"Pod"`)) {
		t.Fatalf("includeObject=Object: %+v", tb.Rows)
	}
	tb = metav1.Table{}
	e.admin("GET", "/api/v1/namespaces/kube-public/pods/l1?includeObject=None", "", "Accept: application/json;as=Table;v=v1;g=meta.k8s.io").into(t, &tb)
	if len(tb.Rows) != 1 || tb.Rows[0].Object.Raw != nil {
		t.Fatalf("includeObject=None: %+v", tb.Rows)
	}
}

func (e *env) testScale(t *testing.T) {
	wantCode(t, e.admin("POST", "/apis/apps/v1/namespaces/default/deployments", fmt.Sprintf(deployJSON, "sc")), 201)
	var sc struct {
		Kind     string
		Metadata metav1.ObjectMeta
		Spec     struct{ Replicas int }
		Status   struct {
			Replicas int
			Selector string
		}
	}
	e.admin("GET", "/apis/apps/v1/namespaces/default/deployments/sc/scale", "").into(t, &sc)
	if sc.Kind != "Scale" || sc.Spec.Replicas != 2 || sc.Status.Selector != "app=d" {
		t.Fatalf("scale: %+v", sc)
	}
	r := e.admin("PUT", "/apis/apps/v1/namespaces/default/deployments/sc/scale", `{"kind":"Scale","apiVersion":"autoscaling/v1","metadata":{"name":"sc"},"spec":{"replicas":5}}`)
	wantCode(t, r, 200)
	r = e.admin("PATCH", "/apis/apps/v1/namespaces/default/deployments/sc/scale", `{"spec":{"replicas":6}}`, "Content-Type: application/merge-patch+json")
	wantCode(t, r, 200)
	var d struct {
		Spec   struct{ Replicas int }
		Status map[string]any
	}
	e.admin("GET", "/apis/apps/v1/namespaces/default/deployments/sc", "").into(t, &d)
	if d.Spec.Replicas != 6 {
		t.Fatalf("replicas after scale: %d", d.Spec.Replicas)
	}
	// The status subresource writes status only.
	r = e.admin("PATCH", "/apis/apps/v1/namespaces/default/deployments/sc/status", `{"spec":{"replicas":1},"status":{"replicas":3}}`, "Content-Type: application/merge-patch+json")
	wantCode(t, r, 200)
	e.admin("GET", "/apis/apps/v1/namespaces/default/deployments/sc", "").into(t, &d)
	if d.Spec.Replicas != 6 || d.Status["replicas"] != float64(3) {
		t.Fatalf("after status patch: %+v", d)
	}
	st := e.admin("GET", "/api/v1/namespaces/default/configmaps/cm/scale", "").status(t)
	if st.Code != 404 {
		t.Fatalf("configmaps/scale: %+v", st)
	}
}

func (e *env) testDelete(t *testing.T) {
	// dryRun leaves the store alone.
	wantCode(t, e.admin("POST", "/api/v1/namespaces/default/configmaps?dryRun=All", `{"metadata":{"name":"dry"}}`), 201)
	wantCode(t, e.admin("GET", "/api/v1/namespaces/default/configmaps/dry", ""), 404)
	wantCode(t, e.admin("DELETE", "/apis/apps/v1/namespaces/default/deployments/sc?dryRun=All", ""), 200)
	wantCode(t, e.admin("GET", "/apis/apps/v1/namespaces/default/deployments/sc", ""), 200)
	// Forbidden for a user the authorizer does not allow.
	st := e.do("viewer-token", "DELETE", "/apis/apps/v1/namespaces/default/deployments/sc", "").status(t)
	if st.Code != 403 || st.Reason != metav1.StatusReasonForbidden ||
		st.Message != `deployments.apps "sc" is forbidden: User "viewer" cannot delete resource "deployments" in API group "apps" in the namespace "default"` {
		t.Fatalf("Forbidden: %+v", st)
	}
	wantCode(t, e.do("viewer-token", "GET", "/apis/apps/v1/namespaces/default/deployments/sc", ""), 200)
	// Preconditions.
	st = e.admin("DELETE", "/apis/apps/v1/namespaces/default/deployments/sc", `{"preconditions":{"uid":"nope"}}`).status(t)
	if st.Code != 409 || !strings.Contains(st.Message, "Precondition failed: UID in precondition: nope") {
		t.Fatalf("precondition: %+v", st)
	}
	// A removed object answers a Success Status.
	st = e.admin("DELETE", "/apis/apps/v1/namespaces/default/deployments/sc", `{"propagationPolicy":"Background"}`).status(t)
	if st.Status != metav1.StatusSuccess || st.Details == nil || st.Details.Name != "sc" || st.Details.Kind != "deployments" {
		t.Fatalf("delete: %+v", st)
	}
	wantCode(t, e.admin("GET", "/apis/apps/v1/namespaces/default/deployments/sc", ""), 404)
	// A bound pod is deleted gracefully: the answer is the pod, marked.
	wantCode(t, e.admin("POST", "/api/v1/namespaces/default/pods/p1/binding", `{"metadata":{"name":"p1"},"target":{"kind":"Node","name":"n1"}}`), 201)
	st = e.admin("POST", "/api/v1/namespaces/default/pods/p1/binding", `{"metadata":{"name":"p1"},"target":{"kind":"Node","name":"n2"}}`).status(t)
	if st.Code != 409 || !strings.Contains(st.Message, `is already assigned to node "n1"`) {
		t.Fatalf("second binding: %+v", st)
	}
	r := e.admin("POST", "/api/v1/namespaces/default/pods/p1/eviction", `{"apiVersion":"policy/v1","kind":"Eviction","metadata":{"name":"p1"}}`)
	wantCode(t, r, 201)
	var p struct{ Metadata metav1.ObjectMeta }
	e.admin("GET", "/api/v1/namespaces/default/pods/p1", "").into(t, &p)
	if p.Metadata.DeletionTimestamp == nil {
		t.Fatalf("evicted pod not terminating: %+v", p.Metadata)
	}
	// Orphan and Foreground propagation.
	for _, policy := range []string{"Orphan", "Foreground"} {
		owner := "owner-" + strings.ToLower(policy)
		r := e.admin("POST", "/api/v1/namespaces/default/configmaps", `{"metadata":{"name":"`+owner+`"}}`)
		wantCode(t, r, 201)
		var o struct{ Metadata metav1.ObjectMeta }
		r.into(t, &o)
		dep := fmt.Sprintf(`{"metadata":{"name":"dep-%s","ownerReferences":[{"apiVersion":"v1","kind":"ConfigMap","name":%q,"uid":%q}]}}`,
			strings.ToLower(policy), owner, o.Metadata.UID)
		wantCode(t, e.admin("POST", "/api/v1/namespaces/default/configmaps", dep), 201)
		wantCode(t, e.admin("DELETE", "/api/v1/namespaces/default/configmaps/"+owner+"?propagationPolicy="+policy, ""), 200)
		r = e.admin("GET", "/api/v1/namespaces/default/configmaps/dep-"+strings.ToLower(policy), "")
		if policy == "Foreground" {
			wantCode(t, r, 404)
			continue
		}
		wantCode(t, r, 200)
		var d struct{ Metadata metav1.ObjectMeta }
		r.into(t, &d)
		if len(d.Metadata.OwnerReferences) != 0 {
			t.Fatalf("orphaned dependent keeps %+v", d.Metadata.OwnerReferences)
		}
	}
	st = e.admin("DELETE", "/api/v1/namespaces/default/configmaps/cm?propagationPolicy=Sideways", "").status(t)
	if st.Code != 422 {
		t.Fatalf("bad propagationPolicy: %+v", st)
	}

	// deletecollection.
	r = e.admin("DELETE", "/api/v1/namespaces/kube-public/pods?labelSelector=app%3Db", "")
	wantCode(t, r, 200)
	var l struct{ Items []any }
	e.admin("GET", "/api/v1/namespaces/kube-public/pods", "").into(t, &l)
	if len(l.Items) != 2 {
		t.Fatalf("after deletecollection: %d pods", len(l.Items))
	}
}

// TestClientCertificates checks the generated certificates: the admin client certificate
// authenticates over TLS, and the kubeconfig names the server.
func TestClientCertificates(t *testing.T) {
	dir := t.TempDir()
	if err := apiserver.EnsureCerts(dir, "127.0.0.1", "https://127.0.0.1:6443"); err != nil {
		t.Fatal(err)
	}
	ca1, _ := os.ReadFile(filepath.Join(dir, apiserver.CAFile))
	if err := apiserver.EnsureCerts(dir, "127.0.0.1", "https://127.0.0.1:6443"); err != nil {
		t.Fatal(err)
	}
	if ca2, _ := os.ReadFile(filepath.Join(dir, apiserver.CAFile)); !bytes.Equal(ca1, ca2) {
		t.Fatal("EnsureCerts replaced an existing CA")
	}
	kc, _ := os.ReadFile(filepath.Join(dir, apiserver.KubeconfigFile))
	if !bytes.Contains(kc, []byte("server: https://127.0.0.1:6443")) {
		t.Fatalf("kubeconfig: %s", kc)
	}
	var seen authz.UserInfo
	who := authzFunc(func(a authz.Attributes) { seen = a.User })
	s := apiserver.New(apiserver.Config{Authorizer: who})
	srv := httptest.NewUnstartedServer(s.Handler())
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca1)
	pair, err := tls.LoadX509KeyPair(filepath.Join(dir, apiserver.ServingCertFile), filepath.Join(dir, apiserver.ServingKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{pair}, ClientAuth: tls.VerifyClientCertIfGiven, ClientCAs: pool}
	srv.StartTLS()
	defer srv.Close()
	admin, err := tls.LoadX509KeyPair(filepath.Join(dir, apiserver.AdminCertFile), filepath.Join(dir, apiserver.AdminKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{admin}}}}
	defer hc.CloseIdleConnections()
	r, err := hc.Get(srv.URL + "/version")
	if err != nil {
		t.Fatal(err)
	}
	_ = r.Body.Close()
	if r.StatusCode != 200 || seen.Name != "kubernetes-admin" || strings.Join(seen.Groups, ",") != "system:masters,system:authenticated" {
		t.Fatalf("status %d, user %+v", r.StatusCode, seen)
	}
	// Without a certificate: 401.
	anon := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	defer anon.CloseIdleConnections()
	r, err = anon.Get(srv.URL + "/version")
	if err != nil {
		t.Fatal(err)
	}
	_ = r.Body.Close()
	if r.StatusCode != 401 {
		t.Fatalf("anonymous: %d", r.StatusCode)
	}
}

type authzFunc func(a authz.Attributes)

func (f authzFunc) Authorize(_ context.Context, a authz.Attributes) (authz.Decision, string, error) {
	f(a)
	return authz.DecisionAllow, "", nil
}

func TestLoadTokenFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "tokens.csv")
	if err := os.WriteFile(p, []byte("t1,alice,u1,\"dev,ops\"\nt2,bob,u2\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tf, err := apiserver.LoadTokenFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if a := tf["t1"]; a.Name != "alice" || a.UID != "u1" || strings.Join(a.Groups, "|") != "dev|ops" {
		t.Fatalf("t1: %+v", a)
	}
	if b := tf["t2"]; b.Name != "bob" || len(b.Groups) != 0 {
		t.Fatalf("t2: %+v", b)
	}
	if err := os.WriteFile(p, []byte("t1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := apiserver.LoadTokenFile(p); err == nil {
		t.Fatal("a short line loaded")
	}
}
