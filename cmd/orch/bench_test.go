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

// TestBenchCommand runs `orch bench` at a tiny size against an in-process cluster: every
// pod must be reported created, bound and Running, and the run's objects and simulated
// nodes removed afterwards. Timings are not checked.
func TestBenchCommand(t *testing.T) {
	c := testcluster.Start(t, 3)
	var out bytes.Buffer
	err := run(context.Background(), []string{"bench", "--endpoints", strings.Join(c.Endpoints(), ","),
		"--nodes", "5", "--replicas", "20", "--namespace", "bench-test", "--node-prefix", "tiny",
		"--timeout", "60s", "--json"}, &out, io.Discard)
	if err != nil {
		t.Fatalf("orch bench: %v\n%s", err, out.String())
	}
	var res benchResult
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatalf("decode %q: %v", out.String(), err)
	}
	if res.Created != 20 || res.Scheduled != 20 || res.Running != 20 || res.Nodes != 5 || res.Namespace != "bench-test" {
		t.Fatalf("result %+v: want 20 pods created, scheduled and Running on 5 nodes in bench-test", res)
	}
	if res.RunningSeconds <= 0 || res.StoreRevisions <= 0 || res.StartupP99Ms < res.StartupP50Ms {
		t.Fatalf("result %+v: missing figures", res)
	}
	cli := c.Client()
	for _, prefix := range []string{"/registry/pods/bench-test/", "/registry/deployments/bench-test/",
		"/registry/replicasets/bench-test/", "/registry/nodes/tiny"} {
		resp, err := cli.Get(context.Background(), prefix, clientv3.WithPrefix(), clientv3.WithCountOnly())
		if err != nil {
			t.Fatal(err)
		}
		if resp.Count != 0 {
			t.Errorf("%d keys left under %s", resp.Count, prefix)
		}
	}

	// The table form names the figures.
	out.Reset()
	err = run(context.Background(), []string{"bench", "--endpoints", strings.Join(c.Endpoints(), ","),
		"--nodes", "1", "--replicas", "3", "--timeout", "60s"}, &out, io.Discard)
	if err != nil {
		t.Fatalf("orch bench: %v\n%s", err, out.String())
	}
	for _, want := range []string{"apply → all Running", "create → Running per pod", "store writes"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, out.String())
		}
	}
}
