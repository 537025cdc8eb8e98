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

// TestBenchDaemonSet runs `orch bench --daemonset` at a tiny size: one daemon pod must be
// reported Running on each node, and the DaemonSet removed afterwards. Timings are not
// checked.
func TestBenchDaemonSet(t *testing.T) {
	c := testcluster.Start(t, 3)
	var out bytes.Buffer
	err := run(context.Background(), []string{"bench", "--endpoints", strings.Join(c.Endpoints(), ","),
		"--nodes", "4", "--replicas", "8", "--namespace", "bench-ds", "--node-prefix", "dsnode",
		"--timeout", "60s", "--daemonset", "--json"}, &out, io.Discard)
	if err != nil {
		t.Fatalf("orch bench --daemonset: %v\n%s", err, out.String())
	}
	var res benchResult
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatalf("decode %q: %v", out.String(), err)
	}
	if ds := res.DaemonSet; ds == nil || ds.Pods != 4 || ds.Running != 4 || ds.RunningSeconds <= 0 {
		t.Fatalf("daemonset result %+v: want 4 of 4 daemon pods Running", ds)
	}
	resp, err := c.Client().Get(context.Background(), "/registry/daemonsets/bench-ds/", clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil {
		t.Fatal(err)
	}
	if resp.Count != 0 {
		t.Errorf("%d daemonsets left", resp.Count)
	}
}
