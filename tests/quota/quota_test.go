package quota_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/keeldb/keel/internal/poll"
	"github.com/keeldb/keel/internal/proccluster"
)

// TestNoSpaceAlarmRoundTrip fills a cluster past its quota through clientv3 and recovers it
// with compaction, defragmentation of every member and disarm.
func TestNoSpaceAlarmRoundTrip(t *testing.T) {
	c := startKeel(t)
	ctx := poll.Context(t, 3*time.Minute)
	cli := c.Client(t)
	keys := fill(t, ctx, cli)
	if len(keys) < quotaBytes/valueBytes/2 {
		t.Fatalf("only %d puts of %d bytes before NOSPACE with a %d-byte quota", len(keys), valueBytes, quotaBytes)
	}

	// Every member lists the alarm, and reports it in Status.
	members := map[uint64]bool{}
	for i := range c.Size() {
		members[c.MemberID(i)] = true
	}
	for i := range c.Size() {
		mcli := c.Client(t, i)
		eventually(t, ctx, fmt.Sprintf("m%d lists the NOSPACE alarm", i), func(ctx context.Context) error {
			resp, err := mcli.AlarmList(ctx)
			if err != nil {
				return err
			}
			if len(resp.Alarms) == 0 {
				return fmt.Errorf("no alarm")
			}
			for _, a := range resp.Alarms {
				if a.Alarm != pb.AlarmType_NOSPACE || !members[a.MemberID] {
					return fmt.Errorf("unexpected alarm %v", a)
				}
			}
			st, err := c.Status(ctx, i)
			if err != nil {
				return err
			}
			if !slices.ContainsFunc(st.Errors, func(e string) bool { return strings.Contains(e, "NOSPACE") }) {
				return fmt.Errorf("Status errors %q do not mention NOSPACE", st.Errors)
			}
			return nil
		})
	}

	checkHealth(t, ctx, c, "/health", http.StatusServiceUnavailable, "ALARM NOSPACE")
	checkHealth(t, ctx, c, "/health?exclude=NOSPACE", http.StatusOK, `"health":"true"`)
	checkHealth(t, ctx, c, "/readyz", http.StatusOK, `"health":"true"`) // readiness ignores NOSPACE, as etcd's

	// Writes that could grow the backend are refused on every member; reads go on.
	for i := range c.Size() {
		mcli := c.Client(t, i)
		cctx, cancel := context.WithTimeout(ctx, opTimeout)
		_, err := mcli.Put(cctx, "refused", "v")
		cancel()
		if !isNoSpace(err) {
			t.Errorf("m%d: put under NOSPACE = %v, want database space exceeded", i, err)
		}
		cctx, cancel = context.WithTimeout(ctx, opTimeout)
		_, err = mcli.Txn(cctx).Then(clientv3.OpPut("refused", "v")).Commit()
		cancel()
		if !isNoSpace(err) {
			t.Errorf("m%d: txn with a put under NOSPACE = %v, want database space exceeded", i, err)
		}
		cctx, cancel = context.WithTimeout(ctx, opTimeout)
		_, err = mcli.Grant(cctx, 60)
		cancel()
		if !isNoSpace(err) {
			t.Errorf("m%d: lease grant under NOSPACE = %v, want database space exceeded", i, err)
		}
		cctx, cancel = context.WithTimeout(ctx, opTimeout)
		resp, err := mcli.Get(cctx, keys[i], clientv3.WithKeysOnly())
		cancel()
		if err != nil || len(resp.Kvs) != 1 {
			t.Errorf("m%d: read under NOSPACE = %v, %v", i, resp, err)
		}
	}

	// Deletes go on: a delete-only txn, then the rest of the keys.
	if _, err := cli.Txn(ctx).Then(clientv3.OpDelete(keys[0])).Commit(); err != nil {
		t.Fatalf("delete-only txn under NOSPACE: %v", err)
	}
	del, err := cli.Delete(ctx, "fill/", clientv3.WithPrefix())
	if err != nil {
		t.Fatalf("delete under NOSPACE: %v", err)
	}
	if del.Deleted != int64(len(keys)-1) {
		t.Errorf("deleted %d keys, want %d", del.Deleted, len(keys)-1)
	}
	if _, err := cli.Compact(ctx, del.Header.Revision, clientv3.WithCompactPhysical()); err != nil {
		t.Fatalf("compact under NOSPACE: %v", err)
	}
	before, err := dbSizes(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	for i, ep := range c.Endpoints() {
		if _, err := cli.Defragment(ctx, ep); err != nil {
			t.Fatalf("defragment m%d: %v", i, err)
		}
	}
	after, err := dbSizes(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("dbSize before defrag %v, after %v", before, after)
	for i := range after {
		if after[i] > quotaBytes/4 || after[i] >= before[i] {
			t.Errorf("m%d: dbSize %d after defrag (was %d), want it well below the quota", i, after[i], before[i])
		}
	}

	// Still refused until the alarm is disarmed.
	if _, err := cli.Put(ctx, "refused", "v"); !isNoSpace(err) {
		t.Errorf("put before disarm = %v, want database space exceeded", err)
	}
	if _, err := cli.AlarmDisarm(ctx, &clientv3.AlarmMember{}); err != nil {
		t.Fatalf("disarm: %v", err)
	}
	if resp, err := cli.AlarmList(ctx); err != nil || len(resp.Alarms) != 0 {
		t.Fatalf("alarm list after disarm = %v, %v", resp, err)
	}
	var rev int64
	for i := range c.Size() {
		resp, err := c.Client(t, i).Put(ctx, fmt.Sprintf("after/%d", i), strings.Repeat("y", valueBytes))
		if err != nil {
			t.Fatalf("m%d: put after recovery: %v", i, err)
		}
		rev = resp.Header.Revision
	}
	checkHealth(t, ctx, c, "/health", http.StatusOK, `"health":"true"`)
	eventually(t, ctx, "members agree on HashKV after recovery", func(ctx context.Context) error {
		var hashes []uint32
		for _, ep := range c.Endpoints() {
			resp, err := cli.HashKV(ctx, ep, rev)
			if err != nil {
				return err
			}
			hashes = append(hashes, resp.Hash)
		}
		if hashes[0] != hashes[1] || hashes[1] != hashes[2] {
			return fmt.Errorf("hashes differ: %v", hashes)
		}
		return nil
	})
}

// checkHealth checks every member's HTTP health endpoint path: status code and body.
func checkHealth(t *testing.T, ctx context.Context, c *proccluster.Cluster, path string, code int, body string) {
	t.Helper()
	for i := range c.Size() {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.Endpoint(i)+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("m%d: GET %s: %v", i, path, err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != code || !strings.Contains(string(b), body) {
			t.Errorf("m%d: GET %s = %d %q, %v; want %d with %q", i, path, resp.StatusCode, b, err, code, body)
		}
	}
}

// TestNoSpaceAlarmWithEtcdctl does the recovery with Debian's etcdctl: alarm list, del,
// compaction, defrag and alarm disarm.
func TestNoSpaceAlarmWithEtcdctl(t *testing.T) {
	etcdctl := proccluster.EtcdctlBinary(t)
	c := startKeel(t)
	ctx := poll.Context(t, 3*time.Minute)
	fill(t, ctx, c.Client(t))
	ctl := func(args ...string) (string, error) {
		t.Helper()
		full := append([]string{"--endpoints=" + strings.Join(c.Endpoints(), ","), "--dial-timeout=10s",
			"--command-timeout=20s"}, args...)
		cmd := exec.CommandContext(ctx, etcdctl, full...)
		cmd.Env = append(etcdctlFreeEnv(), "ETCDCTL_API=3")
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		return out.String(), err
	}
	must := func(args ...string) string {
		t.Helper()
		out, err := ctl(args...)
		if err != nil {
			t.Fatalf("etcdctl %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return out
	}
	eventually(t, ctx, "etcdctl alarm list shows NOSPACE", func(context.Context) error {
		if out := must("alarm", "list"); !strings.Contains(out, "alarm:NOSPACE") {
			return fmt.Errorf("alarm list: %q", out)
		}
		return nil
	})
	if out, err := ctl("put", "k", "v"); err == nil || !strings.Contains(out, "database space exceeded") {
		t.Errorf("etcdctl put under NOSPACE: %v\n%s", err, out)
	}
	// etcdctl 3.4's endpoint health does not look at alarms (3.5's does, through Alarm GET), so
	// it is only checked after the recovery.
	must("del", "--prefix", "fill/")
	out := must("get", "--write-out=json", "nothing")
	i := strings.Index(out, `"revision":`)
	if i < 0 {
		t.Fatalf("get -w json: %q", out)
	}
	var rev int64
	if _, err := fmt.Sscanf(out[i+len(`"revision":`):], "%d", &rev); err != nil {
		t.Fatalf("revision in %q: %v", out, err)
	}
	must("compaction", "--physical", fmt.Sprint(rev))
	if out := must("defrag"); strings.Count(out, "Finished defragmenting etcd member[") != 3 {
		t.Errorf("etcdctl defrag:\n%s", out)
	}
	sizes, err := dbSizes(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	for i, s := range sizes {
		if s > quotaBytes/4 {
			t.Errorf("m%d: dbSize %d after etcdctl defrag", i, s)
		}
	}
	if out := must("alarm", "disarm"); !strings.Contains(out, "alarm:NOSPACE") {
		t.Errorf("etcdctl alarm disarm printed %q, want the disarmed alarm", out)
	}
	if out := must("alarm", "list"); strings.TrimSpace(out) != "" {
		t.Errorf("alarm list after disarm: %q", out)
	}
	must("put", "k", "v")
	if out := must("get", "k", "--print-value-only"); strings.TrimSpace(out) != "v" {
		t.Errorf("get k after recovery = %q", out)
	}
	must("endpoint", "health")
}

// etcdctlFreeEnv is the test environment without ETCDCTL_* settings that could redirect it.
func etcdctlFreeEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "ETCDCTL_") {
			env = append(env, kv)
		}
	}
	return env
}
