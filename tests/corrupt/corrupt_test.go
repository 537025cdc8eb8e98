// Package corrupt_test checks etcd's corruption detection against a 3-member keeld cluster run
// as real processes: a value byte flipped in a stopped follower's backend file is found by the
// leader's periodic check (--experimental-corrupt-check-time), which raises CORRUPT for that
// member on every member; writes are then refused with etcd's "etcdserver: corrupt cluster",
// reads go on, Debian's etcdctl lists the alarm, and a disarm alone does not hide it: the next
// check raises it again. The compaction hash check finds the same once a compaction covers
// the flipped value. With --experimental-initial-corrupt-check the corrupted member refuses
// to start instead (docs/RELIABILITY.md "Corruption checks").
package corrupt_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	"github.com/keeldb/keel/internal/poll"
	"github.com/keeldb/keel/internal/proccluster"
)

func TestMain(m *testing.M) {
	code := m.Run()
	proccluster.RemoveBuilds()
	os.Exit(code)
}

const (
	// checkInterval is the clusters' --experimental-corrupt-check-time.
	checkInterval = 500 * time.Millisecond
	// opTimeout bounds one RPC or etcdctl run.
	opTimeout = 20 * time.Second
	// victimKey is the key whose stored value the test corrupts.
	victimKey = "corrupt/victim"
)

// writeAndSettle puts a few keys, the victim among them, and waits until every member has
// applied them (a serializable read of the last key on each).
func writeAndSettle(t *testing.T, ctx context.Context, c *proccluster.Cluster) {
	t.Helper()
	cli := c.Client(t)
	for i := range 5 {
		if _, err := cli.Put(ctx, fmt.Sprintf("corrupt/k%d", i), "v"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := cli.Put(ctx, victimKey, "a value worth keeping"); err != nil {
		t.Fatal(err)
	}
	for i := range c.Size() {
		mc := c.Client(t, i)
		eventually(t, ctx, fmt.Sprintf("m%d applies the victim", i), func(ctx context.Context) error {
			resp, err := mc.Get(ctx, victimKey, clientv3.WithSerializable())
			if err != nil {
				return err
			}
			if len(resp.Kvs) != 1 {
				return fmt.Errorf("m%d: %s not there yet", i, victimKey)
			}
			return nil
		})
	}
}

// follower returns a member that is not the leader.
func follower(t *testing.T, ctx context.Context, c *proccluster.Cluster) int {
	t.Helper()
	l, err := c.WaitLeader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return (l + 1) % c.Size()
}

// flipValueByte flips one byte of the victim's stored value in member i's backend file
// (member/kv.db, bucket "key": revision → marshalled mvccpb.KeyValue). The member must be
// stopped. The file stays a valid bbolt file holding a valid KeyValue: only the data differs.
func flipValueByte(t *testing.T, c *proccluster.Cluster, i int) {
	t.Helper()
	path := filepath.Join(c.DataDir(i), "member", "kv.db")
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 10 * time.Second})
	if err != nil {
		t.Fatalf("open %s: %v", path, err)
	}
	defer db.Close()
	flipped := 0
	err = db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte("key"))
		if b == nil {
			return errors.New("no key bucket")
		}
		type entry struct{ k, v []byte }
		var edits []entry
		err := b.ForEach(func(k, v []byte) error {
			var kv mvccpb.KeyValue
			if err := proto.Unmarshal(v, &kv); err != nil {
				return fmt.Errorf("revision %x: %w", k, err)
			}
			if string(kv.Key) != victimKey || len(kv.Value) == 0 {
				return nil
			}
			kv.Value[0] ^= 0x01
			nv, err := proto.Marshal(&kv)
			if err != nil {
				return err
			}
			edits = append(edits, entry{append([]byte(nil), k...), nv})
			return nil
		})
		if err != nil {
			return err
		}
		for _, e := range edits {
			if err := b.Put(e.k, e.v); err != nil {
				return err
			}
			flipped++
		}
		return nil
	})
	if err != nil {
		t.Fatalf("flip a value byte in %s: %v", path, err)
	}
	if flipped != 1 {
		t.Fatalf("flipped %d versions of %s, want 1", flipped, victimKey)
	}
}

// corruptAlarms returns the CORRUPT alarms member i lists (a linearizable Alarm GET).
func corruptAlarms(ctx context.Context, cli *clientv3.Client) ([]uint64, error) {
	resp, err := cli.AlarmList(ctx)
	if err != nil {
		return nil, err
	}
	var ids []uint64
	for _, a := range resp.Alarms {
		if a.Alarm == pb.AlarmType_CORRUPT {
			ids = append(ids, a.MemberID)
		}
	}
	return ids, nil
}

// waitCorruptEverywhere polls every member until each lists CORRUPT for member victim alone.
func waitCorruptEverywhere(t *testing.T, ctx context.Context, c *proccluster.Cluster, victim int) {
	t.Helper()
	want := c.MemberID(victim)
	for i := range c.Size() {
		cli := c.Client(t, i)
		eventually(t, ctx, fmt.Sprintf("m%d lists CORRUPT for m%d", i, victim), func(ctx context.Context) error {
			ids, err := corruptAlarms(ctx, cli)
			if err != nil {
				return err
			}
			if len(ids) != 1 || ids[0] != want {
				return fmt.Errorf("m%d: CORRUPT alarms %x, want [%x]", i, ids, want)
			}
			return nil
		})
	}
}

// leaderMetric returns the value of the counter name on the leader's /metrics.
func leaderMetric(ctx context.Context, c *proccluster.Cluster, name string) (float64, error) {
	l, err := c.Leader(ctx)
	if err != nil {
		return 0, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.Endpoint(l)+"/metrics", nil)
	if err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			return strconv.ParseFloat(v, 64)
		}
	}
	return 0, fmt.Errorf("m%d: no %s in /metrics", l, name)
}

// checksUnderLoad writes from a goroutine until the leader has run n more periodic checks,
// then stops it: checking while followers apply a few entries behind the leader must raise
// nothing (keel_raftstore_corruption_mismatches_total stays 0).
func checksUnderLoad(t *testing.T, ctx context.Context, c *proccluster.Cluster, n float64) {
	t.Helper()
	const checks, mismatches = "keel_raftstore_corruption_checks_total", "keel_raftstore_corruption_mismatches_total"
	var start float64
	eventually(t, ctx, "reading the leader's check count", func(ctx context.Context) error {
		v, err := leaderMetric(ctx, c, checks)
		start = v
		return err
	})
	cli := c.Client(t)
	loadCtx, stopLoad := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		for i := 0; ; i++ {
			if _, err := cli.Put(loadCtx, fmt.Sprintf("load/%d", i%100), fmt.Sprint(i)); err != nil {
				if loadCtx.Err() != nil {
					done <- nil
				} else {
					done <- err
				}
				return
			}
		}
	}()
	eventually(t, ctx, fmt.Sprintf("the leader runs %v checks under load", n), func(ctx context.Context) error {
		v, err := leaderMetric(ctx, c, checks)
		if err == nil && v < start+n {
			err = fmt.Errorf("%v checks so far, want %v", v-start, n)
		}
		return err
	})
	stopLoad()
	if err := <-done; err != nil {
		t.Fatalf("put under load: %v", err)
	}
	if v, err := leaderMetric(ctx, c, mismatches); err != nil || v != 0 {
		t.Fatalf("mismatches on a healthy cluster under load: %v, %v; want 0", v, err)
	}
}

// isCorrupt reports whether err is etcd's CORRUPT refusal as clientv3 returns it: the
// EtcdError with codes.DataLoss and "etcdserver: corrupt cluster".
func isCorrupt(err error) bool {
	var ee rpctypes.EtcdError
	return errors.Is(err, rpctypes.ErrCorrupt) && errors.As(err, &ee) && ee.Code() == codes.DataLoss &&
		ee.Error() == "etcdserver: corrupt cluster"
}

// TestPeriodicCheckRaisesCorrupt is acceptance item 3 of issue 13.
func TestPeriodicCheckRaisesCorrupt(t *testing.T) {
	c := proccluster.Start(t, proccluster.Config{Binary: proccluster.BuildKeeld(t), Members: 3,
		ExtraArgs: []string{"--experimental-corrupt-check-time", checkInterval.String()}})
	ctx := poll.Context(t, 3*time.Minute)
	writeAndSettle(t, ctx, c)
	checksUnderLoad(t, ctx, c, 3)
	f := follower(t, ctx, c)
	for i := range c.Size() {
		if ids, err := corruptAlarms(ctx, c.Client(t, i)); err != nil || len(ids) != 0 {
			t.Fatalf("m%d before the corruption: CORRUPT alarms %x, %v; want none", i, ids, err)
		}
	}

	c.Stop(f)
	flipValueByte(t, c, f)
	c.Restart(f)
	if err := c.WaitMember(ctx, f); err != nil {
		t.Fatal(err)
	}
	waitCorruptEverywhere(t, ctx, c, f)

	for i := range c.Size() {
		cli := c.Client(t, i)
		if _, err := cli.Put(ctx, "corrupt/after", "x"); !isCorrupt(err) {
			t.Errorf("m%d: put under CORRUPT = %v, want %v", i, err, rpctypes.ErrCorrupt)
		}
		if _, err := cli.Delete(ctx, "corrupt/k0"); !isCorrupt(err) {
			t.Errorf("m%d: delete under CORRUPT = %v, want %v", i, err, rpctypes.ErrCorrupt)
		}
		// Reads go on, as in etcd (its corrupt applier sits on the write path).
		if _, err := cli.Get(ctx, "corrupt/k1"); err != nil {
			t.Errorf("m%d: get under CORRUPT: %v", i, err)
		}
	}

	// A disarm alone does not hide the corruption: the next check raises the alarm again.
	cli := c.Client(t)
	resp, err := cli.AlarmDisarm(ctx, &clientv3.AlarmMember{MemberID: c.MemberID(f), Alarm: pb.AlarmType_CORRUPT})
	if err != nil || len(resp.Alarms) != 1 {
		t.Fatalf("disarm = %v, %v; want the disarmed alarm", resp, err)
	}
	waitCorruptEverywhere(t, ctx, c, f)
	if _, err := cli.Put(ctx, "corrupt/after", "x"); !isCorrupt(err) {
		t.Errorf("put after disarm and a new check = %v, want %v", err, rpctypes.ErrCorrupt)
	}

	t.Run("the corrupt member leads", func(t *testing.T) {
		// Its own hash is then the odd one out: the two others agree (a quorum), so the check
		// it runs as leader blames itself, not them.
		if _, err := cli.MoveLeader(ctx, c.MemberID(f)); err != nil {
			t.Fatalf("move leadership to m%d: %v", f, err)
		}
		if l, err := c.WaitLeader(ctx); err != nil || l != f {
			t.Fatalf("leader m%d, %v; want m%d", l, err, f)
		}
		if _, err := cli.AlarmDisarm(ctx, &clientv3.AlarmMember{MemberID: c.MemberID(f), Alarm: pb.AlarmType_CORRUPT}); err != nil {
			t.Fatal(err)
		}
		waitCorruptEverywhere(t, ctx, c, f)
		if l, err := c.Leader(ctx); err != nil || l != f {
			t.Fatalf("leader m%d, %v after the check; want m%d", l, err, f)
		}
	})

	t.Run("etcdctl", func(t *testing.T) {
		etcdctl := proccluster.EtcdctlBinary(t)
		ctl := func(args ...string) string {
			t.Helper()
			cctx, cancel := context.WithTimeout(ctx, opTimeout)
			defer cancel()
			full := append([]string{"--endpoints=" + strings.Join(c.Endpoints(), ","), "--dial-timeout=10s",
				"--command-timeout=15s"}, args...)
			cmd := exec.CommandContext(cctx, etcdctl, full...)
			cmd.Env = append(etcdctlFreeEnv(), "ETCDCTL_API=3")
			var out bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &out
			if err := cmd.Run(); err != nil {
				t.Fatalf("etcdctl %s: %v\n%s", strings.Join(args, " "), err, out.String())
			}
			return out.String()
		}
		want := fmt.Sprintf("memberID:%d alarm:CORRUPT", c.MemberID(f))
		if out := ctl("alarm", "list"); !strings.Contains(out, want) {
			t.Errorf("etcdctl alarm list printed %q, want %q", out, want)
		}
		if out := ctl("alarm", "disarm"); !strings.Contains(out, want) {
			t.Errorf("etcdctl alarm disarm printed %q, want the disarmed %q", out, want)
		}
		waitCorruptEverywhere(t, ctx, c, f)
		if out := ctl("alarm", "list"); !strings.Contains(out, want) {
			t.Errorf("etcdctl alarm list after disarm and a new check printed %q, want %q", out, want)
		}
	})
}

// TestCompactHashCheckRaisesCorrupt: with --experimental-compact-hash-check-enabled and no
// periodic check, the corruption is found through the hashes the members' compactors record:
// a compaction over the flipped value raises CORRUPT for the follower on every member.
func TestCompactHashCheckRaisesCorrupt(t *testing.T) {
	c := proccluster.Start(t, proccluster.Config{Binary: proccluster.BuildKeeld(t), Members: 3,
		ExtraArgs: []string{"--experimental-compact-hash-check-enabled",
			"--experimental-compact-hash-check-time", checkInterval.String()}})
	ctx := poll.Context(t, 3*time.Minute)
	cli := c.Client(t)
	// A healthy compaction is compared and raises nothing.
	resp, err := cli.Put(ctx, "corrupt/first", "v")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Compact(ctx, resp.Header.Revision, clientv3.WithCompactPhysical()); err != nil {
		t.Fatal(err)
	}
	eventually(t, ctx, "the leader compares the first compaction", func(ctx context.Context) error {
		v, err := leaderMetric(ctx, c, "keel_raftstore_corruption_checks_total")
		if err == nil && v < 1 {
			err = errors.New("no compaction hash compared yet")
		}
		return err
	})
	writeAndSettle(t, ctx, c)
	f := follower(t, ctx, c)
	c.Stop(f)
	flipValueByte(t, c, f)
	c.Restart(f)
	if err := c.WaitMember(ctx, f); err != nil {
		t.Fatal(err)
	}
	for i := range c.Size() {
		if ids, err := corruptAlarms(ctx, c.Client(t, i)); err != nil || len(ids) != 0 {
			t.Fatalf("m%d before the compaction: CORRUPT alarms %x, %v; want none", i, ids, err)
		}
	}
	resp, err = cli.Put(ctx, "corrupt/last", "v")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Compact(ctx, resp.Header.Revision, clientv3.WithCompactPhysical()); err != nil {
		t.Fatal(err)
	}
	waitCorruptEverywhere(t, ctx, c, f)
	if _, err := cli.Put(ctx, "corrupt/after", "x"); !isCorrupt(err) {
		t.Errorf("put under CORRUPT = %v, want %v", err, rpctypes.ErrCorrupt)
	}
	// A disarm alone does not hide it.
	if _, err := cli.AlarmDisarm(ctx, &clientv3.AlarmMember{MemberID: c.MemberID(f), Alarm: pb.AlarmType_CORRUPT}); err != nil {
		t.Fatal(err)
	}
	waitCorruptEverywhere(t, ctx, c, f)
}

// TestInitialCheckRefusesStart: a member started with --experimental-initial-corrupt-check
// whose backend differs from its peers' at the same revision exits before serving clients,
// saying so; the others go on.
func TestInitialCheckRefusesStart(t *testing.T) {
	c := proccluster.Start(t, proccluster.Config{Binary: proccluster.BuildKeeld(t), Members: 3,
		ExtraArgs: []string{"--experimental-initial-corrupt-check"}})
	ctx := poll.Context(t, 3*time.Minute)
	writeAndSettle(t, ctx, c)
	f := follower(t, ctx, c)

	// A clean restart passes the check.
	c.Restart(f)
	if err := c.WaitMember(ctx, f); err != nil {
		t.Fatal(err)
	}

	c.Stop(f)
	flipValueByte(t, c, f)
	c.Restart(f)
	exitErr, err := c.WaitExit(ctx, f)
	if err != nil {
		t.Fatal(err)
	}
	if exitErr == nil {
		t.Fatalf("m%d exited cleanly, want a failure", f)
	}
	log, err := os.ReadFile(c.LogPath(f))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(log), "found data inconsistency with peers") {
		t.Errorf("m%d's log does not say why it refused to start:\n%s", f, log)
	}
	if _, err := c.Client(t, (f+1)%3, (f+2)%3).Put(ctx, "corrupt/after", "x"); err != nil {
		t.Errorf("put on the other members: %v", err)
	}
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

// eventually polls f, each attempt bounded by opTimeout, until it holds or ctx ends.
func eventually(t *testing.T, ctx context.Context, what string, f func(context.Context) error) {
	t.Helper()
	poll.UntilEach(t, ctx, what, opTimeout, f)
}
