package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/keeldb/keel/internal/testcluster"
)

func TestMain(m *testing.M) {
	// hashicorp/raft's NetworkTransport does not wait for its connection handlers on Close;
	// they end when the peer's side of the connection closes, which may be a moment later.
	goleak.VerifyTestMain(m, goleak.IgnoreAnyFunction("github.com/hashicorp/raft.(*NetworkTransport).handleConn"),
		// raftstore.Node.wait detaches from a raft future that raft never answers once it has
		// shut down (one still queued for its leader loop); that goroutine is left behind.
		goleak.IgnoreAnyFunction("github.com/keeldb/keel/raftstore.(*Node).wait.func1"))
}

func TestParseKeepsPutFlags(t *testing.T) {
	o, err := parse(strings.Fields("put --endpoints a:1,b:2 --clients 64 --conns 8 --total 20000"), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	c := o.cfg
	if o.workload != "put" || strings.Join(c.Endpoints, ",") != "a:1,b:2" || c.Clients != 64 || c.Conns != 8 ||
		c.Total != 20000 || c.Duration != 0 || o.params.KeySpace != 10000 || o.params.ValSize != 256 {
		t.Fatalf("parsed %+v / %+v", o.cfg, o.params)
	}
}

func TestParse(t *testing.T) {
	cases := []struct {
		args    string
		wantErr error
		check   func(*options) bool
	}{
		{args: "range --duration 2s --consistency s --prefix --limit 5", check: func(o *options) bool {
			return o.cfg.Total == 0 && o.cfg.Duration == 2*time.Second && o.params.Consistency == "s" &&
				o.params.RangePrefix && o.params.Limit == 5
		}},
		{args: "put --duration 2s --total 10", check: func(o *options) bool { return o.cfg.Total == 10 }},
		{args: "watch --compare --compare-endpoints x:1 --names keel,etcd --rounds 3", check: func(o *options) bool {
			return o.compare && o.rounds == 3 && o.names == "keel,etcd"
		}},
		{args: "compaction --keys 10 --versions 2 --window 1s", check: func(o *options) bool {
			return o.cfg.Clients == 8 && o.params.Keys == 10 && o.params.Versions == 2 && o.params.Window == time.Second
		}},
		{args: "lease-expiry --clients 4 --leases 30 --ttl 2 --pprof-dir /tmp/p --pprof-seconds 3", check: func(o *options) bool {
			return o.cfg.Clients == 4 && o.params.Leases == 30 && o.params.LeaseTTL == 2 && o.cfg.PprofDir == "/tmp/p" &&
				o.cfg.PprofSeconds == 3
		}},
		{args: "lease --lease-ttl 7", check: func(o *options) bool { return o.params.LeaseTTL == 7 && o.cfg.Clients == 64 }},
		{args: "", wantErr: errUsage},
		{args: "--total 3", wantErr: errUsage},
		{args: "put -h", wantErr: flag.ErrHelp},
		{args: "put --compare"},
		{args: "put extra"},
	}
	for _, tc := range cases {
		t.Run(tc.args, func(t *testing.T) {
			o, err := parse(strings.Fields(tc.args), io.Discard)
			switch {
			case tc.check != nil:
				if err != nil || !tc.check(o) {
					t.Fatalf("got %+v, %v", o, err)
				}
			case tc.wantErr != nil:
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("got error %v, want %v", err, tc.wantErr)
				}
			case err == nil:
				t.Fatal("got no error, want one")
			}
		})
	}
}

func TestRunUnknownWorkload(t *testing.T) {
	err := run(context.Background(), []string{"nope"}, io.Discard, io.Discard, false)
	if err == nil || !strings.Contains(err.Error(), "unknown workload") {
		t.Fatalf("got %v, want unknown workload", err)
	}
}

func TestRunAgainstCluster(t *testing.T) {
	c := testcluster.Start(t, 3)
	eps := strings.Join(c.Endpoints(), ",")
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	dir := t.TempDir()

	t.Run("put outputs", func(t *testing.T) {
		jsonPath, csvPath, plotPath := filepath.Join(dir, "r.json"), filepath.Join(dir, "r.csv"), filepath.Join(dir, "r.svg")
		var out bytes.Buffer
		args := []string{"put", "--endpoints", eps, "--clients", "4", "--conns", "2", "--total", "50",
			"--json", jsonPath, "--csv", csvPath, "--plot", plotPath}
		if err := run(ctx, args, &out, io.Discard, true); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(out.String(), "workload=put") || !strings.Contains(out.String(), "latency histogram (A, put)") {
			t.Fatalf("stdout:\n%s", out.String())
		}
		var reports []map[string]any
		if data, err := os.ReadFile(jsonPath); err != nil || json.Unmarshal(data, &reports) != nil || len(reports) != 1 ||
			reports[0]["units"] != float64(50) {
			t.Fatalf("json %v (%v)", reports, err)
		}
		f, err := os.Open(csvPath)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		// name, round, workload, op, …
		recs, err := csv.NewReader(f).ReadAll()
		if err != nil || len(recs) != 2 || recs[1][1] != "0" || recs[1][2] != "put" || recs[1][3] != "put" {
			t.Fatalf("csv %v (%v)", recs, err)
		}
		if data, err := os.ReadFile(plotPath); err != nil || !bytes.Contains(data, []byte("<svg")) {
			t.Fatalf("plot: %v", err)
		}
	})

	t.Run("compare json on stdout", func(t *testing.T) {
		var out, errOut bytes.Buffer
		args := []string{"k8s", "--endpoints", eps, "--compare", "--compare-endpoints", c.Endpoints()[0],
			"--names", "all,one", "--rounds", "2", "--clients", "2", "--total", "20", "--key-space", "30", "--json", "-"}
		if err := run(ctx, args, &out, &errOut, false); err != nil {
			t.Fatal(err)
		}
		var got struct {
			Names   []string `json:"names"`
			Reports []struct {
				Name  string `json:"name"`
				Round int    `json:"round"`
			} `json:"reports"`
			Ratios []struct {
				Op        string  `json:"op"`
				MedianQPS float64 `json:"median_qps_ratio"`
			} `json:"ratios"`
		}
		if err := json.Unmarshal(out.Bytes(), &got); err != nil || len(got.Reports) != 4 || got.Reports[2].Name != "all" ||
			got.Reports[3].Name != "one" || got.Reports[3].Round != 2 || len(got.Ratios) < 2 || got.Ratios[0].Op != "*" ||
			got.Ratios[0].MedianQPS <= 0 {
			t.Fatalf("json %+v (%v):\n%s", got, err, out.String())
		}
		if !strings.Contains(errOut.String(), "compare k8s: A=all B=one, 2 rounds") {
			t.Fatalf("stderr:\n%s", errOut.String())
		}
	})
}
