package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"strings"
	"testing"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/keeldb/keel/internal/testcluster"
)

// TestBenchJobs runs `orch bench --jobs` at a tiny size: every Job must Complete with all
// its pods Succeeded, and the Jobs be removed afterwards. Timings are not checked.
func TestBenchJobs(t *testing.T) {
	c := testcluster.Start(t, 1)
	var out bytes.Buffer
	err := run(context.Background(), []string{"bench", "--endpoints", strings.Join(c.Endpoints(), ","),
		"--nodes", "3", "--replicas", "3", "--jobs", "4", "--job-completions", "3", "--namespace", "bench-jobs",
		"--node-prefix", "tinyjobs", "--timeout", "60s", "--json"}, &out, io.Discard)
	if err != nil {
		t.Fatalf("orch bench: %v\n%s", err, out.String())
	}
	var res benchResult
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatalf("decode %q: %v", out.String(), err)
	}
	if j := res.Jobs; j == nil || j.Complete != 4 || j.PodsSucceeded != 12 || j.CompleteSeconds <= 0 {
		t.Fatalf("result %+v: want 4 Jobs Complete with 12 pods Succeeded", res.Jobs)
	}
	resp, err := c.Client().Get(context.Background(), "/registry/jobs/bench-jobs/", clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil {
		t.Fatal(err)
	}
	if resp.Count != 0 {
		t.Errorf("%d Jobs left", resp.Count)
	}
}
