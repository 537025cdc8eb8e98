package raftstore_test

import (
	"context"
	"crypto/tls"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/keeldb/keel/internal/netfault"
	"github.com/keeldb/keel/raftstore"
)

// A member whose dialer goes through a CONNECT proxy (keeld --peer-dial-proxy) reaches a TLS
// peer mux with an end-to-end TLS session, the bytes cross the proxy as Tx, and a blackhole
// there stops the handshake.
func TestPeerDialerThroughProxy(t *testing.T) {
	pool, cert := peerPKI(t)
	m, addr := startTLSPeerMux(t, pool, cert)
	proxy, err := netfault.New(netfault.Config{Target: addr})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = proxy.Close() })
	cli := &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: pool, MinVersion: tls.VersionTLS12}
	dial := raftstore.NewPeerDialer(proxy.DialAddr(), cli)

	t.Run("RaftStream", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		client := raftstore.NewPeerMux(ln, nil, dial)
		t.Cleanup(func() { _ = client.Close() })
		sl := m.StreamLayer()
		echoOnce(t, sl)
		c, err := client.StreamLayer().Dial(raft.ServerAddress(addr), 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if tc, ok := c.(*tls.Conn); !ok || !tc.ConnectionState().HandshakeComplete {
			t.Fatalf("raft stream connection %T is not an established TLS session", c)
		}
		roundTrip(t, c, "append entries")
		if st := proxy.Stats(); st.Tx.ForwardedBytes == 0 || st.Rx.ForwardedBytes == 0 {
			t.Fatalf("proxy stats %+v: the connection did not go through it", st)
		}
	})
	t.Run("RefusedTunnel", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		dead := ln.Addr().String()
		_ = ln.Close()
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		defer cancel()
		c, err := dial(ctx, dead)
		if err == nil {
			_ = c.Close()
			t.Fatal("dialed a closed port through the proxy")
		}
		if !strings.Contains(err.Error(), "502") || !strings.Contains(err.Error(), "connection refused") {
			t.Fatalf("dial error %q: want the proxy's 502 and its connection refused", err)
		}
	})
	t.Run("Blackholed", func(t *testing.T) {
		proxy.Blackhole(netfault.Tx)
		t.Cleanup(proxy.Heal)
		// The handshake can never complete; ctx is what ends the attempt.
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
		defer cancel()
		c, err := dial(ctx, addr)
		if err == nil {
			_ = c.Close()
			t.Fatal("a TLS handshake completed through a blackhole")
		}
	})
}
