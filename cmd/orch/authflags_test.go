package main

import (
	"io"
	"strings"
	"testing"
)

// TestConnFlags parses etcdctl's auth and TLS flags as orch takes them: before "ctl", before
// the verb and after it, --user name:password or --user name --password pw.
func TestConnFlags(t *testing.T) {
	for _, v := range []string{"USER", "PASSWORD", "CACERT", "CERT", "KEY", "INSECURE_SKIP_TLS_VERIFY"} {
		t.Setenv("ETCDCTL_"+v, "")
	}
	for _, tc := range []struct {
		args []string
		want string // "user|password|cacert|cert|key|skip" or "error: ..."
	}{
		{[]string{"ctl", "get", "pods"}, "|||||false"},
		{[]string{"ctl", "get", "pods", "--user", "alice:pw"}, "alice|pw||||false"},
		{[]string{"ctl", "get", "pods", "--user=alice:p:w"}, "alice|p:w||||false"},
		{[]string{"ctl", "--user", "alice", "--password", "a:b", "get", "pods"}, "alice|a:b||||false"},
		{[]string{"--user", "alice:pw", "ctl", "get", "pods"}, "alice|pw||||false"},
		{[]string{"--user", "root:x", "--cacert", "ca.pem", "--cert=c.pem", "--key", "k.pem", "scheduler"}, "root|x|ca.pem|c.pem|k.pem|false"},
		{[]string{"ctl", "--insecure-skip-tls-verify", "get", "pods"}, "|||||true"},
		{[]string{"--insecure-skip-tls-verify", "agent", "--node", "n"}, "|||||true"},
		{[]string{"ctl", "get", "pods", "--user", "alice"}, "error: --user \"alice\" has no password: give --user name:password or --password"},
		{[]string{"ctl", "get", "pods", "--password", "pw"}, "error: --password given without --user"},
	} {
		cmd, rest, err := hoistCommand(tc.args)
		if err != nil {
			t.Fatalf("hoistCommand(%q): %v", tc.args, err)
		}
		if cmd == "ctl" {
			cmd, rest, err = hoistCommand(rest)
			if err != nil {
				t.Fatalf("hoistCommand(%q) after ctl: %v", rest, err)
			}
		}
		var g globals
		fs := newFlagSet("orch "+cmd, io.Discard, &g)
		fs.String("node", "", "")
		if _, err := parseArgs(fs, rest); err != nil {
			t.Fatalf("parse %q: %v", tc.args, err)
		}
		user, password, err := g.conn.credentials()
		got := strings.Join([]string{user, password, g.conn.caCert, g.conn.cert, g.conn.key, boolString(g.conn.insecureSkipVerify)}, "|")
		if err != nil {
			got = "error: " + err.Error()
		}
		if got != tc.want {
			t.Errorf("orch %s: got %q, want %q", strings.Join(tc.args, " "), got, tc.want)
		}
	}
}

func boolString(b bool) string {
	if b {
		return "true"
	}
	return "false"
}

// TestConnFlagsTLS checks when orch speaks TLS and what it refuses.
func TestConnFlagsTLS(t *testing.T) {
	for _, tc := range []struct {
		name      string
		c         connFlags
		endpoints []string
		want      string // "plain", "tls", "tls-skip" or an error's text
	}{
		{"no flags", connFlags{}, []string{"127.0.0.1:2379"}, "plain"},
		{"https endpoint", connFlags{}, []string{"127.0.0.1:2379", "https://127.0.0.1:2380"}, "tls"},
		{"skip verify", connFlags{insecureSkipVerify: true}, []string{"127.0.0.1:2379"}, "tls-skip"},
		{"cert without key", connFlags{cert: "c.pem"}, nil, "--cert and --key go together"},
		{"missing CA", connFlags{caCert: "/nonexistent/ca.pem"}, nil, "--cacert: open /nonexistent/ca.pem: no such file or directory"},
		{"missing pair", connFlags{cert: "/nonexistent/c.pem", key: "/nonexistent/k.pem"}, nil,
			"client certificate: open /nonexistent/c.pem: no such file or directory"},
	} {
		cfg, err := tc.c.tlsConfig(tc.endpoints)
		got := "plain"
		switch {
		case err != nil:
			got = err.Error()
		case cfg != nil && cfg.InsecureSkipVerify:
			got = "tls-skip"
		case cfg != nil:
			got = "tls"
		}
		if got != tc.want {
			t.Errorf("%s: got %q, want %q", tc.name, got, tc.want)
		}
	}
}
