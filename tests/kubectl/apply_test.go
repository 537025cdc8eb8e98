package kubectl_test

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

const ssaManifest = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: ssa
spec:
  replicas: %d
  selector:
    matchLabels: {app: ssa}
  template:
    metadata:
      labels: {app: ssa}
    spec:
      containers:
      - name: web
        image: nginx:1.25
`

// Server-side apply through the real kubectl: apply, re-apply, a conflict with the
// scale subresource's writer, and --force-conflicts.
func TestKubectlServerSideApply(t *testing.T) {
	s := newSystem(t)
	file := filepath.Join(s.dir, "ssa.yaml")
	write := func(replicas int) {
		if err := os.WriteFile(file, []byte(fmt.Sprintf(ssaManifest, replicas)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(2)
	apply := []string{"apply", "--server-side", "-f", file}
	wantMatch(t, "first server-side apply", s.ok(apply...), `deployment.apps/ssa serverside-applied`)
	wantMatch(t, "second server-side apply", s.ok(apply...), `deployment.apps/ssa serverside-applied`)
	wantMatch(t, "managed fields", s.ok("get", "deploy", "ssa", "-o", "yaml", "--show-managed-fields"),
		`(?m)^  managedFields:$`, `manager: kubectl\n`, `operation: Apply`, `f:replicas: \{\}`)

	wantMatch(t, "scale", s.ok("scale", "deployment", "ssa", "--replicas=3"), `deployment.apps/ssa scaled`)
	write(4)
	_, err := s.kubectl2(apply...)
	t.Logf("conflicting apply: %v", err)
	wantMatch(t, "conflicting apply", fmt.Sprint(err), `Apply failed with 1 conflict: conflict with "kubectl"`, `\.spec\.replicas`)
	wantMatch(t, "replicas kept", s.ok("get", "deploy", "ssa", "-o", "jsonpath={.spec.replicas}"), `^3$`)

	wantMatch(t, "forced apply", s.ok(append(apply, "--force-conflicts")...), `deployment.apps/ssa serverside-applied`)
	wantMatch(t, "replicas applied", s.ok("get", "deploy", "ssa", "-o", "jsonpath={.spec.replicas}"), `^4$`)
}
