package server

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"math/big"
	"net"
	"net/http"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// testPKI is a CA with one server and one client certificate for 127.0.0.1, made in memory.
type testPKI struct {
	pool           *x509.CertPool
	server, client tls.Certificate
}

func newTestPKI(t *testing.T) *testPKI {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "ca"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	issue := func(serial int64, usage x509.ExtKeyUsage) tls.Certificate {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: "leaf"},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
			IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
	}
	p := &testPKI{pool: x509.NewCertPool()}
	p.pool.AddCert(ca)
	p.server, p.client = issue(2, x509.ExtKeyUsageServerAuth), issue(3, x509.ExtKeyUsageClientAuth)
	return p
}

// startTLSMux serves a gRPC health service and an HTTP handler behind one TLS client
// listener that requires client certificates, as ServeTLS does; it returns the address.
func startTLSMux(t *testing.T, p *testPKI) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{p.server}, ClientCAs: p.pool,
		ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS12}
	m := newClientMux(tls.NewListener(ln, clientTLSConfig(cfg)))
	g := grpc.NewServer()
	healthpb.RegisterHealthServer(g, health.NewServer())
	h := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "ok")
	})}
	done := make(chan struct{}, 3)
	go func() { m.serve(); done <- struct{}{} }()
	go func() { _ = g.Serve(m.grpc); done <- struct{}{} }()
	go func() { _ = h.Serve(m.http); done <- struct{}{} }()
	t.Cleanup(func() {
		_ = ln.Close()
		g.Stop()
		_ = h.Close()
		for range 3 {
			<-done
		}
	})
	return ln.Addr().String()
}

func healthCheck(t *testing.T, addr string, creds credentials.TransportCredentials) error {
	t.Helper()
	conn, err := grpc.NewClient("passthrough:///"+addr, grpc.WithTransportCredentials(creds))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
	defer cancel()
	resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
	if err == nil && resp.Status != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health status %v", resp.Status)
	}
	return err
}

func TestTLSClientMuxServesGRPCAndHTTP1(t *testing.T) {
	p := newTestPKI(t)
	addr := startTLSMux(t, p)
	good := &tls.Config{RootCAs: p.pool, Certificates: []tls.Certificate{p.client}, MinVersion: tls.VersionTLS12}

	t.Run("GRPC", func(t *testing.T) {
		if err := healthCheck(t, addr, credentials.NewTLS(good.Clone())); err != nil {
			t.Fatalf("gRPC over TLS with a client certificate: %v", err)
		}
	})
	t.Run("HTTP1", func(t *testing.T) {
		for _, offerH2 := range []bool{false, true} {
			tr := &http.Transport{TLSClientConfig: good.Clone(), ForceAttemptHTTP2: offerH2}
			resp, err := (&http.Client{Transport: tr, Timeout: 3 * time.Second}).Get("https://" + addr + "/health")
			if err != nil {
				t.Fatalf("offer h2 %v: %v", offerH2, err)
			}
			body, _ := io.ReadAll(resp.Body)
			_ = resp.Body.Close()
			tr.CloseIdleConnections()
			if resp.StatusCode != http.StatusOK || string(body) != "ok" || resp.Proto != "HTTP/1.1" {
				t.Fatalf("offer h2 %v: %s %s %q, want 200 ok over HTTP/1.1", offerH2, resp.Proto, resp.Status, body)
			}
		}
	})
	t.Run("ALPN", func(t *testing.T) {
		for _, tc := range []struct {
			offer []string
			want  string
		}{
			{[]string{"h2"}, "h2"},
			{[]string{"h2", "http/1.1"}, "http/1.1"},
			{[]string{"http/1.1"}, "http/1.1"},
		} {
			cfg := good.Clone()
			cfg.NextProtos = tc.offer
			c, err := tls.Dial("tcp", addr, cfg)
			if err != nil {
				t.Fatal(err)
			}
			got := c.ConnectionState().NegotiatedProtocol
			_ = c.Close()
			if got != tc.want {
				t.Errorf("client offering %v: negotiated %q, want %q", tc.offer, got, tc.want)
			}
		}
	})
	t.Run("NoClientCertificate", func(t *testing.T) {
		if err := healthCheck(t, addr, credentials.NewTLS(&tls.Config{RootCAs: p.pool})); err == nil {
			t.Fatal("gRPC without a client certificate succeeded")
		}
	})
	t.Run("PlainText", func(t *testing.T) {
		if err := healthCheck(t, addr, insecure.NewCredentials()); err == nil {
			t.Fatal("plain-text gRPC on a TLS port succeeded")
		}
	})
}
