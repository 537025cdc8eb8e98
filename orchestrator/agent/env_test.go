package agent

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keeldb/keel/orchestrator/api"
)

func TestExpand(t *testing.T) {
	vars := map[string]string{"A": "1", "B": "two", "EMPTY": ""}
	lookup := func(n string) (string, bool) { v, ok := vars[n]; return v, ok }
	for _, tc := range []struct{ in, want string }{
		{"plain", "plain"},
		{"$(A)", "1"},
		{"x$(A)y$(B)z", "x1ytwoz"},
		{"$(EMPTY)!", "!"},
		{"$(UNDEFINED)", "$(UNDEFINED)"},
		{"$$(A)", "$(A)"},
		{"$$$(A)", "$1"},
		{"$(A", "$(A"},
		{"$A", "$A"},
		{"cost $", "cost $"},
		{"$()", "$()"},
	} {
		if got := expand(tc.in, lookup); got != tc.want {
			t.Errorf("expand(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestContainerEnv(t *testing.T) {
	p := &api.Pod{ObjectMeta: api.ObjectMeta{Namespace: "ns", Name: "p", UID: "u1",
		Labels: map[string]string{"app": "web"}, Annotations: map[string]string{api.JobCompletionIndexKey: "3"}},
		Spec: api.PodSpec{NodeName: "n1", ServiceAccountName: "sa"}}
	ref := func(path string) *api.EnvVarSource {
		return &api.EnvVarSource{FieldRef: &api.ObjectFieldSelector{FieldPath: path}}
	}
	c := &api.Container{Name: "c", Command: []string{"echo", "$(GREETING)", "$(IP)"}, Args: []string{"$(PATH)"},
		Env: []api.EnvVar{{Name: "IP", ValueFrom: ref("status.podIP")}, {Name: "NODE", ValueFrom: ref("spec.nodeName")},
			{Name: "UID", ValueFrom: ref("metadata.uid")}, {Name: "SA", ValueFrom: ref("spec.serviceAccountName")},
			{Name: "HOST", ValueFrom: ref("status.hostIP")}, {Name: "GREETING", Value: "hi $(NODE) $(LATER)"},
			{Name: "LATER", Value: "x"}, {Name: "APP", ValueFrom: ref("metadata.labels['app']")},
			{Name: "INDEX", ValueFrom: ref("metadata.annotations['" + api.JobCompletionIndexKey + "']")}}}
	env, user, err := containerEnv(p, c, "127.1.1.2", "127.0.1.1")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		got[k] = v
	}
	want := map[string]string{"IP": "127.1.1.2", "NODE": "n1", "UID": "u1", "SA": "sa", "HOST": "127.0.1.1",
		"GREETING": "hi n1 $(LATER)", "LATER": "x", "HOSTNAME": "p", "APP": "web", "INDEX": "3"}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
	// $(PATH) is not a user variable: it stays as written, as in Kubernetes.
	if argv := strings.Join(containerArgv(c, user), " "); argv != "echo hi n1 $(LATER) 127.1.1.2 $(PATH)" {
		t.Errorf("argv %q", argv)
	}
	c.Env = []api.EnvVar{{Name: "X", ValueFrom: ref("spec.containers")}}
	if _, _, err := containerEnv(p, c, "", ""); err == nil {
		t.Error("unsupported fieldRef accepted")
	}
}

func TestSeekTail(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log")
	var b strings.Builder
	for i := range 3000 {
		b.WriteString(strings.Repeat("x", i%7) + "\n")
	}
	content := b.String()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(content, "\n")
	lines = lines[:len(lines)-1]
	for _, n := range []int{0, 1, 2, 1000, 2999, 3000, 5000} {
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := seekTail(f, n); err != nil {
			t.Fatal(err)
		}
		rest, _ := os.ReadFile(path)
		off, _ := f.Seek(0, 1)
		got := string(rest[off:])
		want := strings.Join(lines[max(len(lines)-n, 0):], "")
		if got != want {
			t.Errorf("tail %d: got %d bytes, want %d", n, len(got), len(want))
		}
		_ = f.Close()
	}
}
