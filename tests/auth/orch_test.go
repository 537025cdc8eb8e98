package auth_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
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

// TestOrchAuthTLS runs orch against a 3-member Keel with mutual TLS and auth enabled: with
// --user and the client certificate flags (before ctl, before the verb, after it) `ctl apply`
// and `get` work, and a scheduler, controller-manager and sim agent run the applied
// Deployment's pods; without --user, with a wrong password, without a certificate, or as a
// user without a grant on /registry/, the command fails with etcd's error.
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

	// The components take the same flags (the connection flags before the command here): the
	// controllers make the Deployment's pods, the scheduler binds them, the sim agent runs them,
	// each through the store with auth and TLS.
	conn := join([]string{eps, "--user", "orch:orchpw"}, certs)
	startComponent(t, orch, join(conn, []string{"scheduler", "--id", "s1"}))
	startComponent(t, orch, join(conn, []string{"controller-manager", "--id", "cm1"}))
	startComponent(t, orch, join(conn, []string{"agent", "--node", "sim", "--metrics-interval", "0"}))
	poll.Until(t, ctx, "the Deployment's 2 pods Running", func(context.Context) error {
		out, ok := run(join(conn, []string{"ctl", "get", "pods", "-n", "team"})...)
		if n := strings.Count(out, " Running "); !ok || n != 2 {
			return fmt.Errorf("%d pods Running (ok=%v)", n, ok)
		}
		return nil
	})

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

// startComponent starts `orch args...` with its output in the test log; at cleanup it is
// stopped with SIGTERM and waited for.
func startComponent(t *testing.T, orch string, args []string) {
	t.Helper()
	var out bytes.Buffer
	cmd := exec.Command(orch, args...)
	cmd.Env = cleanEnv()
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} // an aborted run leaves nothing behind
	if err := cmd.Start(); err != nil {
		t.Fatalf("start orch %s: %v", strings.Join(args, " "), err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-done
			t.Errorf("orch %s did not exit within 30s of SIGTERM", strings.Join(args, " "))
		}
		if t.Failed() {
			t.Logf("orch %s output:\n%s", strings.Join(args, " "), out.String())
		}
	})
}
