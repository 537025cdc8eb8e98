package compat_test

import (
	"strings"
	"testing"
)

// etcdctlAuthSuite drives etcdctl's user, role and auth commands (TestEtcdctl's
// "user-role-auth"): it enables auth on the suite's cluster and disables it again, so it runs
// last. The outputs are etcdctl 3.4's against etcd 3.4; the etcd run proves them.
func etcdctlAuthSuite(t *testing.T, x ctl) {
	const root, bob = "--user=root:rootpw", "--user=bob:bobpw"
	for _, c := range []struct {
		stdin string
		args  []string
		ok    bool
		want  string // stdout when ok, else the stderr line
	}{
		{"", []string{"user", "add", "root", "--new-user-password=rootpw"}, true, "User root created\n"},
		{"bobpw\n", []string{"user", "add", "bob", "--interactive=false"}, true, "User bob created\n"},
		{"", []string{"user", "grant-role", "root", "root"}, true, "Role root is granted to user root\n"},
		{"", []string{"role", "add", "kv"}, true, "Role kv created\n"},
		{"", []string{"role", "grant-permission", "kv", "--prefix=true", "readwrite", "/kv/"}, true, "Role kv updated\n"},
		{"", []string{"role", "grant-permission", "kv", "read", "/r1", "/r9"}, true, "Role kv updated\n"},
		{"", []string{"role", "grant-permission", "kv", "write", "/single"}, true, "Role kv updated\n"},
		{"", []string{"role", "grant-permission", "kv", "write", "/x", "--from-key"}, true, "Role kv updated\n"},
		{"", []string{"role", "get", "kv"}, true,
			"Role kv\nKV Read:\n\t[/kv/, /kv0) (prefix /kv/)\n\t[/r1, /r9)\nKV Write:\n\t[/kv/, /kv0) (prefix /kv/)\n\t/single\n\t[/x, <open ended>\n"},
		{"", []string{"user", "grant-role", "bob", "kv"}, true, "Role kv is granted to user bob\n"},
		{"", []string{"user", "get", "bob"}, true, "User: bob\nRoles: kv\n"},
		{"", []string{"user", "list"}, true, "bob\nroot\n"},
		{"", []string{"role", "list"}, true, "kv\n"},
		{"", []string{"auth", "enable"}, true, "Authentication Enabled\n"},
		{"", []string{"put", "/kv/a", "1", bob}, true, "OK\n"},
		{"", []string{"get", "/kv/a", "--user=bob", "--password=bobpw"}, true, "/kv/a\n1\n"},
		{"", []string{"get", "/kv/a"}, false, "Error: etcdserver: user name is empty"},
		{"", []string{"put", "/other", "x", bob}, false, "Error: etcdserver: permission denied"},
		{"", []string{"get", "/r5", bob}, true, ""},
		{"", []string{"put", "/r5", "x", bob}, false, "Error: etcdserver: permission denied"},
		{"", []string{"put", "/single", "v", bob}, true, "OK\n"},
		{"", []string{"user", "list", bob}, false, "Error: etcdserver: permission denied"},
		{"", []string{"user", "get", "bob", bob}, true, "User: bob\nRoles: kv\n"},
		{"", []string{"user", "list", root}, true, "bob\nroot\n"},
		{"newpw\n", []string{"user", "passwd", "bob", "--interactive=false", root}, true, "Password updated\n"},
		{"", []string{"get", "/kv/a", bob}, false, "Error: etcdserver: authentication failed, invalid user ID or password"},
		{"", []string{"get", "/kv/a", "--user=bob:newpw"}, true, "/kv/a\n1\n"},
		{"", []string{"role", "revoke-permission", "kv", "/single", root}, true, "Permission of key /single is revoked from role kv\n"},
		{"", []string{"role", "revoke-permission", "kv", "/kv/", "--prefix=true", root}, true, "Permission of range [/kv/, /kv0) is revoked from role kv\n"},
		{"", []string{"get", "/kv/a", "--user=bob:newpw"}, false, "Error: etcdserver: permission denied"},
		{"", []string{"user", "revoke-role", "bob", "kv", root}, true, "Role kv is revoked from user bob\n"},
		{"", []string{"role", "delete", "kv", root}, true, "Role kv deleted\n"},
		{"", []string{"user", "delete", "bob", root}, true, "User bob deleted\n"},
		{"", []string{"user", "delete", "root", root}, false, "Error: etcdserver: invalid auth management"},
		{"", []string{"auth", "disable", root}, true, "Authentication Disabled\n"},
		{"", []string{"user", "delete", "root"}, true, "User root deleted\n"},
		{"", []string{"get", "/kv/a"}, true, "/kv/a\n1\n"},
	} {
		out, errOut, ok := x.run(c.stdin, c.args...)
		got := out
		if !ok {
			got = strings.TrimSpace(lastLine(errOut))
		}
		if ok != c.ok || got != c.want {
			t.Errorf("etcdctl %s: ok=%v %q, want ok=%v %q (stderr %q)", strings.Join(c.args, " "), ok, got, c.ok, c.want, errOut)
		}
	}
}

// lastLine is the last non-empty line of s: etcdctl's error after any client log lines.
func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}
