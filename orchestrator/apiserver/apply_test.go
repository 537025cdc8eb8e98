package apiserver_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/keeldb/keel/orchestrator/api"
	"github.com/keeldb/keel/orchestrator/registry"
)

const applyYAML = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: sd
spec:
  replicas: %d
  selector:
    matchLabels: {app: sd}
  template:
    metadata:
      labels: {app: sd}
    spec:
      containers:
      - {name: a, image: nginx:1}
`

const applyPath = "/apis/apps/v1/namespaces/default/deployments/sd"

func (e *env) applyDeploy(replicas int, query string) resp {
	e.t.Helper()
	return e.admin("PATCH", applyPath+query, fmt.Sprintf(applyYAML, replicas), "Content-Type: application/apply-patch+yaml")
}

// entry returns the managedFields entry of manager, failing when there is none.
func entry(t *testing.T, d *api.Deployment, manager string) api.ManagedFieldsEntry {
	t.Helper()
	for _, m := range d.ManagedFields {
		if m.Manager == manager {
			return m
		}
	}
	t.Fatalf("no managedFields entry of %q in %+v", manager, d.ManagedFields)
	return api.ManagedFieldsEntry{}
}

func ownsReplicas(t *testing.T, m api.ManagedFieldsEntry) bool {
	t.Helper()
	if m.FieldsV1 == nil {
		return false
	}
	var f map[string]map[string]any
	if err := json.Unmarshal(m.FieldsV1.Raw, &f); err != nil {
		t.Fatalf("fieldsV1 %s: %v", m.FieldsV1.Raw, err)
	}
	_, ok := f["f:spec"]["f:replicas"]
	return ok
}

func TestServerSideApply(t *testing.T) {
	e := newEnv(t)

	// Kubernetes' refusals: no fieldManager, CBOR, force on another patch.
	st := e.applyDeploy(1, "").status(t)
	if st.Code != 422 || st.Message != `PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required for apply patch` {
		t.Fatalf("no fieldManager: %+v", st)
	}
	st = e.admin("PATCH", applyPath+"?fieldManager=a", "x", "Content-Type: application/apply-patch+cbor").status(t)
	if st.Code != 415 {
		t.Fatalf("cbor: %+v", st)
	}
	st = e.admin("PATCH", applyPath+"?force=true", `{}`, "Content-Type: application/merge-patch+json").status(t)
	if st.Code != 422 || !strings.Contains(st.Message, "force: Forbidden: may not be specified for non-apply patch") {
		t.Fatalf("force on merge patch: %+v", st)
	}

	// Apply creates the object, owned by its manager.
	r := e.applyDeploy(2, "?fieldManager=tool")
	wantCode(t, r, 201)
	var d api.Deployment
	r.into(t, &d)
	m := entry(t, &d, "tool")
	if m.Operation != "Apply" || m.APIVersion != "apps/v1" || m.FieldsType != "FieldsV1" || m.Time == nil || m.Subresource != "" || !ownsReplicas(t, m) {
		t.Fatalf("apply entry: %+v", m)
	}
	if d.Spec.Replicas == nil || *d.Spec.Replicas != 2 || d.UID == "" {
		t.Fatalf("created: %+v", d)
	}
	// Stored as such: a GET returns it.
	var got api.Deployment
	e.admin("GET", applyPath, "").into(t, &got)
	if len(got.ManagedFields) != 1 || got.ManagedFields[0].Manager != "tool" {
		t.Fatalf("stored managedFields: %+v", got.ManagedFields)
	}

	// Re-apply with a change updates.
	r = e.applyDeploy(3, "?fieldManager=tool")
	wantCode(t, r, 200)
	r.into(t, &d)
	if *d.Spec.Replicas != 3 {
		t.Fatalf("re-apply: replicas %d", *d.Spec.Replicas)
	}

	// An update by another writer, named by its user agent, takes replicas over.
	r = e.admin("PATCH", applyPath, `{"spec":{"replicas":5}}`, "Content-Type: application/merge-patch+json",
		"User-Agent: kubectl-client-side-apply/v1.32.0 (linux/amd64) kubernetes/abc")
	wantCode(t, r, 200)
	r.into(t, &d)
	if m := entry(t, &d, "kubectl-client-side-apply"); m.Operation != "Update" || !ownsReplicas(t, m) {
		t.Fatalf("update entry: %+v", m)
	}

	// Applying a different replicas now conflicts.
	st = e.applyDeploy(4, "?fieldManager=tool").status(t)
	want := `Apply failed with 1 conflict: conflict with "kubectl-client-side-apply" using apps/v1: .spec.replicas`
	if st.Code != 409 || st.Reason != metav1.StatusReasonConflict || st.Message != want {
		t.Fatalf("conflict: %+v, want message %q", st, want)
	}
	if st.Details == nil || len(st.Details.Causes) != 1 || st.Details.Causes[0].Type != metav1.CauseTypeFieldManagerConflict ||
		st.Details.Causes[0].Field != ".spec.replicas" || !strings.Contains(st.Details.Causes[0].Message, `"kubectl-client-side-apply"`) {
		t.Fatalf("conflict causes: %+v", st.Details)
	}

	// force takes ownership.
	r = e.applyDeploy(4, "?fieldManager=tool&force=true")
	wantCode(t, r, 200)
	r.into(t, &d)
	if *d.Spec.Replicas != 4 || !ownsReplicas(t, entry(t, &d, "tool")) {
		t.Fatalf("forced: %+v", d)
	}
	for _, m := range d.ManagedFields {
		if m.Manager == "kubectl-client-side-apply" && ownsReplicas(t, m) {
			t.Fatalf("the update still owns replicas after force: %+v", m)
		}
	}

	// The orchestrator's own writers (read-modify-write through the registry, or objects
	// built without managedFields) keep them.
	g := registry.Generics(e.c.Client(), registry.Config{})["deployments"]
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cur, err := g.Get(ctx, "default", "sd")
	if err != nil {
		t.Fatal(err)
	}
	cur.Meta().ManagedFields = nil
	cur.Meta().Labels = map[string]string{"x": "y"}
	out, err := g.Update(ctx, cur)
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Meta().ManagedFields) != len(d.ManagedFields) {
		t.Fatalf("registry update dropped managedFields: %+v", out.Meta().ManagedFields)
	}
}

// WatchList (client-go's sendInitialEvents): the existing objects as ADDED, then a BOOKMARK
// annotated k8s.io/initial-events-end.
func TestWatchListInitialEvents(t *testing.T) {
	e := newEnv(t)
	for _, n := range []string{"w1", "w2"} {
		wantCode(t, e.admin("POST", "/api/v1/namespaces/default/configmaps", fmt.Sprintf(`{"metadata":{"name":%q}}`, n)), 201)
	}
	req, err := http.NewRequest("GET", e.url+"/api/v1/namespaces/default/configmaps?watch=1&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true&timeoutSeconds=20", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer admin-token")
	r, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = r.Body.Close() }()
	if r.StatusCode != 200 {
		t.Fatalf("watch: %d", r.StatusCode)
	}
	sc := bufio.NewScanner(r.Body)
	var added []string
	for sc.Scan() {
		var ev struct {
			Type   string
			Object struct {
				Kind     string
				Metadata metav1.ObjectMeta
			}
		}
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatalf("event %s: %v", sc.Bytes(), err)
		}
		switch ev.Type {
		case "ADDED":
			added = append(added, ev.Object.Metadata.Name)
			continue
		case "BOOKMARK":
			if ev.Object.Metadata.Annotations["k8s.io/initial-events-end"] != "true" || ev.Object.Metadata.ResourceVersion == "" {
				t.Fatalf("bookmark: %s", sc.Bytes())
			}
			if strings.Join(added, ",") != "w1,w2" {
				t.Fatalf("initial events %v, want w1,w2", added)
			}
			return
		default:
			t.Fatalf("unexpected event %s", sc.Bytes())
		}
	}
	t.Fatalf("watch ended before the initial-events-end bookmark (ADDED %v): %v", added, sc.Err())
}
