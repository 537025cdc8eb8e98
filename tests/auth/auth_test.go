// Package auth_test drives etcd's auth (users, roles, permissions, tokens) against real
// 3-member clusters: the same etcdctl script against Debian's etcd 3.4 and Keel with the
// outputs compared, then clientv3 with a username and password against Keel (denials as
// rpctypes errors, re-authentication after the member forgets its tokens, auth surviving
// a restart), and `orch ctl` with --user and client certificates against a TLS cluster with
// auth enabled (orch_test.go).
package auth_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/keeldb/keel/internal/poll"
	"github.com/keeldb/keel/internal/proccluster"
)

// step is one etcdctl invocation of the script: user ("" for none, or "name:password"),
// stdin and arguments.
type step struct {
	user  string
	stdin string
	args  []string
}

func s(user string, args ...string) step { return step{user: user, args: args} }

const (
	root  = "root:rootpw"
	alice = "alice:pw"
	// simpleTTL is both clusters' --auth-token-ttl: short, so the clientv3 checks see a simple
	// token expire (each etcdctl step authenticates afresh and finishes well within it).
	simpleTTL = 2 * time.Second
)

// script covers user, role and auth commands, prefix, range and single-key grants, denials
// on every kind of request (Range, Put, DeleteRange, Txn compares and both branches, Watch,
// Compact, admin RPCs), a wrong password, a revoked permission and auth disable.
var script = []step{
	s("", "auth", "enable"),
	s("", "user", "add", "root", "--new-user-password=rootpw"),
	s("", "user", "add", "root", "--new-user-password=x"),
	s("", "user", "add", "", "--new-user-password=x"),
	s("", "user", "grant-role", "root", "root"),
	s("", "role", "add", "app"),
	s("", "role", "add", "app"),
	s("", "role", "grant-permission", "app", "--prefix", "readwrite", "/app/"),
	s("", "role", "grant-permission", "app", "read", "/ro"),
	s("", "role", "grant-permission", "app", "write", "/wo", "/wp"),
	s("", "role", "grant-permission", "nope", "read", "/x"),
	s("", "user", "add", "alice", "--new-user-password=pw"),
	s("", "user", "grant-role", "alice", "app"),
	s("", "user", "grant-role", "alice", "nope"),
	s("", "role", "get", "app"),
	s("", "user", "get", "alice"),
	s("", "user", "list"),
	s("", "role", "list"),
	s("", "auth", "enable"),
	s("", "get", "/app/a"),
	s(alice, "put", "/app/a", "1"),
	s(alice, "get", "/app/a"),
	s(alice, "get", "/app/", "--prefix"),
	s(alice, "put", "/other", "x"),
	s(alice, "get", "/other"),
	s(alice, "get", "/app/", "--prefix", "--from-key"),
	s(alice, "get", "/ro"),
	s(alice, "put", "/ro", "x"),
	s(alice, "put", "/wo1", "x"),
	s(alice, "get", "/wo1"),
	s(alice, "del", "/app/a", "--prev-kv"),
	s(alice, "del", "/wo1"),
	s(alice, "del", "/wo1", "--prev-kv"),
	s(alice, "del", "/app/", "--prefix"),
	{user: alice, stdin: "value(\"/other\") = \"x\"\n\nput /app/t 1\n\nput /app/t 2\n\n", args: []string{"txn"}},
	{user: alice, stdin: "value(\"/app/a\") = \"x\"\n\nput /app/t 1\n\nput /other 2\n\n", args: []string{"txn"}},
	{user: alice, stdin: "value(\"/app/a\") = \"x\"\n\nput /app/t 1\n\nput /app/t 2\n\n", args: []string{"txn"}},
	{user: alice, stdin: "\n\nget /other\n\n\n", args: []string{"txn"}},
	s(alice, "watch", "/other"),
	s(alice, "compaction", "1"),
	s(alice, "user", "list"),
	s(alice, "role", "add", "x"),
	s(alice, "user", "get", "alice"),
	s(alice, "role", "get", "app"),
	s(alice, "alarm", "list"),
	s(alice, "lease", "grant", "100"),
	s("alice:wrong", "get", "/app/a"),
	s("bob:pw", "get", "/app/a"),
	s(root, "put", "/other", "root-wrote"),
	s(root, "get", "/other"),
	s(root, "user", "list"),
	s(root, "user", "delete", "root"),
	s(root, "user", "revoke-role", "root", "root"),
	s(root, "role", "delete", "root"),
	s(root, "role", "revoke-permission", "app", "/ro"),
	s(root, "role", "revoke-permission", "app", "/ro"),
	s(alice, "get", "/ro"),
	s(root, "user", "passwd", "alice", "--interactive=false"),
	s(alice, "get", "/app/t"),
	s("alice:pw2", "get", "/app/t"),
	s(root, "user", "revoke-role", "alice", "app"),
	s("alice:pw2", "get", "/app/t"),
	s(root, "role", "delete", "app"),
	s(root, "user", "get", "alice"),
	s(root, "auth", "disable"),
	s("", "get", "/other"),
	s("", "user", "delete", "alice"),
	s("", "user", "list"),
}

func init() {
	// "user passwd" reads the new password from stdin.
	for i := range script {
		if len(script[i].args) > 1 && script[i].args[1] == "passwd" {
			script[i].stdin = "pw2\n"
		}
	}
}

// runScript runs the script against a fresh cluster of binary and returns one transcript
// entry per step: exit status, stdout, and stderr without the client's JSON log lines.
func runScript(t *testing.T, binary string) ([]string, *proccluster.Cluster) {
	c := proccluster.Start(t, proccluster.Config{Binary: binary,
		ExtraArgs: []string{"--auth-token-ttl", strconv.Itoa(int(simpleTTL / time.Second))}})
	etcdctl := proccluster.EtcdctlBinary(t)
	var out []string
	for _, st := range script {
		args := []string{"--endpoints=" + strings.Join(c.Endpoints(), ","), "--dial-timeout=10s", "--command-timeout=5s"}
		if st.user != "" {
			args = append(args, "--user="+st.user)
		}
		args = append(args, st.args...)
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		if st.args[0] == "watch" {
			// A denied watch ends at once; an allowed one would run until the timeout.
			cancel()
			ctx, cancel = context.WithTimeout(t.Context(), 5*time.Second)
		}
		cmd := exec.CommandContext(ctx, etcdctl, args...)
		cmd.Env = append(cleanEnv(), "ETCDCTL_API=3")
		cmd.Stdin = strings.NewReader(st.stdin)
		var o, e bytes.Buffer
		cmd.Stdout, cmd.Stderr = &o, &e
		err := cmd.Run()
		cancel()
		var lines []string
		for _, l := range strings.Split(e.String(), "\n") {
			if l != "" && !strings.HasPrefix(l, "{") {
				lines = append(lines, l)
			}
		}
		entry := "$ " + strings.Join(append([]string{st.user}, st.args...), " ") +
			"\nok=" + boolStr(err == nil) + "\n" + normalize(o.String()) + strings.Join(lines, "\n")
		out = append(out, entry)
	}
	return out, c
}

// normalize drops what differs between runs: lease IDs, revisions and member IDs.
func normalize(s string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, "lease ") && strings.Contains(l, "granted with TTL") {
			l = "lease <id> granted with TTL" + l[strings.Index(l, "granted with TTL")+len("granted with TTL"):]
		}
		out = append(out, l)
	}
	return strings.Join(out, "\n")
}

func boolStr(b bool) string {
	if b {
		return "true"
	}
	return "false"
}

func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "ETCDCTL_") {
			env = append(env, kv)
		}
	}
	return env
}

// TestAuth runs the etcdctl script against etcd 3.4 and Keel and compares the transcripts,
// then checks clientv3 against the same Keel cluster.
func TestAuth(t *testing.T) {
	keeld := proccluster.BuildKeeld(t)
	keelOut, c := runScript(t, keeld)
	t.Logf("keel transcript:\n%s", strings.Join(keelOut, "\n\n"))
	t.Run("etcdctl-matches-etcd", func(t *testing.T) {
		etcdOut, _ := runScript(t, proccluster.EtcdBinary(t))
		for i := range etcdOut {
			if keelOut[i] != etcdOut[i] {
				t.Errorf("step %d differs:\nkeel:\n%s\netcd:\n%s", i, keelOut[i], etcdOut[i])
			}
		}
	})
	t.Run("clientv3", func(t *testing.T) { clientv3Checks(t, c) })
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
		// The script left root (with the root role) behind, and auth disabled.
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

	// A token unused for the TTL expires; the client re-authenticates by itself (waiting for
	// the TTL to pass is the point here).
	time.Sleep(simpleTTL + 500*time.Millisecond)
	if _, err := carol.Get(ctx, "/c/k"); err != nil {
		t.Fatalf("get after the simple token expired: %v", err)
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
