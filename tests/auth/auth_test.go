// Package auth_test drives etcd's auth (users, roles, permissions, tokens) against real
// 3-member Keel clusters: clientv3 with a username and password (denials as rpctypes errors,
// re-authentication after the member forgets its tokens, auth surviving a restart), client
// certificates, JWT and snapshots (the etcdctl script compared with etcd 3.4 is tests/compat's
// TestAuthCompat), and `orch ctl` with --user and client certificates against a TLS cluster with
// auth enabled (orch_test.go).
package auth_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/keeldb/keel/internal/poll"
	"github.com/keeldb/keel/internal/proccluster"
)

func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "ETCDCTL_") {
			env = append(env, kv)
		}
	}
	return env
}

// TestAuth checks clientv3 with a username and password against a 3-member Keel. The etcdctl
// script compared with etcd 3.4 (users, roles, grants, denials, token expiry) is
// tests/compat's TestAuthCompat.
func TestAuth(t *testing.T) {
	c := proccluster.Start(t, proccluster.Config{Binary: proccluster.BuildKeeld(t)})
	clientv3Checks(t, c)
}

func authClient(t *testing.T, c *proccluster.Cluster, user, password string, members ...int) *clientv3.Client {
	t.Helper()
	var eps []string
	for _, i := range members {
		eps = append(eps, c.Endpoint(i))
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: eps, DialTimeout: 10 * time.Second, Logger: zap.NewNop(),
		Username: user, Password: password})
	if err != nil {
		t.Fatalf("clientv3.New as %s: %v", user, err)
	}
	t.Cleanup(func() { _ = cli.Close() })
	return cli
}

func clientv3Checks(t *testing.T, c *proccluster.Cluster) {
	ctx := poll.Context(t, 60*time.Second)
	admin := c.Client(t)
	for _, step := range []func() error{
		func() error { _, err := admin.UserAdd(ctx, "root", "rootpw"); return err },
		func() error { _, err := admin.UserGrantRole(ctx, "root", "root"); return err },
		func() error { _, err := admin.UserAdd(ctx, "carol", "cpw"); return err },
		func() error { _, err := admin.RoleAdd(ctx, "c"); return err },
		func() error {
			_, err := admin.RoleGrantPermission(ctx, "c", "/c/", clientv3.GetPrefixRangeEnd("/c/"), clientv3.PermissionType(clientv3.PermReadWrite))
			return err
		},
		func() error { _, err := admin.UserGrantRole(ctx, "carol", "c"); return err },
		func() error { _, err := admin.AuthEnable(ctx); return err },
	} {
		if err := step(); err != nil {
			t.Fatalf("setting up auth: %v", err)
		}
	}
	rootCli := authClient(t, c, "root", "rootpw", 0, 1, 2)
	t.Cleanup(func() { _, _ = rootCli.AuthDisable(context.Background()) })

	// carol talks to a follower and to the leader alike; her writes are forwarded.
	for i := range 3 {
		carol := authClient(t, c, "carol", "cpw", i)
		if _, err := carol.Put(ctx, "/c/k", "v"); err != nil {
			t.Fatalf("carol put via member %d: %v", i, err)
		}
		if _, err := carol.Get(ctx, "/c/k"); err != nil {
			t.Fatalf("carol get via member %d: %v", i, err)
		}
		if _, err := carol.Put(ctx, "/d", "v"); !errors.Is(rpctypes.Error(err), rpctypes.ErrPermissionDenied) {
			t.Fatalf("carol put outside her prefix via member %d: got %v, want ErrPermissionDenied", i, err)
		}
		if _, err := carol.Txn(ctx).If(clientv3.Compare(clientv3.Value("/d"), "=", "x")).
			Then(clientv3.OpPut("/c/k", "1")).Commit(); !errors.Is(rpctypes.Error(err), rpctypes.ErrPermissionDenied) {
			t.Fatalf("carol txn comparing outside her prefix: got %v, want ErrPermissionDenied", err)
		}
		wch := carol.Watch(clientv3.WithRequireLeader(ctx), "/d")
		if wr := <-wch; !wr.Canceled {
			t.Fatalf("carol's watch outside her prefix was not canceled: %+v", wr)
		}
	}

	// A revoked permission applies at once, including to the token in use.
	carol := authClient(t, c, "carol", "cpw", 1)
	if _, err := rootCli.RoleRevokePermission(ctx, "c", "/c/", clientv3.GetPrefixRangeEnd("/c/")); err != nil {
		t.Fatal(err)
	}
	if _, err := carol.Put(ctx, "/c/k", "v"); !errors.Is(rpctypes.Error(err), rpctypes.ErrPermissionDenied) {
		t.Fatalf("put after the revoke: got %v, want ErrPermissionDenied", err)
	}
	if _, err := rootCli.RoleGrantPermission(ctx, "c", "/c/", clientv3.GetPrefixRangeEnd("/c/"), clientv3.PermissionType(clientv3.PermReadWrite)); err != nil {
		t.Fatal(err)
	}

	// LeaseRevoke needs WRITE on every key attached to the lease.
	lease, err := rootCli.Grant(ctx, 60)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rootCli.Put(ctx, "/secret", "v", clientv3.WithLease(lease.ID)); err != nil {
		t.Fatal(err)
	}
	if _, err := carol.Revoke(ctx, lease.ID); !errors.Is(rpctypes.Error(err), rpctypes.ErrPermissionDenied) {
		t.Fatalf("carol revokes a lease holding /secret: got %v, want ErrPermissionDenied", err)
	}
	if _, err := carol.Put(ctx, "/c/leased", "v", clientv3.WithLease(lease.ID)); !errors.Is(rpctypes.Error(err), rpctypes.ErrPermissionDenied) {
		t.Fatalf("carol attaches a key to that lease: got %v, want ErrPermissionDenied", err)
	}
	if _, err := rootCli.Revoke(ctx, lease.ID); err != nil {
		t.Fatalf("root revokes: %v", err)
	}

	// A restarted member has forgotten its tokens: the client re-authenticates by itself;
	// users and roles come back from the backend.
	c.Restart(1)
	poll.Until(t, ctx, "carol writes through the restarted member", func(ctx context.Context) error {
		_, err := carol.Put(ctx, "/c/after-restart", "v")
		return err
	})
	if resp, err := rootCli.UserGet(ctx, "carol"); err != nil || len(resp.Roles) != 1 || resp.Roles[0] != "c" {
		t.Fatalf("carol after restart: %v %v", resp, err)
	}
	if _, err := carol.Get(ctx, "/other"); !errors.Is(rpctypes.Error(err), rpctypes.ErrPermissionDenied) {
		t.Fatalf("denied read after restart: got %v", err)
	}
}
