package main

import (
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
)

// tlsCluster is a 3-member command line with https client and peer URLs.
func tlsCluster(extra ...string) []string {
	args := []string{"--name", "m1", "--listen-client-urls", "https://127.0.0.1:2379",
		"--advertise-client-urls", "https://127.0.0.1:2379", "--listen-peer-urls", "https://127.0.0.1:2380",
		"--initial-advertise-peer-urls", "https://127.0.0.1:2380",
		"--initial-cluster", "m0=https://127.0.0.1:1380,m1=https://127.0.0.1:2380,m2=https://127.0.0.1:3380"}
	return append(args, extra...)
}

var tlsFiles = []string{"--cert-file", "s.crt", "--key-file", "s.key", "--trusted-ca-file", "ca.crt", "--client-cert-auth",
	"--peer-cert-file", "p.crt", "--peer-key-file", "p.key", "--peer-trusted-ca-file", "ca.crt", "--peer-client-cert-auth"}

func TestTLSCommandLineIsAccepted(t *testing.T) {
	o, err := parseFlags(tlsCluster(tlsFiles...), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	c, p := o.clientTLS, o.peerTLS
	if c.certFile != "s.crt" || c.keyFile != "s.key" || c.trustedCAFile != "ca.crt" || !c.clientCertAuth {
		t.Errorf("client TLS: %+v", c)
	}
	if p.certFile != "p.crt" || p.keyFile != "p.key" || p.trustedCAFile != "ca.crt" || !p.clientCertAuth {
		t.Errorf("peer TLS: %+v", p)
	}
	if !o.peerTLSEnabled() {
		t.Error("peer TLS not enabled for https peer URLs")
	}
}

func TestTLSFlagsFromEnvironment(t *testing.T) {
	t.Setenv("ETCD_CERT_FILE", "env.crt")
	t.Setenv("ETCD_KEY_FILE", "env.key")
	t.Setenv("KEEL_PEER_CERT_FILE", "penv.crt")
	t.Setenv("ETCD_PEER_KEY_FILE", "penv.key")
	t.Setenv("ETCD_PEER_CLIENT_CERT_AUTH", "true")
	t.Setenv("ETCD_PEER_TRUSTED_CA_FILE", "ca.crt")
	o, err := parseFlags(tlsCluster(), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if o.clientTLS.certFile != "env.crt" || o.clientTLS.keyFile != "env.key" || o.peerTLS.certFile != "penv.crt" ||
		o.peerTLS.keyFile != "penv.key" || !o.peerTLS.clientCertAuth || o.peerTLS.trustedCAFile != "ca.crt" {
		t.Fatalf("client %+v peer %+v", o.clientTLS, o.peerTLS)
	}
}

func TestBadTLSFlagsAreRefused(t *testing.T) {
	plainPeers := []string{"--listen-peer-urls", "http://127.0.0.1:2380", "--initial-advertise-peer-urls", "http://127.0.0.1:2380"}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"https client URL without a certificate",
			append([]string{"--listen-client-urls", "https://127.0.0.1:2379"}, plainPeers...), "--cert-file"},
		{"https peer URL without a certificate",
			tlsCluster("--cert-file", "s.crt", "--key-file", "s.key"), "--peer-cert-file"},
		{"cert without key", tlsCluster("--cert-file", "s.crt", "--peer-cert-file", "p.crt", "--peer-key-file", "p.key"),
			"--cert-file and --key-file must be given together"},
		{"client cert auth without a CA",
			tlsCluster("--cert-file", "s.crt", "--key-file", "s.key", "--client-cert-auth", "--peer-cert-file", "p.crt",
				"--peer-key-file", "p.key"), "--client-cert-auth requires --trusted-ca-file"},
		{"peer client cert auth without a CA",
			tlsCluster("--cert-file", "s.crt", "--key-file", "s.key", "--peer-cert-file", "p.crt", "--peer-key-file", "p.key",
				"--peer-client-cert-auth"), "--peer-client-cert-auth requires --peer-trusted-ca-file"},
		{"auto TLS", tlsCluster(append([]string{"--auto-tls"}, tlsFiles...)...), "--auto-tls is not supported"},
		{"peer auto TLS", tlsCluster(append([]string{"--peer-auto-tls"}, tlsFiles...)...), "--peer-auto-tls is not supported"},
		{"mixed peer schemes", append(tlsFiles, "--listen-peer-urls", "https://127.0.0.1:2380",
			"--initial-advertise-peer-urls", "https://127.0.0.1:2380",
			"--initial-cluster", "m0=http://127.0.0.1:1380,default=https://127.0.0.1:2380"), "must all use one scheme"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseFlags(tc.args, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got error %v, want one mentioning %q", err, tc.want)
			}
		})
	}
}

func TestTLSFilesAreLoadedAtStart(t *testing.T) {
	o, err := parseFlags(tlsCluster(tlsFiles...), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	o.clientTLS.certFile, o.clientTLS.keyFile = filepath.Join(dir, "missing.crt"), filepath.Join(dir, "missing.key")
	if _, err := loadTLS(o, slog.New(slog.DiscardHandler)); err == nil || !strings.Contains(err.Error(), "client TLS") {
		t.Fatalf("missing client certificate: got %v", err)
	}
	// The process refuses to start rather than serve without the certificate.
	err = run(append(tlsCluster(tlsFiles...), "--data-dir", dir), io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "TLS") {
		t.Fatalf("run with missing certificate files: got %v", err)
	}
}
