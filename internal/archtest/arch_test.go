// Package archtest enforces the package dependency graph of the design (arrows point down).
package archtest

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/keeldb/keel/"

// forbidden lists, for each package, what it must not import: Keel packages neither directly
// nor transitively, third-party packages not directly (etcd's generated API code itself
// pulls in gRPC).
var forbidden = map[string][]string{
	"mvcc":      {"raftstore", "server", "apply", "watch", "lease", "github.com/hashicorp/raft", "google.golang.org/grpc"},
	"apply":     {"raftstore", "server", "github.com/hashicorp/raft", "google.golang.org/grpc/status"},
	"raftstore": {"server"},
	"api/proto": {"mvcc", "apply", "raftstore", "server"},
}

type pkg struct {
	ImportPath string
	Imports    []string
	Deps       []string
}

func TestDependencyDirection(t *testing.T) {
	out, err := exec.Command("go", "list", "-json", module+"...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for dec.More() {
		var p pkg
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		rel := strings.TrimPrefix(p.ImportPath, module)
		for _, bad := range forbidden[rel] {
			target, list := bad, p.Imports
			if !strings.Contains(bad, ".") {
				target, list = module+bad, p.Deps
			}
			for _, d := range list {
				if d == target || strings.HasPrefix(d, target+"/") {
					t.Errorf("%s depends on %s", rel, d)
				}
			}
		}
		if strings.HasPrefix(rel, "cmd/") || strings.HasPrefix(rel, "tests/") {
			continue
		}
		for _, imp := range p.Imports {
			if strings.HasPrefix(imp, module+"internal/testcluster") || strings.HasPrefix(imp, module+"internal/proccluster") {
				t.Errorf("%s imports test-only package %s outside tests", rel, imp)
			}
		}
	}
}
