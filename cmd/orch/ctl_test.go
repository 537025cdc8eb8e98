package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/keeldb/keel/internal/testcluster"
	"github.com/keeldb/keel/orchestrator/api"
	"github.com/keeldb/keel/orchestrator/registry"
)

const manifest = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web}
spec:
  replicas: 3
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: nginx:1.27
        ports: [{containerPort: 80}]
        resources:
          requests: {cpu: 100m, memory: 64Mi}
---
# a comment-only document is skipped
---
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: 80}]
---
apiVersion: v1
kind: Pod
metadata:
  name: solo
  namespace: tools
  labels: {app: solo}
spec:
  containers:
  - name: c
    image: busybox
`

type orch struct {
	t         *testing.T
	endpoints string
	dir       string
}

// run runs one orch command line against the test cluster.
func (o *orch) run(args ...string) (stdout, stderr string, err error) {
	var out, errOut bytes.Buffer
	err = run(context.Background(), append(args, "--endpoints", o.endpoints), &out, &errOut)
	return out.String(), errOut.String(), err
}

// ok runs a command that must succeed and returns its stdout.
func (o *orch) ok(args ...string) string {
	o.t.Helper()
	out, errOut, err := o.run(args...)
	if err != nil {
		o.t.Fatalf("orch %s: %v (stderr %q)", strings.Join(args, " "), err, errOut)
	}
	return out
}

func (o *orch) file(name, content string) string {
	o.t.Helper()
	p := filepath.Join(o.dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		o.t.Fatal(err)
	}
	return p
}

func wantLines(t *testing.T, got string, want ...string) {
	t.Helper()
	if g := strings.Split(strings.TrimSpace(got), "\n"); strings.Join(g, "\n") != strings.Join(want, "\n") {
		t.Fatalf("got\n%s\nwant\n%s", got, strings.Join(want, "\n"))
	}
}

// wantTable checks the output is a table whose rows match the patterns (whitespace runs
// stand for column gaps).
func wantTable(t *testing.T, got string, rows ...string) {
	t.Helper()
	lines := strings.Split(strings.TrimRight(got, "\n"), "\n")
	if len(lines) != len(rows) {
		t.Fatalf("got %d lines, want %d:\n%s", len(lines), len(rows), got)
	}
	for i, r := range rows {
		re := regexp.MustCompile("^" + strings.Join(strings.Fields(r), `\s+`) + `\s*$`)
		if !re.MatchString(lines[i]) {
			t.Fatalf("line %d = %q, want it to match %q\n%s", i, lines[i], re, got)
		}
	}
}

func TestCtl(t *testing.T) {
	c := testcluster.Start(t, 3)
	o := &orch{t: t, endpoints: strings.Join(c.Endpoints(), ","), dir: t.TempDir()}
	stores := registry.NewStores(c.Client(), registry.Config{})
	ctx := context.Background()
	f := o.file("app.yaml", manifest)

	t.Run("apply creates then leaves unchanged then configures", func(t *testing.T) {
		o.t = t
		wantLines(t, o.ok("ctl", "apply", "-f", f), "deployment.apps/web created", "service/web created", "pod/solo created")
		wantLines(t, o.ok("ctl", "apply", "-f", f), "deployment.apps/web unchanged", "service/web unchanged", "pod/solo unchanged")
		changed := o.file("changed.yaml", strings.Replace(manifest, "nginx:1.27", "nginx:1.28", 1))
		wantLines(t, o.ok("ctl", "apply", "-f", changed), "deployment.apps/web configured", "service/web unchanged", "pod/solo unchanged")
		d, err := stores.Deployments.Get(ctx, "default", "web")
		if err != nil {
			t.Fatal(err)
		}
		if img := d.Spec.Template.Spec.Containers[0].Image; img != "nginx:1.28" || d.Generation != 2 {
			t.Fatalf("image %q generation %d, want nginx:1.28 and 2", img, d.Generation)
		}
		if _, err := stores.Pods.Get(ctx, "tools", "solo"); err != nil {
			t.Fatalf("pod in its manifest's namespace: %v", err)
		}
	})

	t.Run("apply keeps what controllers own", func(t *testing.T) {
		o.t = t
		yes := true
		if _, err := stores.Pods.GuaranteedUpdate(ctx, "tools", "solo", func(p *api.Pod) (*api.Pod, error) {
			p.OwnerReferences = []api.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "x", UID: "u", Controller: &yes}}
			p.Status.Phase = api.PodRunning
			return p, nil
		}); err != nil {
			t.Fatal(err)
		}
		wantLines(t, o.ok("ctl", "apply", "-f", f), "deployment.apps/web configured", "service/web unchanged", "pod/solo unchanged")
		p, err := stores.Pods.Get(ctx, "tools", "solo")
		if err != nil {
			t.Fatal(err)
		}
		if len(p.OwnerReferences) != 1 || p.Status.Phase != api.PodRunning {
			t.Fatalf("owner references %v phase %q after apply", p.OwnerReferences, p.Status.Phase)
		}
	})

	t.Run("apply refuses unsupported fields", func(t *testing.T) {
		o.t = t
		bad := o.file("bad.yaml", strings.Replace(manifest, "kind: Service\nmetadata:\n  name: web", "kind: Service\nmetadata:\n  name: web2\n  bogus: 1", 1))
		_, _, err := o.run("ctl", "apply", "-f", bad)
		if err == nil || !strings.Contains(err.Error(), "document 3") || !strings.Contains(err.Error(), "metadata.bogus") {
			t.Fatalf("apply of an unknown field: %v, want an error naming document 3 and metadata.bogus", err)
		}
		if _, err := stores.Services.Get(ctx, "default", "web2"); !errors.Is(err, registry.ErrNotFound) {
			t.Fatalf("service of a refused manifest: %v, want not found", err)
		}
	})

	t.Run("get tables", func(t *testing.T) {
		o.t = t
		wantTable(t, o.ok("ctl", "get", "deployments"),
			"NAME READY UP-TO-DATE AVAILABLE AGE",
			`web 0/3 0 0 \d+s`)
		wantTable(t, o.ok("ctl", "get", "svc", "-n", "default"),
			"NAME TYPE CLUSTER-IP EXTERNAL-IP PORT\\(S\\) AGE",
			`web ClusterIP 127\.254\.\d+\.\d+ <none> 80/TCP \d+s`)
		wantTable(t, o.ok("ctl", "get", "pods", "-n", "tools", "-o", "wide"),
			"NAME READY STATUS RESTARTS AGE IP NODE NOMINATED NODE READINESS GATES",
			`solo 0/1 Running 0 \d+s <none> <none> <none> <none>`)
		wantTable(t, o.ok("ctl", "get", "pods", "-A"),
			"NAMESPACE NAME READY STATUS RESTARTS AGE",
			`tools solo 0/1 Running 0 \d+s`)
		wantTable(t, o.ok("ctl", "get", "pods", "-A", "-l", "app in (solo,other)", "-o", "name"), "pod/solo")
		_, errOut, err := o.run("ctl", "get", "pods", "-l", "app=none")
		if err != nil || errOut != "No resources found in default namespace.\n" {
			t.Fatalf("empty get: err %v stderr %q", err, errOut)
		}
	})

	t.Run("get json is a List with items", func(t *testing.T) {
		o.t = t
		var list struct {
			APIVersion string            `json:"apiVersion"`
			Kind       string            `json:"kind"`
			Items      []json.RawMessage `json:"items"`
		}
		if err := json.Unmarshal([]byte(o.ok("ctl", "get", "deployments", "-o", "json")), &list); err != nil {
			t.Fatal(err)
		}
		if list.APIVersion != "v1" || list.Kind != "List" || len(list.Items) != 1 {
			t.Fatalf("got %s/%s with %d items, want v1/List with 1", list.APIVersion, list.Kind, len(list.Items))
		}
		var d api.Deployment
		if err := json.Unmarshal(list.Items[0], &d); err != nil {
			t.Fatal(err)
		}
		if d.Kind != "Deployment" || d.APIVersion != "apps/v1" || d.Name != "web" || *d.Spec.Replicas != 3 || d.UID == "" || d.ResourceVersion == "" {
			t.Fatalf("item %+v", d.ObjectMeta)
		}
		if err := json.Unmarshal([]byte(o.ok("ctl", "get", "pods", "-A", "-l", "app=none", "-o", "json")), &list); err != nil || list.Kind != "List" || len(list.Items) != 0 {
			t.Fatalf("empty json list: %v %+v", err, list)
		}
		// Named get prints the object itself; yaml decodes back to it.
		out := o.ok("ctl", "get", "service", "web", "-o", "yaml")
		objs, err := api.DecodeManifests(strings.NewReader(out))
		if err != nil {
			t.Fatalf("get -o yaml does not decode as a manifest: %v\n%s", err, out)
		}
		if svc, ok := objs[0].(*api.Service); !ok || svc.Name != "web" || svc.Spec.Ports[0].Port != 80 {
			t.Fatalf("decoded %+v", objs[0])
		}
	})

	t.Run("scale", func(t *testing.T) {
		o.t = t
		wantLines(t, o.ok("ctl", "scale", "deployment", "web", "--replicas", "5"), "deployment.apps/web scaled")
		wantLines(t, o.ok("ctl", "scale", "deploy/web", "--replicas=0"), "deployment.apps/web scaled")
		d, err := stores.Deployments.Get(ctx, "default", "web")
		if err != nil {
			t.Fatal(err)
		}
		if *d.Spec.Replicas != 0 {
			t.Fatalf("replicas %d, want 0", *d.Spec.Replicas)
		}
		if _, _, err := o.run("ctl", "scale", "deployment", "missing", "--replicas", "1"); !errors.Is(err, registry.ErrNotFound) {
			t.Fatalf("scale of a missing deployment: %v", err)
		}
		if _, _, err := o.run("ctl", "scale", "service", "web", "--replicas", "1"); err == nil {
			t.Fatal("scale of a service succeeded")
		}
	})

	t.Run("get all and delete", func(t *testing.T) {
		o.t = t
		out := o.ok("ctl", "get", "all")
		for _, want := range []string{"service/web", "deployment.apps/web"} {
			if !strings.Contains(out, want) {
				t.Fatalf("get all lacks %s:\n%s", want, out)
			}
		}
		// Several types at once, as kubectl get TYPE1,TYPE2: each under its own header.
		out = o.ok("ctl", "get", "deploy,svc")
		for _, want := range []string{"deployment.apps/web", "service/web"} {
			if !strings.Contains(out, want) {
				t.Fatalf("get deploy,svc lacks %s:\n%s", want, out)
			}
		}
		if strings.Contains(out, "pod/") {
			t.Fatalf("get deploy,svc lists pods:\n%s", out)
		}
		if _, _, err := o.run("ctl", "get", "deploy,widgets"); err == nil || !strings.Contains(err.Error(), "widgets") {
			t.Fatalf("get of a list with an unknown type: %v", err)
		}
		wantLines(t, o.ok("ctl", "delete", "pod", "solo", "-n", "tools"), `pod "solo" deleted`)
		wantLines(t, o.ok("ctl", "delete", "deployments", "web"), `deployment "web" deleted`)
		if _, _, err := o.run("ctl", "delete", "pod", "solo", "-n", "tools"); !errors.Is(err, registry.ErrNotFound) {
			t.Fatalf("second delete: %v, want not found", err)
		}
		if _, _, err := o.run("ctl", "get", "widgets"); err == nil || !strings.Contains(err.Error(), "widgets") {
			t.Fatalf("get of an unknown resource: %v", err)
		}
	})

	t.Run("cluster-scoped nodes", func(t *testing.T) {
		o.t = t
		node := o.file("node.yaml", "apiVersion: v1\nkind: Node\nmetadata:\n  name: n1\n  labels: {zone: a}\nspec:\n  unschedulable: true\n")
		wantLines(t, o.ok("ctl", "apply", "-f", node, "-n", "ignored"), "node/n1 created")
		pod := o.file("pod.yaml", "apiVersion: v1\nkind: Pod\nmetadata:\n  name: x\nspec:\n  containers: [{name: c, image: busybox}]\n")
		wantLines(t, o.ok("ctl", "apply", "-f", pod, "-n", "ns2"), "pod/x created")
		wantLines(t, o.ok("ctl", "get", "pods", "-n", "ns2", "-o", "name"), "pod/x")
		wantTable(t, o.ok("ctl", "get", "nodes", "-n", "tools"),
			"NAME STATUS ROLES AGE VERSION",
			`n1 Unknown,SchedulingDisabled <none> \d+s <none>`)
	})
}

func TestUsage(t *testing.T) {
	for _, args := range [][]string{nil, {"bogus"}, {"ctl"}, {"ctl", "frob"}, {"ctl", "apply"}, {"ctl", "get"}, {"ctl", "scale", "deployment", "x"}} {
		var out, errOut bytes.Buffer
		if err := run(context.Background(), append(args, "--endpoints", "127.0.0.1:1"), &out, &errOut); !errors.Is(err, errUsage) {
			t.Errorf("orch %v: %v, want a usage error", args, err)
		}
	}
	// Asking for help is not an error: the usage goes to stdout.
	for _, args := range [][]string{{"ctl", "--help"}, {"ctl", "-h"}, {"ctl", "help"}} {
		var out, errOut bytes.Buffer
		if err := run(context.Background(), args, &out, &errOut); err != nil || !strings.Contains(out.String(), "ctl get") {
			t.Errorf("orch %v: %v, stdout %q, want the usage", args, err, out.String())
		}
	}
}

// An unreachable store makes a ctl command fail once --command-timeout passes, not hang.
func TestCtlGivesUpOnAnUnreachableStore(t *testing.T) {
	var out, errb bytes.Buffer
	done := make(chan error, 1)
	go func() {
		done <- runCtl(t.Context(), []string{"get", "pods", "--endpoints", "127.0.0.1:1", "--command-timeout", "300ms"}, &out, &errb)
	}()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "deadline exceeded") {
			t.Fatalf("ctl get against no store: err %v, want a deadline error", err)
		}
	case <-time.After(time.Minute): // a hang guard, not a timing check
		t.Fatal("ctl get against no store did not give up")
	}
}
