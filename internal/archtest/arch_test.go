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
	"raftstore": {"server", "internal/netfault"},
	"api/proto": {"mvcc", "apply", "raftstore", "server"},
	// The auth store is deterministic state, like lease: it persists through a two-method
	// writer and reader (the mvcc store) and knows nothing of raft or gRPC servers.
	"auth": {"mvcc", "apply", "raftstore", "server", "watch", "lease", "github.com/hashicorp/raft", "google.golang.org/grpc"},
	// Failpoints are a leaf every store package may mark its code with.
	"internal/failpoint": {"mvcc", "apply", "raftstore", "server", "watch", "lease"},
	// The history checker of tests/chaos and the power-loss test is only a client of the
	// store (clientv3 and porcupine), so it runs against any cluster, keeld or etcd.
	"internal/kvhist": {"server", "raftstore", "mvcc", "apply", "watch", "lease", "api/proto", "internal/testcluster", "internal/proccluster", "google.golang.org/grpc"},
	// The network fault proxy is test infrastructure that only relays bytes: it knows no Keel
	// package, and the production binary never links it (keeld's --peer-dial-proxy speaks
	// plain HTTP CONNECT from raftstore).
	"internal/netfault": {"server", "raftstore", "mvcc", "apply", "watch", "lease", "api/proto", "internal/testcluster", "internal/proccluster", "google.golang.org/grpc"},
	"cmd/keeld":         {"internal/netfault", "internal/proccluster", "internal/testcluster"},
	// Inside the orchestrator, arrows point down: labels ← api ← registry ← informer;
	// workqueue stands alone.
	"orchestrator/labels":    {"orchestrator/api", "orchestrator/registry", "orchestrator/informer", "orchestrator/workqueue", "go.etcd.io/etcd/client/v3"},
	"orchestrator/api":       {"orchestrator/registry", "orchestrator/informer", "orchestrator/workqueue", "go.etcd.io/etcd/client/v3"},
	"orchestrator/registry":  {"orchestrator/informer", "orchestrator/workqueue"},
	"orchestrator/workqueue": {"orchestrator/api", "orchestrator/registry", "orchestrator/informer", "go.etcd.io/etcd/client/v3"},
	// Leader election stands on clientv3 alone; the scheduler is a library the components'
	// binaries elect, so it knows neither election nor the other components.
	"orchestrator/leaderelection": {"orchestrator/api", "orchestrator/registry", "orchestrator/informer", "orchestrator/workqueue", "orchestrator/scheduler", "orchestrator/controller", "orchestrator/agent"},
	"orchestrator/scheduler":      {"orchestrator/leaderelection", "orchestrator/controller", "orchestrator/agent"},
	// The agent and the controllers are peers that meet only in the store: none imports
	// another (nor the scheduler or leader election, which cmd/orch wires around them).
	"orchestrator/agent":                       {"orchestrator/controller", "orchestrator/scheduler", "orchestrator/leaderelection"},
	"orchestrator/controller/replicaset":       {"orchestrator/agent", "orchestrator/controller/nodelifecycle", "orchestrator/controller/deployment", "orchestrator/scheduler", "orchestrator/leaderelection"},
	"orchestrator/controller/nodelifecycle":    {"orchestrator/agent", "orchestrator/controller/replicaset", "orchestrator/controller/deployment", "orchestrator/scheduler", "orchestrator/leaderelection"},
	"orchestrator/controller/deployment":       {"orchestrator/agent", "orchestrator/controller/replicaset", "orchestrator/controller/nodelifecycle", "orchestrator/scheduler", "orchestrator/leaderelection"},
	"orchestrator/controller/endpoints":        {"orchestrator/agent", "orchestrator/controller/replicaset", "orchestrator/controller/nodelifecycle", "orchestrator/controller/deployment", "orchestrator/controller/garbagecollector", "orchestrator/scheduler", "orchestrator/leaderelection", "orchestrator/proxy"},
	"orchestrator/controller/garbagecollector": {"orchestrator/agent", "orchestrator/controller/replicaset", "orchestrator/controller/nodelifecycle", "orchestrator/controller/deployment", "orchestrator/controller/endpoints", "orchestrator/scheduler", "orchestrator/leaderelection", "orchestrator/proxy"},
	"orchestrator/controller/daemonset":        {"orchestrator/agent", "orchestrator/controller/replicaset", "orchestrator/controller/nodelifecycle", "orchestrator/controller/deployment", "orchestrator/controller/endpoints", "orchestrator/controller/garbagecollector", "orchestrator/controller/statefulset", "orchestrator/scheduler", "orchestrator/leaderelection", "orchestrator/proxy"},
	"orchestrator/controller/statefulset":      {"orchestrator/agent", "orchestrator/controller/replicaset", "orchestrator/controller/nodelifecycle", "orchestrator/controller/deployment", "orchestrator/controller/endpoints", "orchestrator/controller/garbagecollector", "orchestrator/controller/daemonset", "orchestrator/scheduler", "orchestrator/leaderelection", "orchestrator/proxy"},
	"orchestrator/controller/podautoscaler":    {"orchestrator/agent", "orchestrator/controller/replicaset", "orchestrator/controller/nodelifecycle", "orchestrator/controller/deployment", "orchestrator/controller/endpoints", "orchestrator/controller/garbagecollector", "orchestrator/scheduler", "orchestrator/leaderelection", "orchestrator/proxy"},
	"orchestrator/controller/job":              {"orchestrator/agent", "orchestrator/controller/replicaset", "orchestrator/controller/nodelifecycle", "orchestrator/controller/deployment", "orchestrator/controller/endpoints", "orchestrator/controller/cronjob", "orchestrator/scheduler", "orchestrator/leaderelection", "orchestrator/proxy"},
	"orchestrator/controller/cronjob":          {"orchestrator/agent", "orchestrator/controller/replicaset", "orchestrator/controller/nodelifecycle", "orchestrator/controller/deployment", "orchestrator/controller/endpoints", "orchestrator/controller/garbagecollector", "orchestrator/controller/job", "orchestrator/scheduler", "orchestrator/leaderelection", "orchestrator/proxy"},
	"orchestrator/controller/servicelb":        {"orchestrator/agent", "orchestrator/controller/replicaset", "orchestrator/controller/endpoints", "orchestrator/scheduler", "orchestrator/leaderelection", "orchestrator/proxy"},
	"orchestrator/controller/servicerepair":    {"orchestrator/agent", "orchestrator/informer", "orchestrator/controller/replicaset", "orchestrator/controller/endpoints", "orchestrator/scheduler", "orchestrator/leaderelection", "orchestrator/proxy"},
	"orchestrator/controller/resourcequota":    {"orchestrator/agent", "orchestrator/controller/replicaset", "orchestrator/controller/endpoints", "orchestrator/scheduler", "orchestrator/leaderelection", "orchestrator/proxy"},
	// The Service proxy reads Services and Endpoints; it knows no component.
	"orchestrator/proxy": {"orchestrator/agent", "orchestrator/controller", "orchestrator/scheduler", "orchestrator/leaderelection"},
	// The ingress controller reads Ingresses, Services, Endpoints and Secrets; it knows no
	// component, not even the Service proxy.
	"orchestrator/ingress": {"orchestrator/agent", "orchestrator/controller", "orchestrator/scheduler", "orchestrator/leaderelection", "orchestrator/proxy"},
	// Events are a leaf the components share.
	"orchestrator/events": {"orchestrator/agent", "orchestrator/controller", "orchestrator/scheduler", "orchestrator/leaderelection", "orchestrator/proxy", "orchestrator/informer"},
	// RBAC sits below the apiserver: it reads policy through informers and knows no component.
	"orchestrator/rbac": {"orchestrator/apiserver", "orchestrator/agent", "orchestrator/controller", "orchestrator/scheduler", "orchestrator/leaderelection", "orchestrator/proxy", "orchestrator/ingress"},
}

// clientOnly lists the Keel packages that talk to the store only as a client, over
// go.etcd.io/etcd/client/v3 (docs/ARCHITECTURE.md "Packages and the import rules"): they must
// not depend on the store's internals, nor import server-side libraries directly. Each maps to
// the Keel trees its tests may import besides its own and testOnlyExceptions.
var clientOnly = map[string][]string{
	"orchestrator": nil,
	// The orch binary wires orchestrator packages together over clientv3.
	"cmd/orch": {"orchestrator"},
}

var storeInternals = []string{"server", "raftstore", "mvcc", "apply", "watch", "lease", "auth", "api/proto", "internal"}

var serverLibraries = []string{"github.com/hashicorp/raft", "go.etcd.io/bbolt", "go.etcd.io/etcd/server", "google.golang.org/grpc"}

// testOnlyExceptions are the Keel packages that tests of clientOnly packages may import
// besides their own tree: the in-process cluster they run against.
var testOnlyExceptions = []string{"internal/testcluster"}

type pkg struct {
	ImportPath   string
	Imports      []string
	Deps         []string
	TestImports  []string
	XTestImports []string
}

func under(path, prefix string) bool { return path == prefix || strings.HasPrefix(path, prefix+"/") }

// checkClientOnly applies the clientOnly rules to p (rel is its path inside the module).
func checkClientOnly(t *testing.T, rel string, p pkg) {
	t.Helper()
	var root string
	for c := range clientOnly {
		if under(rel, c) {
			root = c
		}
	}
	if root == "" {
		return
	}
	for _, d := range p.Deps {
		for _, bad := range storeInternals {
			if under(d, module+bad) {
				t.Errorf("%s depends on store internal %s (use clientv3)", rel, d)
			}
		}
	}
	for _, imp := range p.Imports {
		for _, bad := range serverLibraries {
			if under(imp, bad) {
				t.Errorf("%s imports %s directly (use clientv3)", rel, imp)
			}
		}
	}
	for _, imp := range append(append([]string(nil), p.TestImports...), p.XTestImports...) {
		if !strings.HasPrefix(imp, module) || under(imp, module+root) {
			continue
		}
		allowed := append(append([]string(nil), testOnlyExceptions...), clientOnly[root]...)
		ok := false
		for _, e := range allowed {
			ok = ok || under(imp, module+e)
		}
		if !ok {
			t.Errorf("tests of %s import %s (only %v and their own tree are allowed)", rel, imp, allowed)
		}
	}
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
		checkClientOnly(t, rel, p)
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

// TestDefaultBuildHasNoFailpoints checks that keeld built without the `failpoints` tag does not
// link gofail (internal/failpoint's doc), and that with the tag it does, so the check can fail.
func TestDefaultBuildHasNoFailpoints(t *testing.T) {
	const gofail = "go.etcd.io/gofail/runtime"
	for _, tc := range []struct {
		tags string
		want bool
	}{{"", false}, {"failpoints", true}} {
		out, err := exec.Command("go", "list", "-deps", "-tags="+tc.tags, module+"cmd/keeld").Output()
		if err != nil {
			t.Fatalf("go list -deps -tags=%q: %v", tc.tags, err)
		}
		got := false
		for _, d := range strings.Fields(string(out)) {
			got = got || d == gofail
		}
		if got != tc.want {
			t.Errorf("keeld with tags %q links %s: %v, want %v", tc.tags, gofail, got, tc.want)
		}
	}
}
