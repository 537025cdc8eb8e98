package auth_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/authpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/keeldb/keel/internal/poll"
	"github.com/keeldb/keel/internal/proccluster"
)

// orchManifest is what TestOrchAuthTLS applies: a Namespace and a Deployment in it (no
// controllers run; the objects only have to reach the store and come back).
const orchManifest = `apiVersion: v1
kind: Namespace
metadata:
  name: team
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: team
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: busybox
`

// TestOrchAuthTLS runs `orch ctl` against a 3-member Keel with mutual TLS and auth enabled:
// with --user and the client certificate flags (before ctl, before the verb, after it) apply
// and get work; without --user, with a wrong password, without a certificate, or as a user
// without a grant on /registry/, the command fails with etcd's error.
func TestOrchAuthTLS(t *testing.T) {
	keeld, orch := proccluster.BuildKeeld(t), proccluster.BuildOrch(t)
	ctx := poll.Context(t, 2*time.Minute)
	ca := newTestCA(t)
	memberCert, memberKey := ca.issue(t, "member")    // names no user: the harness's client has no rights once auth is on
	clientCert, clientKey := ca.issue(t, "orch-tool") // likewise: orch's rights come from --user alone
	c := proccluster.Start(t, proccluster.Config{Binary: keeld,
		TLS: &proccluster.TLSFiles{CAFile: ca.file, CertFile: memberCert, KeyFile: memberKey}})
	admin := c.Client(t)
	for _, step := range []func() error{
		func() error { _, err := admin.UserAdd(ctx, "root", "rootpw"); return err },
		func() error { _, err := admin.UserGrantRole(ctx, "root", "root"); return err },
		func() error { _, err := admin.RoleAdd(ctx, "orchestrator"); return err },
		func() error {
			_, err := admin.RoleGrantPermission(ctx, "orchestrator", "/registry/", clientv3.GetPrefixRangeEnd("/registry/"),
				clientv3.PermissionType(authpb.READWRITE))
			return err
		},
		func() error { _, err := admin.UserAdd(ctx, "orch", "orchpw"); return err },
		func() error { _, err := admin.UserGrantRole(ctx, "orch", "orchestrator"); return err },
		func() error { _, err := admin.UserAdd(ctx, "nobody", "npw"); return err },
		func() error { _, err := admin.AuthEnable(ctx); return err },
	} {
		if err := step(); err != nil {
			t.Fatalf("setting up auth: %v", err)
		}
	}
	root := tlsClient(t, c, ca, memberCert, memberKey, "root", "rootpw")
	t.Cleanup(func() { _, _ = root.AuthDisable(context.Background()) })

	manifest := filepath.Join(t.TempDir(), "team.yaml")
	if err := os.WriteFile(manifest, []byte(orchManifest), 0o600); err != nil {
		t.Fatal(err)
	}
	eps := "--endpoints=" + strings.Join(c.Endpoints(), ",")
	certs := []string{"--cacert", ca.file, "--cert", clientCert, "--key", clientKey}
	run := func(args ...string) (string, bool) {
		t.Helper()
		cmd := exec.CommandContext(ctx, orch, args...)
		cmd.Env = cleanEnv()
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		t.Logf("orch %s:\n%s", strings.Join(args, " "), out.String())
		return out.String(), err == nil
	}
	join := func(parts ...[]string) []string {
		var all []string
		for _, p := range parts {
			all = append(all, p...)
		}
		return all
	}
	fast := []string{"--dial-timeout=2s", "--command-timeout=5s"} // for the runs expected to fail

	if out, ok := run(join([]string{eps, "--user", "orch:orchpw"}, certs, []string{"ctl", "apply", "-f", manifest})...); !ok ||
		!strings.Contains(out, "deployment.apps/web created") {
		t.Fatalf("apply with --user before ctl: ok=%v, want deployment.apps/web created", ok)
	}
	out, ok := run(join([]string{"ctl", eps}, certs, []string{"--user", "orch", "--password", "orchpw", "get", "deployments", "-n", "team", "-o", "name"})...)
	if !ok || strings.TrimSpace(out) != "deployment.apps/web" {
		t.Fatalf("get with --user --password before the verb: ok=%v, want deployment.apps/web", ok)
	}
	if out, ok := run(join([]string{"ctl", "get", "ns", "team", eps}, certs, []string{"--user=orch:orchpw"})...); !ok || !strings.Contains(out, "team") {
		t.Fatalf("get with --user after the verb: ok=%v", ok)
	}

	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no --user", join([]string{eps}, fast, certs, []string{"ctl", "get", "deployments", "-A"}), "etcdserver: permission denied"},
		{"wrong password", join([]string{eps, "--user", "orch:nope"}, fast, certs, []string{"ctl", "get", "deployments", "-A"}),
			"etcdserver: authentication failed, invalid user ID or password"},
		{"user without a grant", join([]string{eps, "--user", "nobody:npw"}, fast, certs, []string{"ctl", "apply", "-f", manifest}),
			"etcdserver: permission denied"},
		{"no certificate", join([]string{eps, "--user", "orch:orchpw", "--cacert", ca.file}, fast, []string{"ctl", "get", "ns"}),
			"context deadline exceeded"},
	} {
		out, ok := run(tc.args...)
		if ok || !strings.Contains(out, tc.want) {
			t.Errorf("%s: ok=%v, output %q, want a failure with %q", tc.name, ok, out, tc.want)
		}
	}
}
