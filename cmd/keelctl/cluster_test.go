package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/keeldb/keel/internal/testcluster"
)

// TestEndpointAndMemberCommands runs endpoint health/status (over the member list) and the
// member commands against an in-process cluster, including a stopped member.
func TestEndpointAndMemberCommands(t *testing.T) {
	c := testcluster.Start(t, 3)
	eps := "--endpoints=" + strings.Join(c.Endpoints(), ",")
	waitClientURLs(t, c.Client(), 3)

	var health []endpointHealth
	if err := json.Unmarshal([]byte(keelctl(t, "--endpoints", c.Endpoints()[0], "endpoint", "health", "--cluster", "-w", "json")), &health); err != nil {
		t.Fatal(err)
	}
	if len(health) != 3 {
		t.Fatalf("endpoint health --cluster = %+v, want 3 endpoints", health)
	}
	for _, h := range health {
		if !h.Health || h.Error != "" {
			t.Errorf("endpoint health: %+v", h)
		}
	}
	if out := keelctl(t, eps, "endpoint", "health"); strings.Count(out, "is healthy: successfully committed proposal") != 3 {
		t.Errorf("endpoint health:\n%s", out)
	}
	var st []endpointStatus
	if err := json.Unmarshal([]byte(keelctl(t, "--endpoints", c.Endpoints()[1], "endpoint", "status", "--cluster", "-w", "json")), &st); err != nil {
		t.Fatal(err)
	}
	leaders := 0
	for _, s := range st {
		if s.Status.Leader == s.Status.Header.MemberId {
			leaders++
		}
	}
	if len(st) != 3 || leaders != 1 {
		t.Errorf("endpoint status --cluster: %d endpoints, %d leaders; want 3 and 1", len(st), leaders)
	}

	var ml pb.MemberListResponse
	if err := json.Unmarshal([]byte(keelctl(t, eps, "member", "list", "-w", "json")), &ml); err != nil {
		t.Fatal(err)
	}
	if len(ml.Members) != 3 {
		t.Fatalf("member list = %+v", ml.Members)
	}
	if out := keelctl(t, eps, "member", "list", "-w", "table"); !strings.Contains(out, "| started |") || strings.Count(out, "\n") != 7 {
		t.Errorf("member list table:\n%s", out)
	}

	// A learner that never starts: added, not promotable, updatable, removable.
	out := keelctl(t, eps, "member", "add", "extra", "--peer-urls", "http://127.0.0.1:1", "--learner")
	var id string
	if _, err := fmt.Sscanf(out, "Member %s added to cluster", &id); err != nil || !strings.Contains(out, `ETCD_INITIAL_CLUSTER_STATE="existing"`) ||
		!strings.Contains(out, "extra=http://127.0.0.1:1") {
		t.Fatalf("member add: %v\n%s", err, out)
	}
	if out := keelctl(t, eps, "member", "list"); !strings.Contains(out, id+", unstarted, , http://127.0.0.1:1, , true") {
		t.Errorf("member list after add:\n%s", out)
	}
	if _, err := keelctlErr(t, eps, "member", "promote", id); err == nil {
		t.Error("promoting a learner that never caught up succeeded")
	}
	if out := keelctl(t, eps, "member", "update", id, "--peer-urls", "http://127.0.0.1:2"); !strings.HasPrefix(out, "Member "+id+" updated in cluster") {
		t.Errorf("member update: %q", out)
	}
	if out := keelctl(t, eps, "member", "list"); !strings.Contains(out, "http://127.0.0.1:2") {
		t.Errorf("member list after update:\n%s", out)
	}
	if out := keelctl(t, eps, "member", "remove", id); !strings.HasPrefix(out, "Member "+id+" removed from cluster") {
		t.Errorf("member remove: %q", out)
	}
	if out := keelctl(t, eps, "member", "list"); strings.Contains(out, id) {
		t.Errorf("member list after remove:\n%s", out)
	}
	if _, err := keelctlErr(t, eps, "member", "remove", "zz"); err == nil {
		t.Error("member remove with a non-hex ID succeeded")
	}

	// A stopped member makes endpoint health fail and say which one.
	c.Stop(2)
	down := c.Members[2].Endpoint
	out, err := keelctlErr(t, eps, "--command-timeout", "1s", "endpoint", "health", "-w", "table")
	if err == nil || !strings.Contains(err.Error(), "1 of 3") {
		t.Errorf("endpoint health with a member down: err = %v", err)
	}
	if !strings.Contains(out, "| "+down+" | false  |") {
		t.Errorf("endpoint health table with %s down:\n%s", down, out)
	}
}

// waitClientURLs waits until n members have published their client URLs (members do so
// shortly after they start), which --cluster relies on.
func waitClientURLs(t *testing.T, cli *clientv3.Client, n int) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	var last string
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
		resp, err := cli.MemberList(ctx)
		cancel()
		published := 0
		if err == nil {
			for _, m := range resp.Members {
				if len(m.ClientURLs) > 0 {
					published++
				}
			}
			if published == n {
				return
			}
		}
		last = fmt.Sprintf("%d of %d members published client URLs (err %v)", published, n, err)
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal(last)
}

// TestKVCommands runs put, get, del and watch.
func TestKVCommands(t *testing.T) {
	c := testcluster.Start(t, 1)
	eps := "--endpoints=" + c.Endpoints()[0]
	cli := c.Client()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	start, err := cli.Get(ctx, "x")
	if err != nil {
		t.Fatal(err)
	}
	for _, kv := range [][2]string{{"a/1", "one"}, {"a/2", "two"}, {"b", "bee"}} {
		if out := keelctl(t, eps, "put", kv[0], kv[1]); out != "OK\n" {
			t.Fatalf("put: %q", out)
		}
	}
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"get", "a/1"}, "a/1\none\n"},
		{[]string{"get", "a/", "--prefix"}, "a/1\none\na/2\ntwo\n"},
		{[]string{"get", "a/", "--prefix", "--keys-only"}, "a/1\na/2\n"},
		{[]string{"get", "a/", "--prefix", "--limit", "1", "--consistency", "s"}, "a/1\none\n"},
		{[]string{"get", "a/1", "b"}, "a/1\none\na/2\ntwo\n"},
		{[]string{"get", "a/1", "--rev", fmt.Sprint(start.Header.Revision)}, ""},
		{[]string{"del", "a/", "--prefix"}, "2\n"},
		{[]string{"get", "a/", "--prefix"}, ""},
		{[]string{"watch", "a/", "--prefix", "--rev", fmt.Sprint(start.Header.Revision + 1), "--max-events", "4"},
			"PUT\na/1\none\nPUT\na/2\ntwo\nDELETE\na/1\n\nDELETE\na/2\n\n"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			if got := keelctl(t, append([]string{eps}, tt.args...)...); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
	var rr pb.RangeResponse
	if err := json.Unmarshal([]byte(keelctl(t, eps, "get", "b", "-w", "json")), &rr); err != nil {
		t.Fatal(err)
	}
	if len(rr.Kvs) != 1 || string(rr.Kvs[0].Value) != "bee" {
		t.Errorf("get -w json = %+v", rr.Kvs)
	}
	if out := keelctl(t, eps, "get", "b", "-w", "table"); !strings.Contains(out, "| b   | bee   |") {
		t.Errorf("get -w table:\n%s", out)
	}
	if _, err := keelctlErr(t, eps, "get", "a", "b", "--prefix"); err == nil {
		t.Error("get with both --prefix and END succeeded")
	}
	if _, err := keelctlErr(t, eps, "put", "only-key"); err == nil {
		t.Error("put without a value succeeded")
	}
}

// TestCheckPerf runs a short check perf, and one whose target rate cannot be met.
func TestCheckPerf(t *testing.T) {
	c := testcluster.Start(t, 3)
	eps := "--endpoints=" + strings.Join(c.Endpoints(), ",")
	out, err := keelctlErr(t, eps, "check", "perf", "--load", "s", "--duration", "2s", "-w", "json")
	var r perfResult
	if jerr := json.Unmarshal([]byte(strings.SplitN(out, "\n", 2)[0]), &r); jerr != nil {
		t.Fatalf("check perf output %q: %v", out, jerr)
	}
	if r.Writes == 0 || r.Throughput <= 0 || r.P99 <= 0 || r.P99 < r.P50 || r.Slowest < r.P99 || r.Target != 150 {
		t.Errorf("check perf result = %+v", r)
	}
	if r.Pass != (err == nil) || r.Pass != (len(r.Failures) == 0) {
		t.Errorf("verdict %v, failures %v, error %v disagree", r.Pass, r.Failures, err)
	}
	cli := c.Client()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if resp, err := cli.Get(ctx, "/keelctl-check-perf/", clientv3.WithPrefix(), clientv3.WithCountOnly()); err != nil || resp.Count != 0 {
		t.Errorf("test keys left behind: %v, %v", resp, err)
	}

	out, err = keelctlErr(t, eps, "check", "perf", "--rate", "1000000", "--duration", "1s")
	if err == nil || !strings.Contains(out, "FAIL: Throughput") || !strings.HasSuffix(out, "FAIL\n") {
		t.Errorf("check perf at an impossible rate: err = %v\n%s", err, out)
	}
}
