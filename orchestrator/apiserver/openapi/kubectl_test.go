package openapi

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/keeldb/keel/orchestrator/api"
)

// discoveryStub serves the legacy discovery documents of resources, enough for kubectl to
// map a resource name to its kind.
func discoveryStub(mux *http.ServeMux, resources []api.Resource) {
	write := func(w http.ResponseWriter, v any) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(v)
	}
	lists := map[string]*metav1.APIResourceList{}
	groups := &metav1.APIGroupList{TypeMeta: metav1.TypeMeta{Kind: "APIGroupList", APIVersion: "v1"}}
	for _, r := range resources {
		l, ok := lists[r.APIVersion]
		if !ok {
			l = &metav1.APIResourceList{TypeMeta: metav1.TypeMeta{Kind: "APIResourceList", APIVersion: "v1"}, GroupVersion: r.APIVersion}
			lists[r.APIVersion] = l
			if g, v, ok := strings.Cut(r.APIVersion, "/"); ok {
				gv := metav1.GroupVersionForDiscovery{GroupVersion: r.APIVersion, Version: v}
				groups.Groups = append(groups.Groups, metav1.APIGroup{Name: g, Versions: []metav1.GroupVersionForDiscovery{gv}, PreferredVersion: gv})
			}
		}
		l.APIResources = append(l.APIResources, metav1.APIResource{Name: r.Name, Kind: r.Kind, Namespaced: r.Namespaced,
			ShortNames: r.ShortNames, Verbs: metav1.Verbs{"get", "list", "watch", "create", "update", "patch", "delete"}})
	}
	mux.HandleFunc("/api", func(w http.ResponseWriter, _ *http.Request) {
		write(w, metav1.APIVersions{TypeMeta: metav1.TypeMeta{Kind: "APIVersions"}, Versions: []string{"v1"}})
	})
	mux.HandleFunc("/apis", func(w http.ResponseWriter, _ *http.Request) { write(w, groups) })
	for gv, l := range lists {
		mux.HandleFunc("/"+groupVersionPath(gv), func(w http.ResponseWriter, _ *http.Request) { write(w, l) })
	}
	mux.HandleFunc("/version", func(w http.ResponseWriter, _ *http.Request) {
		write(w, map[string]string{"major": "1", "minor": "32", "gitVersion": Version})
	})
}

// The real kubectl explains the orchestrator's kinds from the served v3 document.
func TestKubectlExplain(t *testing.T) {
	kubectl, err := exec.LookPath("kubectl")
	if err != nil {
		t.Fatalf("kubectl is needed for this test: %v", err)
	}
	mux := http.NewServeMux()
	Register(mux, api.Resources())
	discoveryStub(mux, api.Resources())
	srv := httptest.NewTLSServer(mux)
	t.Cleanup(srv.Close)

	dir := t.TempDir()
	kubeconfig := filepath.Join(dir, "kubeconfig")
	cfg := "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: " + srv.URL +
		"\n    insecure-skip-tls-verify: true\ncontexts:\n- name: c\n  context:\n    cluster: c\n    user: u\n" +
		"current-context: c\nusers:\n- name: u\n  user:\n    token: t\n"
	if err := os.WriteFile(kubeconfig, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	explain := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(kubectl, append([]string{"--kubeconfig", kubeconfig, "--cache-dir", filepath.Join(dir, "cache"), "explain"}, args...)...)
		cmd.Env = append(os.Environ(), "HOME="+dir)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("kubectl explain %v: %v\n%s", args, err, out)
		}
		return string(out)
	}

	out := explain("deployment.spec")
	for _, want := range []string{"GROUP:      apps", "KIND:       Deployment", "replicas\t<integer>", "Number of desired pods", "selector\t<LabelSelector> -required-", "template\t<PodTemplateSpec>"} {
		if !strings.Contains(out, want) {
			t.Errorf("kubectl explain deployment.spec lacks %q:\n%s", want, out)
		}
	}
	// The swagger 2.0 document, which kubectl reads as protobuf.
	out = explain("deployment.spec.replicas", "--output", "plaintext-openapiv2")
	if !strings.Contains(out, "FIELD:    replicas <integer>") {
		t.Errorf("kubectl explain from openapi v2 lacks replicas <integer>:\n%s", out)
	}
	out = explain("pods.spec.containers")
	for _, want := range []string{"KIND:       Pod", "FIELD: containers <[]Container>", "image\t<string>", "ports\t<[]ContainerPort>", "name\t<string> -required-"} {
		if !strings.Contains(out, want) {
			t.Errorf("kubectl explain pods.spec.containers lacks %q:\n%s", want, out)
		}
	}

	// Every kind explains.
	for _, r := range api.Resources() {
		if out := explain(r.Name); !strings.Contains(out, "KIND:       "+r.Kind) {
			t.Errorf("kubectl explain %s:\n%s", r.Name, out)
		}
	}
}
