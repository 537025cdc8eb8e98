package auth_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/keeldb/keel/internal/poll"
	"github.com/keeldb/keel/internal/proccluster"
)

// jwtTTL is the JWT lifetime the cluster is started with: short, so the test sees a token
// expire and the client re-authenticate.
const jwtTTL = 2 * time.Second

// TestAuthJWTAndSnapshotRestore starts Keel with --auth-token jwt (RS256): a token issued
// through one member works on every member, an expired token makes clientv3 re-authenticate
// by itself, and users, roles and the enabled flag survive `etcdctl snapshot save` plus
// `keelctl snapshot restore` into a new cluster.
func TestAuthJWTAndSnapshotRestore(t *testing.T) {
	keeld := proccluster.BuildKeeld(t)
	etcdctl := proccluster.EtcdctlBinary(t)
	ctx := poll.Context(t, 3*time.Minute)
	priv, pub := rsaKeyFiles(t)
	c := proccluster.Start(t, proccluster.Config{Binary: keeld, ExtraArgs: []string{"--auth-token",
		"jwt,priv-key=" + priv + ",pub-key=" + pub + ",sign-method=RS256,ttl=" + jwtTTL.String()}})
	admin := c.Client(t)
	for _, step := range []func() error{
		func() error { _, err := admin.UserAdd(ctx, "root", "rootpw"); return err },
		func() error { _, err := admin.UserGrantRole(ctx, "root", "root"); return err },
		func() error { _, err := admin.UserAdd(ctx, "dave", "dpw"); return err },
		func() error { _, err := admin.RoleAdd(ctx, "d"); return err },
		func() error {
			_, err := admin.RoleGrantPermission(ctx, "d", "/d/", clientv3.GetPrefixRangeEnd("/d/"), clientv3.PermissionType(clientv3.PermReadWrite))
			return err
		},
		func() error { _, err := admin.UserGrantRole(ctx, "dave", "d"); return err },
		func() error { _, err := admin.AuthEnable(ctx); return err },
	} {
		if err := step(); err != nil {
			t.Fatalf("setting up auth: %v", err)
		}
	}

	// One client over every member: the token it got from one member works on the others.
	dave := authClient(t, c, "dave", "dpw", 0, 1, 2)
	for i := range 6 {
		if _, err := dave.Put(ctx, "/d/k", "v"); err != nil {
			t.Fatalf("put %d: %v", i, err)
		}
	}
	if _, err := dave.Get(ctx, "/e"); !errors.Is(rpctypes.Error(err), rpctypes.ErrPermissionDenied) {
		t.Fatalf("get outside the grant: got %v, want ErrPermissionDenied", err)
	}
	// Let the token expire (waiting for time is the point here), then use the client again:
	// the server answers ErrInvalidAuthToken and clientv3 re-authenticates transparently.
	time.Sleep(jwtTTL + 500*time.Millisecond)
	if _, err := dave.Get(ctx, "/d/k"); err != nil {
		t.Fatalf("get after the token expired: %v", err)
	}

	// An auth change makes every JWT issued before it old (its revision is in the token): the
	// next request gets ErrAuthOldRevision and clientv3 re-authenticates by itself.
	rootCli := authClient(t, c, "root", "rootpw", 0)
	if _, err := rootCli.RoleAdd(ctx, "unrelated"); err != nil {
		t.Fatal(err)
	}
	if _, err := dave.Put(ctx, "/d/k", "after-change"); err != nil {
		t.Fatalf("put with a token older than the auth change: %v", err)
	}

	// Save with etcdctl as root, restore every member with keelctl, and check auth came back.
	snap := filepath.Join(t.TempDir(), "snapshot.db")
	runCmd(t, ctx, etcdctl, "--endpoints="+c.Endpoint(0), "--user=root:rootpw", "snapshot", "save", snap)
	restoreCluster(t, ctx, c, buildKeelctl(t), snap)
	restored := authClient(t, c, "dave", "dpw", 2)
	if resp, err := restored.Get(ctx, "/d/k"); err != nil || len(resp.Kvs) != 1 {
		t.Fatalf("dave reads after restore: %v %v", resp, err)
	}
	if _, err := restored.Put(ctx, "/e", "v"); !errors.Is(rpctypes.Error(err), rpctypes.ErrPermissionDenied) {
		t.Fatalf("put outside the grant after restore: got %v, want ErrPermissionDenied", err)
	}
	if _, err := c.Client(t, 1).Get(ctx, "/d/k"); !errors.Is(rpctypes.Error(err), rpctypes.ErrUserEmpty) {
		t.Fatalf("get without a user after restore: got %v, want ErrUserEmpty (auth still enabled)", err)
	}
}

func rsaKeyFiles(t *testing.T) (priv, pub string) {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	pubDER, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	priv, pub = filepath.Join(dir, "jwt.key"), filepath.Join(dir, "jwt.pub")
	if err := os.WriteFile(priv, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(pub, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return priv, pub
}

// buildKeelctl builds cmd/keelctl into the test's temp dir.
func buildKeelctl(t *testing.T) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "keelctl")
	cmd := exec.Command("go", "build", "-o", out, "github.com/keeldb/keel/cmd/keelctl")
	cmd.Dir = proccluster.ModuleRoot(t)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build cmd/keelctl: %v\n%s", err, b)
	}
	return out
}

func runCmd(t *testing.T, ctx context.Context, name string, args ...string) string {
	t.Helper()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(cleanEnv(), "ETCDCTL_API=3")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s", filepath.Base(name), strings.Join(args, " "), err, out.String())
	}
	return out.String()
}

func flagValue(args []string, name string) string {
	for i, a := range args {
		if a == name && i+1 < len(args) {
			return args[i+1]
		}
		if v, ok := strings.CutPrefix(a, name+"="); ok {
			return v
		}
	}
	return ""
}
