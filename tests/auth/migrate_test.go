package auth_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/keeldb/keel/internal/poll"
	"github.com/keeldb/keel/internal/proccluster"
)

// TestAuthMigration moves auth state with snapshots both ways (README "Moving from etcd"):
// Debian's etcd 3.4 → etcdctl snapshot save → keelctl snapshot restore → Keel, and Keel →
// etcdctl snapshot save → etcdctl snapshot restore → etcd. On the restored side auth is still
// enabled, the user authenticates with its password, reads its grant and is denied elsewhere.
func TestAuthMigration(t *testing.T) {
	keeld := proccluster.BuildKeeld(t)
	etcd := proccluster.EtcdBinary(t)
	etcdctl := proccluster.EtcdctlBinary(t)
	keelctl := buildKeelctl(t)
	ctx := poll.Context(t, 4*time.Minute)
	for _, tc := range []struct {
		name, from, to, restoreTool string
	}{
		{"etcd-to-keel", etcd, keeld, keelctl},
		{"keel-to-etcd", keeld, etcd, etcdctl},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := proccluster.Start(t, proccluster.Config{Binary: tc.from})
			setUpGrace(t, ctx, src.Client(t))
			snap := filepath.Join(t.TempDir(), "snapshot.db")
			runCmd(t, ctx, etcdctl, "--endpoints="+src.Endpoint(0), "--user=root:rootpw", "snapshot", "save", snap)
			dst := proccluster.Start(t, proccluster.Config{Binary: tc.to})
			restoreCluster(t, ctx, dst, tc.restoreTool, snap)
			checkGrace(t, ctx, dst)
		})
	}
}

// setUpGrace creates root and grace (readwrite on /g/), writes /g/k and /other, and enables auth.
func setUpGrace(t *testing.T, ctx context.Context, cli *clientv3.Client) {
	t.Helper()
	for _, step := range []func() error{
		func() error { _, err := cli.UserAdd(ctx, "root", "rootpw"); return err },
		func() error { _, err := cli.UserGrantRole(ctx, "root", "root"); return err },
		func() error { _, err := cli.UserAdd(ctx, "grace", "gpw"); return err },
		func() error { _, err := cli.RoleAdd(ctx, "g"); return err },
		func() error {
			_, err := cli.RoleGrantPermission(ctx, "g", "/g/", clientv3.GetPrefixRangeEnd("/g/"), clientv3.PermissionType(clientv3.PermReadWrite))
			return err
		},
		func() error { _, err := cli.UserGrantRole(ctx, "grace", "g"); return err },
		func() error { _, err := cli.Put(ctx, "/g/k", "v"); return err },
		func() error { _, err := cli.Put(ctx, "/other", "v"); return err },
		func() error { _, err := cli.AuthEnable(ctx); return err },
	} {
		if err := step(); err != nil {
			t.Fatalf("setting up auth: %v", err)
		}
	}
}

func checkGrace(t *testing.T, ctx context.Context, c *proccluster.Cluster) {
	t.Helper()
	grace := authClient(t, c, "grace", "gpw", 0, 1, 2)
	if resp, err := grace.Get(ctx, "/g/k"); err != nil || len(resp.Kvs) != 1 {
		t.Fatalf("grace reads her prefix after the restore: %v %v", resp, err)
	}
	if _, err := grace.Get(ctx, "/other"); !errors.Is(rpctypes.Error(err), rpctypes.ErrPermissionDenied) {
		t.Fatalf("grace reads outside her prefix: got %v, want ErrPermissionDenied", err)
	}
	if _, err := c.Client(t).Get(ctx, "/g/k"); !errors.Is(rpctypes.Error(err), rpctypes.ErrUserEmpty) {
		t.Fatalf("a read without a user: got %v, want ErrUserEmpty (auth enabled)", err)
	}
	root := authClient(t, c, "root", "rootpw", 0)
	users, err := root.UserList(ctx)
	if err != nil || len(users.Users) != 2 {
		t.Fatalf("users after the restore: %v %v", users, err)
	}
}

// restoreCluster stops every member of c, restores its data dir from snap with tool
// (keelctl or etcdctl, same flags), and starts it again.
func restoreCluster(t *testing.T, ctx context.Context, c *proccluster.Cluster, tool, snap string) {
	t.Helper()
	for i := range c.Size() {
		c.Stop(i)
	}
	for i := range c.Size() {
		args := c.Args(i)
		if err := os.RemoveAll(c.DataDir(i)); err != nil {
			t.Fatal(err)
		}
		runCmd(t, ctx, tool, "snapshot", "restore", snap, "--name", flagValue(args, "--name"),
			"--data-dir", c.DataDir(i), "--initial-cluster", flagValue(args, "--initial-cluster"),
			"--initial-cluster-token", flagValue(args, "--initial-cluster-token"),
			"--initial-advertise-peer-urls", flagValue(args, "--initial-advertise-peer-urls"))
	}
	for i := range c.Size() {
		c.Restart(i)
	}
	if err := c.WaitHealthy(ctx); err != nil {
		t.Fatalf("restored cluster: %v", err)
	}
}
