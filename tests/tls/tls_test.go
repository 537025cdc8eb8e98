// Package tls_test runs a 3-member keeld cluster with TLS on client and peer URLs (etcd's
// --cert-file/--key-file/--trusted-ca-file/--client-cert-auth and the --peer-* twins, with
// certificates made by the test) and checks who may talk to it and what travels on the wire.
package tls_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/keeldb/keel/internal/proccluster"
)

func TestMain(m *testing.M) {
	code := m.Run()
	proccluster.RemoveBuilds()
	os.Exit(code)
}

// opTimeout bounds one request, so a refused or hung connection cannot stall the test.
const opTimeout = 5 * time.Second

// refusedTimeout bounds a request that is expected to fail because the TLS session is refused
// (clientv3 retries the connection until the request's deadline).
const refusedTimeout = 2 * time.Second

// proxied is the member whose advertised peer URL is a recording proxy in front of its peer port.
const proxied = 2

// http2Probe is what a Peer gRPC client sends first: Keel's 'G' preamble, the HTTP/2 client
// preface and an empty SETTINGS frame. A plain-text peer port answers it with its own SETTINGS.
var http2Probe = append([]byte("GPRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), 0, 0, 0, 4, 0, 0, 0, 0, 0)

type fixture struct {
	c          *proccluster.Cluster
	ca         *testCA
	otherCA    *testCA
	clientCert string // signed by ca, client authentication only
	clientKey  string
	rogueCert  string // signed by otherCA
	rogueKey   string
	memberCert string // signed by ca, what members serve and present to each other
	memberKey  string
	proxy      *tapProxy
}

func startCluster(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{ca: newCA(t, "keel-test-ca"), otherCA: newCA(t, "other-ca")}
	f.memberCert, f.memberKey = f.ca.issue(t, "member", x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth)
	f.clientCert, f.clientKey = f.ca.issue(t, "client", x509.ExtKeyUsageClientAuth)
	f.rogueCert, f.rogueKey = f.otherCA.issue(t, "rogue", x509.ExtKeyUsageClientAuth)
	f.c = proccluster.Start(t, proccluster.Config{
		Binary: proccluster.BuildKeeld(t),
		TLS:    &proccluster.TLSFiles{CAFile: f.ca.File, CertFile: f.memberCert, KeyFile: f.memberKey},
		AdvertisePeerURL: func(i int, listen string) string {
			if i != proxied {
				return listen
			}
			u, err := url.Parse(listen)
			if err != nil {
				t.Errorf("peer URL %q: %v", listen, err)
				return listen
			}
			f.proxy = startTapProxy(t, u.Host)
			return "https://" + f.proxy.addr()
		},
	})
	return f
}

// client returns a clientv3 client over the given endpoints with tlsCfg; it is closed at cleanup.
func client(t *testing.T, tlsCfg *tls.Config, endpoints ...string) *clientv3.Client {
	t.Helper()
	cli, err := clientv3.New(clientv3.Config{Endpoints: endpoints, DialTimeout: opTimeout, TLS: tlsCfg, Logger: zap.NewNop()})
	if err != nil {
		t.Fatalf("clientv3.New(%v): %v", endpoints, err)
	}
	t.Cleanup(func() { _ = cli.Close() })
	return cli
}

func opCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), opTimeout)
	t.Cleanup(cancel)
	return ctx
}

func hostOf(t *testing.T, rawURL string) string {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	return u.Host
}

// followers returns the indexes of the members that are not the leader.
func (f *fixture) followers(t *testing.T) []int {
	t.Helper()
	leader, err := f.c.WaitLeader(opCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	var out []int
	for i := range f.c.Size() {
		if i != leader {
			out = append(out, i)
		}
	}
	return out
}

func TestTLSCluster(t *testing.T) {
	f := startCluster(t)
	good := clientTLS(t, f.ca.pool(), f.clientCert, f.clientKey)

	t.Run("ClientCertificateWorksThroughFollowers", func(t *testing.T) {
		fs := f.followers(t)
		w := client(t, good.Clone(), f.c.Endpoint(fs[0]))
		r := client(t, good.Clone(), f.c.Endpoint(fs[1]))
		for i := range 5 {
			val := "v" + string(rune('0'+i))
			put, err := w.Put(opCtx(t), "tls/key", val)
			if err != nil {
				t.Fatalf("put through follower m%d: %v", fs[0], err)
			}
			// A linearizable read on a follower asks the leader for a read index over the
			// peer gRPC connection, which runs over TLS.
			get, err := r.Get(opCtx(t), "tls/key")
			if err != nil {
				t.Fatalf("linearizable get through follower m%d: %v", fs[1], err)
			}
			if len(get.Kvs) != 1 || string(get.Kvs[0].Value) != val || get.Header.Revision < put.Header.Revision {
				t.Fatalf("get after put %q (revision %d): got %v at revision %d", val, put.Header.Revision, get.Kvs, get.Header.Revision)
			}
		}
	})

	t.Run("MemberListShowsHTTPS", func(t *testing.T) {
		cli := client(t, good.Clone(), f.c.Endpoint(0))
		// Until a member has published its attributes, its peer URL comes from the raft
		// configuration; either way every URL must be https. Poll until all have published.
		eventually(t, 10*time.Second, func() error {
			resp, err := cli.MemberList(opCtx(t))
			if err != nil {
				return err
			}
			if len(resp.Members) != f.c.Size() {
				t.Fatalf("got %d members, want %d", len(resp.Members), f.c.Size())
			}
			var unpublished []string
			for _, m := range resp.Members {
				for _, u := range append(append([]string(nil), m.PeerURLs...), m.ClientURLs...) {
					if !strings.HasPrefix(u, "https://") {
						t.Fatalf("member %x (%q): URL %q is not https", m.ID, m.Name, u)
					}
				}
				if len(m.PeerURLs) == 0 {
					t.Fatalf("member %x (%q) has no peer URL", m.ID, m.Name)
				}
				if m.Name == "" || len(m.ClientURLs) == 0 {
					unpublished = append(unpublished, fmt.Sprintf("%x", m.ID))
				}
			}
			if len(unpublished) > 0 {
				return fmt.Errorf("members %v have not published their client URLs", unpublished)
			}
			return nil
		})
	})

	t.Run("HTTPEndpointsOverTLS", func(t *testing.T) {
		for _, h2 := range []bool{false, true} {
			// A client offering h2 and http/1.1 in ALPN (curl, browsers) is served HTTP/1.1.
			tr := &http.Transport{TLSClientConfig: good.Clone(), ForceAttemptHTTP2: h2}
			hc := &http.Client{Transport: tr, Timeout: opTimeout}
			for _, path := range []string{"/health", "/metrics"} {
				resp, err := hc.Get(f.c.Endpoint(0) + path)
				if err != nil {
					t.Fatalf("GET %s (offer h2 %v): %v", path, h2, err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				_ = resp.Body.Close()
				if resp.StatusCode != http.StatusOK || resp.Proto != "HTTP/1.1" {
					t.Errorf("GET %s (offer h2 %v): %s %s, want 200 over HTTP/1.1", path, h2, resp.Proto, resp.Status)
				}
			}
			tr.CloseIdleConnections()
		}
	})

	refused := []struct {
		name string
		cfg  *tls.Config
	}{
		{"ClientWithoutCertificateIsRefused", clientTLS(t, f.ca.pool(), "", "")},
		{"ClientCertificateFromAnotherCAIsRefused", alwaysPresent(clientTLS(t, f.ca.pool(), f.rogueCert, f.rogueKey))},
		{"ClientNotTrustingTheCARefusesTheServer", clientTLS(t, f.otherCA.pool(), f.clientCert, f.clientKey)},
	}
	for _, tc := range refused {
		t.Run(tc.name, func(t *testing.T) {
			// The raw session fails at the handshake or, with TLS 1.3 where the server checks
			// the client certificate after the client's side is done, at the first read.
			err := tlsExchange(f.c.Endpoint(0), tc.cfg, []byte("GET /health HTTP/1.1\r\nHost: x\r\n\r\n"))
			if err == nil {
				t.Fatal("the TLS session was accepted and answered")
			}
			t.Logf("raw TLS session: %v", err)
			cli := client(t, tc.cfg, f.c.Endpoint(0))
			ctx, cancel := context.WithTimeout(t.Context(), refusedTimeout)
			defer cancel()
			if _, err := cli.Put(ctx, "tls/refused", "x"); err == nil {
				t.Fatal("put succeeded")
			}
		})
	}

	t.Run("PeerPortRequiresTLS", func(t *testing.T) {
		peer := hostOf(t, f.c.PeerURL(0))
		// Plain text: the preamble and HTTP/2 preface get no answer, the connection is closed.
		c, err := net.DialTimeout("tcp", peer, opTimeout)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := c.Write(http2Probe); err != nil {
			t.Fatal(err)
		}
		_ = c.SetReadDeadline(time.Now().Add(opTimeout))
		got, err := io.ReadAll(c)
		// The server may reset rather than close the connection if probe bytes are left unread.
		if len(got) > 0 || (err != nil && !errors.Is(err, syscall.ECONNRESET)) {
			t.Fatalf("plain-text peer probe: read % x, %v; want nothing, then EOF", got, err)
		}
		// Over TLS with a member certificate the same bytes reach the Peer gRPC server, which
		// answers with its SETTINGS frame (type 4).
		member := clientTLS(t, f.ca.pool(), f.memberCert, f.memberKey)
		if err := tlsExchange(peer, member, http2Probe); err != nil {
			t.Fatalf("TLS peer probe with a member certificate: %v", err)
		}
		// --peer-client-cert-auth: without a certificate the session is refused.
		if err := tlsExchange(peer, clientTLS(t, f.ca.pool(), "", ""), http2Probe); err == nil {
			t.Fatal("TLS peer probe without a certificate was answered")
		}
	})

	t.Run("PeerTrafficIsEncrypted", func(t *testing.T) {
		if f.proxy == nil {
			t.Fatal("no proxy in front of the peer port")
		}
		before := totalBytes(f.proxy.captured())
		buf := make([]byte, 24)
		_, _ = rand.Read(buf)
		canary := "plaintext-canary-" + hex.EncodeToString(buf)
		// Written through member 0 or 1: if the proxied member leads, the follower forwards the
		// write to it; otherwise the leader replicates the entry to it. Either way the value
		// crosses the proxy.
		w := client(t, good.Clone(), f.c.Endpoint(0), f.c.Endpoint(1))
		if _, err := w.Put(opCtx(t), "tls/canary", canary); err != nil {
			t.Fatal(err)
		}
		r := client(t, good.Clone(), f.c.Endpoint(proxied))
		eventually(t, 10*time.Second, func() error {
			get, err := r.Get(opCtx(t), "tls/canary", clientv3.WithSerializable())
			if err != nil {
				return err
			}
			if len(get.Kvs) != 1 || string(get.Kvs[0].Value) != canary {
				return fmt.Errorf("m%d serves %v", proxied, get.Kvs)
			}
			return nil
		})
		streams := f.proxy.captured()
		if after := totalBytes(streams); after <= before {
			t.Fatalf("%v: %d bytes before the write, %d after", errNoTraffic, before, after)
		}
		for i, s := range streams {
			if bytes.Contains(s, []byte(canary)) {
				t.Fatalf("stream %d carries the value in plain text", i)
			}
			if err := checkTLSRecords(s); err != nil {
				t.Fatalf("stream %d (%d bytes) is not TLS: %v", i, len(s), err)
			}
		}
		t.Logf("%d proxied streams, %d bytes, all TLS records, no plaintext value", len(streams), totalBytes(streams))
	})

	t.Run("Etcdctl", func(t *testing.T) {
		etcdctl := proccluster.EtcdctlBinary(t)
		eps := strings.Join(f.c.Endpoints(), ",")
		run := func(withCert bool, args ...string) (string, error) {
			base := []string{"--endpoints", eps, "--cacert", f.ca.File, "--dial-timeout", "2s", "--command-timeout", "5s"}
			if withCert {
				base = append(base, "--cert", f.clientCert, "--key", f.clientKey)
			}
			ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, etcdctl, append(base, args...)...)
			cmd.Env = append(os.Environ(), "ETCDCTL_API=3")
			out, err := cmd.CombinedOutput()
			return string(out), err
		}
		if out, err := run(true, "put", "tls/etcdctl", "hello"); err != nil || !strings.Contains(out, "OK") {
			t.Fatalf("etcdctl put: %v\n%s", err, out)
		}
		if out, err := run(true, "get", "tls/etcdctl", "--print-value-only"); err != nil || strings.TrimSpace(out) != "hello" {
			t.Fatalf("etcdctl get: %v\n%s", err, out)
		}
		out, err := run(true, "endpoint", "health")
		if err != nil || strings.Count(out, "is healthy") != f.c.Size() {
			t.Fatalf("etcdctl endpoint health: %v\n%s", err, out)
		}
		if out, err := run(false, "get", "tls/etcdctl", "--command-timeout", "2s"); err == nil {
			t.Fatalf("etcdctl without a client certificate succeeded:\n%s", out)
		}
	})

	// Last, as it grows the cluster: a member joins (--initial-cluster-state existing) and
	// catches up over the TLS peer port.
	t.Run("MemberJoinsOverTLS", func(t *testing.T) {
		cli := client(t, good.Clone(), f.c.Endpoint(0), f.c.Endpoint(1), f.c.Endpoint(2))
		if _, err := cli.Put(opCtx(t), "tls/before-join", "yes"); err != nil {
			t.Fatal(err)
		}
		i := f.c.AddSlot()
		added, err := cli.MemberAdd(opCtx(t), []string{f.c.AdvertisedPeerURL(i)})
		if err != nil {
			t.Fatal(err)
		}
		// Not started yet: MemberList shows the peer URL it was added with, https.
		list, err := cli.MemberList(opCtx(t))
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range list.Members {
			if m.ID == added.Member.ID && (len(m.PeerURLs) != 1 || m.PeerURLs[0] != f.c.AdvertisedPeerURL(i)) {
				t.Fatalf("unstarted member's peer URLs %v, want [%s]", m.PeerURLs, f.c.AdvertisedPeerURL(i))
			}
		}
		f.c.Restart(i)
		joined := client(t, good.Clone(), f.c.Endpoint(i))
		eventually(t, 30*time.Second, func() error {
			get, err := joined.Get(opCtx(t), "tls/before-join", clientv3.WithSerializable())
			if err != nil {
				return err
			}
			if len(get.Kvs) != 1 || string(get.Kvs[0].Value) != "yes" {
				return fmt.Errorf("joined member serves %v", get.Kvs)
			}
			return nil
		})
	})
}

// TestEtcdTakesTheSameTLSFlags runs etcd itself with the flags proccluster gives keeld, so the
// TLS command line above is etcd's.
func TestEtcdTakesTheSameTLSFlags(t *testing.T) {
	ca := newCA(t, "etcd-ca")
	cert, key := ca.issue(t, "member", x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth)
	c := proccluster.Start(t, proccluster.Config{Binary: proccluster.EtcdBinary(t), Members: 1,
		TLS: &proccluster.TLSFiles{CAFile: ca.File, CertFile: cert, KeyFile: key}})
	cli := c.Client(t)
	if _, err := cli.Put(opCtx(t), "tls/etcd", "v"); err != nil {
		t.Fatalf("put to etcd over TLS: %v", err)
	}
	anonymous := client(t, clientTLS(t, ca.pool(), "", ""), c.Endpoint(0))
	ctx, cancel := context.WithTimeout(t.Context(), refusedTimeout)
	defer cancel()
	if _, err := anonymous.Put(ctx, "tls/etcd", "x"); err == nil {
		t.Fatal("etcd accepted a client without a certificate")
	}
}

// alwaysPresent makes cfg send its certificate even when the server's certificate request
// names other CAs (Go's client would otherwise send none), so the server must verify it.
func alwaysPresent(cfg *tls.Config) *tls.Config {
	cert := cfg.Certificates[0]
	cfg.Certificates = nil
	cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &cert, nil }
	return cfg
}

// tlsExchange opens a TLS session to addr, writes msg and reads the first bytes of the answer.
// It returns nil only if the server answered.
func tlsExchange(addr string, cfg *tls.Config, msg []byte) error {
	d := &net.Dialer{Timeout: opTimeout}
	c, err := tls.DialWithDialer(d, "tcp", strings.TrimPrefix(addr, "https://"), cfg)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(opTimeout))
	if _, err := c.Write(msg); err != nil {
		return err
	}
	var b [16]byte
	n, err := c.Read(b[:])
	if n > 0 {
		return nil
	}
	if err == nil {
		err = errors.New("empty read")
	}
	return err
}

// eventually polls f until it returns nil, failing the test with the last error after d.
func eventually(t *testing.T, d time.Duration, f func() error) {
	t.Helper()
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		err := f()
		if err == nil {
			return
		}
		select {
		case <-deadline.C:
			t.Fatalf("still failing after %v: %v", d, err)
		case <-tick.C:
		}
	}
}

func totalBytes(streams [][]byte) int {
	n := 0
	for _, s := range streams {
		n += len(s)
	}
	return n
}
