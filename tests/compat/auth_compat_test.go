package compat_test

import (
	"bytes"
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	"github.com/keeldb/keel/internal/proccluster"
)

// authStep is one step of TestAuthCompat: an etcdctl command run as user ("" for none, or
// "name:password") with stdin, or, when do is set, a Go function over one side's cluster
// (raw tokens and clientv3, for what etcdctl cannot show) whose transcript is compared.
type authStep struct {
	name  string
	user  string
	stdin string
	args  []string
	do    func(t *testing.T, s *authSide, member int) string
	// fixed, when set, replaces the comparison with etcd: the step runs against Keel only and
	// its transcript must be exactly this, because Debian's etcd 3.4 cannot be the reference
	// (fixedWhy says why; docs/ETCD-API.md "Auth" names the difference).
	fixed, fixedWhy string
}

func ctlStep(user string, args ...string) authStep { return authStep{user: user, args: args} }

func txnStep(user, stdin string) authStep {
	return authStep{user: user, stdin: stdin, args: []string{"txn"}}
}

// etcd34AuthenticateWhy is why the re-authentication steps are not compared with etcd 3.4.
const etcd34AuthenticateWhy = "etcd 3.4 checks the token an Authenticate request carries and refuses an expired one " +
	"(etcd-io/etcd#12385; etcd 3.5 ignores it, etcd-io/etcd#12165), so clientv3 3.5+, which keeps sending the " +
	"expired token while it re-authenticates, never recovers against it"

const (
	authRoot  = "root:rootpw"
	authAlice = "alice:pw"
	// authTokenTTL is both clusters' --auth-token-ttl (with --auth-token simple): short, so the
	// script sees a simple token expire. Each etcdctl step authenticates afresh, and clientv3
	// re-authenticates when a token has expired under it.
	authTokenTTL = 2 * time.Second
)

// authSide is one cluster of TestAuthCompat, with what the Go steps keep between steps.
type authSide struct {
	top     *testing.T // TestAuthCompat itself: clients kept across steps close at its end
	name    string
	c       *proccluster.Cluster
	etcdctl string
	token   string           // alice's simple token, from the authenticate step
	alice   *clientv3.Client // alice's clientv3 client, from the authenticate step
}

// authScript covers user, role and auth commands, prefix, range and single-key grants, denials
// on every kind of request (Range, Put, DeleteRange, Txn compares and both branches, Watch,
// Compact, LeaseRevoke, admin RPCs), a wrong password, simple-token expiry, a revoked
// permission, a changed password and auth disable.
func authScript() []authStep {
	steps := []authStep{
		ctlStep("", "auth", "enable"),
		ctlStep("", "user", "add", "root", "--new-user-password=rootpw"),
		ctlStep("", "user", "add", "root", "--new-user-password=x"),
		ctlStep("", "user", "add", "", "--new-user-password=x"),
		ctlStep("", "user", "grant-role", "root", "root"),
		ctlStep("", "role", "add", "app"),
		ctlStep("", "role", "add", "app"),
		ctlStep("", "role", "grant-permission", "app", "--prefix", "readwrite", "/app/"),
		ctlStep("", "role", "grant-permission", "app", "read", "/ro"),
		ctlStep("", "role", "grant-permission", "app", "write", "/wo", "/wp"),
		ctlStep("", "role", "grant-permission", "nope", "read", "/x"),
		ctlStep("", "user", "add", "alice", "--new-user-password=pw"),
		ctlStep("", "user", "grant-role", "alice", "app"),
		ctlStep("", "user", "grant-role", "alice", "nope"),
		ctlStep("", "role", "get", "app"),
		ctlStep("", "user", "get", "alice"),
		ctlStep("", "user", "list"),
		ctlStep("", "role", "list"),
		ctlStep("", "auth", "enable"),
		ctlStep("", "get", "/app/a"),
		ctlStep(authAlice, "put", "/app/a", "1"),
		ctlStep(authAlice, "get", "/app/a"),
		ctlStep(authAlice, "get", "/app/", "--prefix"),
		ctlStep(authAlice, "put", "/other", "x"),
		ctlStep(authAlice, "get", "/other"),
		ctlStep(authAlice, "get", "/app/", "--prefix", "--from-key"),
		ctlStep(authAlice, "get", "/ro"),
		ctlStep(authAlice, "put", "/ro", "x"),
		ctlStep(authAlice, "put", "/wo1", "x"),
		ctlStep(authAlice, "get", "/wo1"),
		ctlStep(authAlice, "del", "/app/a", "--prev-kv"),
		ctlStep(authAlice, "del", "/wo1"),
		ctlStep(authAlice, "del", "/wo1", "--prev-kv"),
		ctlStep(authAlice, "del", "/app/", "--prefix"),
		txnStep(authAlice, "value(\"/other\") = \"x\"\n\nput /app/t 1\n\nput /app/t 2\n\n"),
		txnStep(authAlice, "value(\"/app/a\") = \"x\"\n\nput /app/t 1\n\nput /other 2\n\n"),
		txnStep(authAlice, "value(\"/app/a\") = \"x\"\n\nput /app/t 1\n\nput /app/t 2\n\n"),
		txnStep(authAlice, "\n\nget /other\n\n\n"),
		ctlStep(authAlice, "watch", "/other"),
		ctlStep(authAlice, "compaction", "1"),
		ctlStep(authAlice, "user", "list"),
		ctlStep(authAlice, "role", "add", "x"),
		ctlStep(authAlice, "user", "get", "alice"),
		ctlStep(authAlice, "role", "get", "app"),
		ctlStep(authAlice, "alarm", "list"),
		ctlStep(authAlice, "lease", "grant", "100"),
		{name: "lease-revoke-of-a-key-alice-cannot-write", do: leaseRevokeDenied},
		ctlStep("alice:wrong", "get", "/app/a"),
		ctlStep("bob:pw", "get", "/app/a"),
		{name: "token/authenticate", do: authenticateAlice},
		{name: "token/range-with-token", do: rangeWithToken},
		{name: "token/wait-past-ttl", do: waitPastTokenTTL},
		{name: "token/range-with-expired-token", do: rangeWithToken},
		{name: "token/authenticate-carrying-the-expired-token", do: authenticateWithExpiredToken,
			fixed: "token issued: true", fixedWhy: etcd34AuthenticateWhy},
		{name: "token/clientv3-reauthenticates", do: aliceGetsAfterExpiry,
			fixed: "get /app/t: <nil> [/app/t=2]", fixedWhy: etcd34AuthenticateWhy},
		ctlStep(authRoot, "put", "/other", "root-wrote"),
		ctlStep(authRoot, "get", "/other"),
		ctlStep(authRoot, "user", "list"),
		ctlStep(authRoot, "user", "delete", "root"),
		ctlStep(authRoot, "user", "revoke-role", "root", "root"),
		ctlStep(authRoot, "role", "delete", "root"),
		ctlStep(authRoot, "role", "revoke-permission", "app", "/ro"),
		ctlStep(authRoot, "role", "revoke-permission", "app", "/ro"),
		ctlStep(authAlice, "get", "/ro"),
		{user: authRoot, stdin: "pw2\n", args: []string{"user", "passwd", "alice", "--interactive=false"}},
		ctlStep(authAlice, "get", "/app/t"),
		ctlStep("alice:pw2", "get", "/app/t"),
		ctlStep(authRoot, "user", "revoke-role", "alice", "app"),
		ctlStep("alice:pw2", "get", "/app/t"),
		ctlStep(authRoot, "role", "delete", "app"),
		ctlStep(authRoot, "user", "get", "alice"),
		ctlStep(authRoot, "auth", "disable"),
		ctlStep("", "get", "/other"),
		ctlStep("", "user", "delete", "alice"),
		ctlStep("", "user", "list"),
	}
	for k := range steps {
		if steps[k].name == "" {
			who := steps[k].user
			if who == "" {
				who = "anonymous"
			}
			steps[k].name = fmt.Sprintf("%02d-%s-as-%s", k, strings.Join(steps[k].args, "_"), who)
		}
	}
	return steps
}

// TestAuthCompat runs authScript against a fresh 3-member etcd 3.4 and Keel in lockstep (step k
// on member k mod 3 of each) and requires identical transcripts: exit status, stdout (lease IDs
// masked) and stderr without the client's JSON log lines.
func TestAuthCompat(t *testing.T) {
	etcdctl := proccluster.EtcdctlBinary(t)
	etcd, keeld := proccluster.EtcdBinary(t), proccluster.BuildKeeld(t)
	flags := []string{"--auth-token", "simple", "--auth-token-ttl", strconv.Itoa(int(authTokenTTL / time.Second))}
	keel := &authSide{top: t, name: "keel", etcdctl: etcdctl, c: proccluster.Start(t, proccluster.Config{Binary: keeld, ExtraArgs: flags})}
	ref := &authSide{top: t, name: "etcd", etcdctl: etcdctl, c: proccluster.Start(t, proccluster.Config{Binary: etcd, ExtraArgs: flags})}
	failed := 0
	for k, st := range authScript() {
		member := k % keel.c.Size()
		ok := t.Run(st.name, func(t *testing.T) {
			if st.fixed != "" {
				if got := keel.run(t, st, member); got != st.fixed {
					t.Fatalf("step %d on member %d: keel (got) differs from the fixed outcome (want; %s):\n%s", k, member, st.fixedWhy, lineDiff(got, st.fixed))
				}
				if os.Getenv("COMPAT_DUMP") != "" {
					t.Logf("etcd 3.4 (not compared): %s", ref.run(t, st, member))
				}
				return
			}
			got, want := keel.run(t, st, member), ref.run(t, st, member)
			if got != want {
				t.Fatalf("step %d on member %d: keel (got) differs from etcd (want):\n%s", k, member, lineDiff(got, want))
			}
			t.Logf("%s", want)
		})
		if !ok {
			if failed++; failed >= maxFailedSteps {
				t.Fatalf("stopping after %d failed steps", failed)
			}
		}
	}
}

// TestAuthScriptNames keeps step names unique, so that a failure names exactly one step.
func TestAuthScriptNames(t *testing.T) {
	seen := map[string]bool{}
	for _, s := range authScript() {
		if seen[s.name] {
			t.Errorf("step name %q is duplicated", s.name)
		}
		seen[s.name] = true
	}
}

// run runs one step against member of s and returns its transcript.
func (s *authSide) run(t *testing.T, st authStep, member int) string {
	t.Helper()
	if st.do != nil {
		return st.do(t, s, member)
	}
	args := []string{"--endpoints=" + s.c.Endpoint(member), "--dial-timeout=10s", "--command-timeout=5s"}
	if st.user != "" {
		args = append(args, "--user="+st.user)
	}
	args = append(args, st.args...)
	timeout := 30 * time.Second
	if st.args[0] == "watch" {
		timeout = 5 * time.Second // a denied watch ends at once; an allowed one would run until the timeout
	}
	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, s.etcdctl, args...)
	cmd.Env = append(etcdctlFreeEnv(), "ETCDCTL_API=3")
	cmd.Stdin = strings.NewReader(st.stdin)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	var lines []string
	for _, l := range strings.Split(e.String(), "\n") {
		if l != "" && !strings.HasPrefix(l, "{") {
			lines = append(lines, l)
		}
	}
	return fmt.Sprintf("ok=%v\n%s%s", err == nil, maskLeaseIDs(o.String()), strings.Join(lines, "\n"))
}

// maskLeaseIDs replaces the lease ID of "lease <id> granted with TTL(...)" lines.
func maskLeaseIDs(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		if _, after, ok := strings.Cut(l, " granted with TTL"); ok && strings.HasPrefix(l, "lease ") {
			lines[i] = "lease <id> granted with TTL" + after
		}
	}
	return strings.Join(lines, "\n")
}

// client connects to one member of s as user ("" for none); it is closed at cleanup.
func (s *authSide) client(t *testing.T, member int, user, password string) *clientv3.Client {
	t.Helper()
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{s.c.Endpoint(member)}, DialTimeout: 10 * time.Second,
		Logger: zap.NewNop(), Username: user, Password: password})
	if err != nil {
		t.Fatalf("%s: clientv3.New as %q: %v", s.name, user, err)
	}
	t.Cleanup(func() { _ = cli.Close() })
	return cli
}

// outcomeText renders a normalized response, or the error's code and message.
func outcomeText(o outcome) string {
	if o.resp == nil {
		return o.errString()
	}
	return render(o.resp)
}

func errText(err error) string {
	if err == nil {
		return "<nil>"
	}
	return err.Error()
}

// leaseRevokeDenied: root attaches /secret to a lease; alice may not revoke it (WRITE on every
// attached key) nor attach her own key to it; root may.
func leaseRevokeDenied(t *testing.T, s *authSide, member int) string {
	ctx, cancel := context.WithTimeout(t.Context(), requestTimeout)
	defer cancel()
	root, alice := s.client(t, member, "root", "rootpw"), s.client(t, member, "alice", "pw")
	lease, err := root.Grant(ctx, 100)
	if err != nil {
		return "root grant: " + err.Error()
	}
	_, err = root.Put(ctx, "/secret", "v", clientv3.WithLease(lease.ID))
	out := "root put /secret with the lease: " + errText(err)
	_, err = alice.Revoke(ctx, lease.ID)
	out += "\nalice revokes it: " + errText(err)
	_, err = alice.Put(ctx, "/app/leased", "v", clientv3.WithLease(lease.ID))
	out += "\nalice attaches /app/leased to it: " + errText(err)
	_, err = root.Revoke(ctx, lease.ID)
	return out + "\nroot revokes it: " + errText(err)
}

// authenticateAlice takes a simple token for alice over the raw Auth API and opens alice's
// clientv3 client, both kept for the later token steps.
func authenticateAlice(t *testing.T, s *authSide, member int) string {
	ctx, cancel := context.WithTimeout(t.Context(), requestTimeout)
	defer cancel()
	resp, err := pb.NewAuthClient(s.rawConn(t, member)).
		Authenticate(ctx, &pb.AuthenticateRequest{Name: "alice", Password: "pw"})
	if err != nil {
		return "authenticate: " + err.Error()
	}
	s.token = resp.Token
	s.alice = s.client(s.top, member, "alice", "pw")
	_, err = s.alice.Get(ctx, "/app/t")
	return fmt.Sprintf("token issued: %v; clientv3 get: %s", resp.Token != "", errText(err))
}

// rawConn is a plain gRPC connection to one member of s, without clientv3's retries (which
// would retry a request refused for its token); it is closed at cleanup.
func (s *authSide) rawConn(t *testing.T, member int) *grpc.ClientConn {
	t.Helper()
	u, err := url.Parse(s.c.Endpoint(member))
	if err != nil {
		t.Fatal(err)
	}
	conn, err := grpc.NewClient(u.Host, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

// rangeWithToken reads /app/t with alice's token in the request metadata.
func rangeWithToken(t *testing.T, s *authSide, member int) string {
	ctx, cancel := context.WithTimeout(t.Context(), requestTimeout)
	defer cancel()
	ctx = metadata.AppendToOutgoingContext(ctx, "token", s.token)
	resp, err := pb.NewKVClient(s.rawConn(t, member)).Range(ctx, &pb.RangeRequest{Key: []byte("/app/t")})
	return outcomeText(makeOutcome(resp, err))
}

// authenticateWithExpiredToken authenticates alice again on a request that still carries her
// expired token, as clientv3 does when it re-authenticates.
func authenticateWithExpiredToken(t *testing.T, s *authSide, member int) string {
	ctx, cancel := context.WithTimeout(t.Context(), requestTimeout)
	defer cancel()
	ctx = metadata.AppendToOutgoingContext(ctx, "token", s.token)
	resp, err := pb.NewAuthClient(s.rawConn(t, member)).Authenticate(ctx, &pb.AuthenticateRequest{Name: "alice", Password: "pw"})
	if err != nil {
		return "authenticate: " + err.Error()
	}
	return fmt.Sprintf("token issued: %v", resp.Token != "")
}

// waitPastTokenTTL waits until alice's unused token (and her client's) has expired: the TTL
// plus etcd's one-second expiry check. Waiting for time to pass is what this step tests.
func waitPastTokenTTL(_ *testing.T, _ *authSide, _ int) string {
	time.Sleep(authTokenTTL + 1500*time.Millisecond)
	return ""
}

// aliceGetsAfterExpiry reads through alice's clientv3 client, whose token has expired: clientv3
// re-authenticates by itself.
func aliceGetsAfterExpiry(t *testing.T, s *authSide, _ int) string {
	ctx, cancel := context.WithTimeout(t.Context(), requestTimeout)
	defer cancel()
	resp, err := s.alice.Get(ctx, "/app/t")
	var kvs []string
	if err == nil {
		for _, kv := range resp.Kvs {
			kvs = append(kvs, string(kv.Key)+"="+string(kv.Value))
		}
	}
	return fmt.Sprintf("get /app/t: %s %v", errText(err), kvs)
}
