package raftstore_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"math/big"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/keeldb/keel/raftstore"
)

// peerPKI makes a CA and a member certificate for 127.0.0.1 usable as server and client.
func peerPKI(t *testing.T) (*x509.CertPool, tls.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "peer-ca"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	leafKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "member"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &leafKey.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	return pool, tls.Certificate{Certificate: [][]byte{der}, PrivateKey: leafKey}
}

// startTLSPeerMux serves a PeerMux on a TLS listener that requires member certificates.
func startTLSPeerMux(t *testing.T, pool *x509.CertPool, cert tls.Certificate) (*raftstore.PeerMux, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &tls.Config{Certificates: []tls.Certificate{cert}, ClientCAs: pool, ClientAuth: tls.RequireAndVerifyClientCert,
		MinVersion: tls.VersionTLS12}
	cli := &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: pool, MinVersion: tls.VersionTLS12}
	m := raftstore.NewPeerMux(tls.NewListener(ln, srv), nil, raftstore.NewTLSPeerDialer(cli))
	done := make(chan error, 1)
	go func() { done <- m.Serve() }()
	t.Cleanup(func() {
		_ = m.Close()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return m, ln.Addr().String()
}

// echoOnce accepts one connection from ln and echoes what it reads until EOF.
func echoOnce(t *testing.T, ln net.Listener) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		_, _ = io.Copy(c, c)
	}()
	t.Cleanup(func() { <-done })
}

func roundTrip(t *testing.T, c net.Conn, msg string) {
	t.Helper()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte(msg)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, len(msg))
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != msg {
		t.Fatalf("echo: got %q, %v; want %q", buf, err, msg)
	}
}

func TestPeerMuxOverTLS(t *testing.T) {
	pool, cert := peerPKI(t)
	m, addr := startTLSPeerMux(t, pool, cert)

	t.Run("RaftStream", func(t *testing.T) {
		sl := m.StreamLayer()
		echoOnce(t, sl)
		c, err := sl.Dial(raft.ServerAddress(addr), 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if tc, ok := c.(*tls.Conn); !ok || !tc.ConnectionState().HandshakeComplete {
			t.Fatalf("raft stream connection %T is not an established TLS session", c)
		}
		roundTrip(t, c, "append entries")
	})
	t.Run("PeerGRPC", func(t *testing.T) {
		echoOnce(t, m.GRPCListener())
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		defer cancel()
		c, err := m.DialGRPC(ctx, addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		roundTrip(t, c, "PRI * HTTP/2.0")
	})
	t.Run("PlainPreambleIsRejected", func(t *testing.T) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		// On a plain-text mux this would reach the raft stream layer and stay open.
		if _, err := c.Write([]byte("Rappend entries")); err != nil {
			t.Fatal(err)
		}
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, err := c.Read(make([]byte, 64))
		if n > 0 || !(errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET)) {
			t.Fatalf("plain-text preamble: read %d bytes, %v; want the connection closed", n, err)
		}
	})
	t.Run("UntrustedOrAnonymousPeersAreRefused", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		defer cancel()
		otherPool, otherCert := peerPKI(t)
		// A dialer that does not trust the member's CA fails the handshake.
		untrusting := raftstore.NewTLSPeerDialer(&tls.Config{Certificates: []tls.Certificate{otherCert}, RootCAs: otherPool})
		if c, err := untrusting(ctx, addr); err == nil {
			_ = c.Close()
			t.Fatal("a dialer that does not trust the CA connected")
		}
		// A peer without a certificate is refused by the server (with TLS 1.3, at its first read).
		anonymous := raftstore.NewTLSPeerDialer(&tls.Config{RootCAs: pool})
		c, err := anonymous(ctx, addr)
		if err != nil {
			return
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		_, _ = c.Write([]byte{'R'})
		if n, err := c.Read(make([]byte, 1)); err == nil {
			t.Fatalf("a peer without a certificate was answered (%d bytes)", n)
		}
	})
}
