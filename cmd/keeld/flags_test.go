package main

import (
	"flag"
	"io"
	"strings"
	"testing"
	"time"
)

func TestEtcdCommandLineIsAccepted(t *testing.T) {
	args := []string{"--name", "m1", "--data-dir", "/tmp/x", "--listen-client-urls", "http://127.0.0.1:2379",
		"--advertise-client-urls", "http://127.0.0.1:2379", "--listen-peer-urls", "http://127.0.0.1:2380",
		"--initial-advertise-peer-urls", "http://127.0.0.1:2380",
		"--initial-cluster", "m0=http://127.0.0.1:1380,m1=http://127.0.0.1:2380,m2=http://127.0.0.1:3380",
		"--initial-cluster-state", "new", "--initial-cluster-token", "tok", "--logger", "zap",
		"--auto-compaction-mode", "revision", "--auto-compaction-retention", "1000"}
	o, err := parseFlags(args, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	ms, err := parseInitialCluster(o.initialCluster)
	if err != nil || len(ms) != 3 || ms[1].name != "m1" || ms[1].peerURLs[0] != "http://127.0.0.1:2380" {
		t.Fatalf("initial cluster: %+v %v", ms, err)
	}
	if o.autoCompactionMode != "revision" || o.autoCompactionRetention != "1000" || o.initialClusterToken != "tok" {
		t.Fatalf("options: %+v", o)
	}
}

func TestBadFlagsAreRefused(t *testing.T) {
	for _, args := range [][]string{
		{"--initial-cluster-state", "maybe"},
		{"--listen-client-urls", "127.0.0.1:2379"},
		{"--heartbeat-interval", "500", "--election-timeout", "1000"},
		{"--no-such-flag"},
		{"--peer-dial-proxy", "127.0.0.1"},
	} {
		if _, err := parseFlags(args, io.Discard); err == nil {
			t.Errorf("%v: accepted", args)
		}
	}
	if _, err := parseInitialCluster("m0"); err == nil {
		t.Error("initial cluster without a URL accepted")
	}
}

func TestEnvironmentFillsUnsetFlags(t *testing.T) {
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	name := fs.String("name", "default", "")
	token := fs.String("initial-cluster-token", "x", "")
	state := fs.String("initial-cluster-state", "new", "")
	if err := fs.Parse([]string{"--name", "cli"}); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"ETCD_NAME": "env", "ETCD_INITIAL_CLUSTER_TOKEN": "etcd-env", "KEEL_INITIAL_CLUSTER_TOKEN": "keel-env",
		"ETCD_INITIAL_CLUSTER_STATE": "existing"}
	if err := applyEnv(fs, func(k string) (string, bool) { v, ok := env[k]; return v, ok }); err != nil {
		t.Fatal(err)
	}
	if *name != "cli" || *token != "keel-env" || *state != "existing" {
		t.Fatalf("name %q token %q state %q: the command line wins, then KEEL_, then ETCD_", *name, *token, *state)
	}
}

func TestSnapshotAndTestOnlyFlags(t *testing.T) {
	o, err := parseFlags(nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if o.unsafeLocalLinearizableReads || o.snapshotCatchupEntries != 10240 || o.snapshotCheckInterval != 30*time.Second {
		t.Fatalf("defaults: unsafe reads %v, catch-up entries %d, check interval %v", o.unsafeLocalLinearizableReads,
			o.snapshotCatchupEntries, o.snapshotCheckInterval)
	}
	o, err = parseFlags([]string{"--snapshot-count", "100", "--experimental-snapshot-catchup-entries", "50",
		"--snapshot-check-interval", "100ms", "--unsafe-local-linearizable-reads"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if !o.unsafeLocalLinearizableReads || o.snapshotCount != 100 || o.snapshotCatchupEntries != 50 || o.snapshotCheckInterval != 100*time.Millisecond {
		t.Fatalf("options: %+v", o)
	}
}

func TestPeerDialProxyFlag(t *testing.T) {
	o, err := parseFlags([]string{"--peer-dial-proxy", "127.0.0.1:4000"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if o.peerDialProxy != "127.0.0.1:4000" {
		t.Fatalf("--peer-dial-proxy: got %q, want 127.0.0.1:4000", o.peerDialProxy)
	}
}

func TestCorruptCheckFlags(t *testing.T) {
	tests := []struct {
		args        []string
		wantInitial bool
		wantEvery   time.Duration
	}{
		{nil, false, 0},
		{[]string{"--experimental-initial-corrupt-check"}, true, 0},
		{[]string{"--experimental-initial-corrupt-check=true", "--experimental-corrupt-check-time", "2m"}, true, 2 * time.Minute},
		{[]string{"--corrupt-check-time", "30s"}, false, 30 * time.Second},
	}
	for _, tt := range tests {
		o, err := parseFlags(tt.args, io.Discard)
		if err != nil {
			t.Fatalf("%v: %v", tt.args, err)
		}
		if o.initialCorruptCheck != tt.wantInitial || o.corruptCheckTime != tt.wantEvery {
			t.Errorf("%v: initial %v every %v, want %v and %v", tt.args, o.initialCorruptCheck, o.corruptCheckTime,
				tt.wantInitial, tt.wantEvery)
		}
	}
	if _, err := parseFlags([]string{"--experimental-corrupt-check-time", "-1s"}, io.Discard); err == nil {
		t.Error("a negative --experimental-corrupt-check-time was accepted")
	}
	for args, want := range map[string]time.Duration{
		"": 0,
		"--experimental-compact-hash-check-time=5s":                              0, // not enabled
		"--experimental-compact-hash-check-enabled":                              time.Minute,
		"--experimental-compact-hash-check-enabled --compact-hash-check-time=5s": 5 * time.Second,
	} {
		o, err := parseFlags(strings.Fields(args), io.Discard)
		if err != nil {
			t.Fatalf("%q: %v", args, err)
		}
		if got := o.compactHashCheckInterval(); got != want {
			t.Errorf("%q: compaction hash check every %v, want %v", args, got, want)
		}
	}
	if _, err := parseFlags([]string{"--experimental-compact-hash-check-enabled", "--experimental-compact-hash-check-time=0s"}, io.Discard); err == nil {
		t.Error("an enabled compaction hash check with no interval was accepted")
	}
}
