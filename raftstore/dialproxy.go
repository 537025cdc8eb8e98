package raftstore

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"
)

// maxProxyErrorBytes bounds how much of a refusing proxy's answer goes into the dial error.
const maxProxyErrorBytes = 512

// NewPeerDialer returns the PeerDialer for a member's outgoing peer connections. With an
// empty proxyAddr it dials the peer directly; otherwise it asks the HTTP CONNECT proxy at
// proxyAddr (host:port) for a tunnel to the peer and uses that, which is how a test routes a
// member's outgoing traffic through a fault-injecting proxy (keeld --peer-dial-proxy,
// internal/netfault; docs/RELIABILITY.md "Network faults"). With a non-nil tlsCfg it then
// opens a TLS session over the connection as NewTLSPeerDialer does: the proxy only relays
// bytes, so the TLS session is still end to end between the members.
//
// A proxy that refuses the tunnel (any status but 200) fails the dial with an error that
// carries the proxy's status and message, e.g. its "connection refused" from dialing the
// peer.
func NewPeerDialer(proxyAddr string, tlsCfg *tls.Config) PeerDialer {
	var d net.Dialer
	dial := func(ctx context.Context, addr string) (net.Conn, error) {
		return d.DialContext(ctx, "tcp", addr)
	}
	if proxyAddr != "" {
		dial = func(ctx context.Context, addr string) (net.Conn, error) {
			return dialConnect(ctx, &d, proxyAddr, addr)
		}
	}
	if tlsCfg == nil {
		return dial
	}
	return func(ctx context.Context, addr string) (net.Conn, error) {
		c, err := dial(ctx, addr)
		if err != nil {
			return nil, err
		}
		cfg := tlsCfg
		if cfg.ServerName == "" {
			host, _, err := net.SplitHostPort(addr)
			if err != nil {
				_ = c.Close()
				return nil, err
			}
			cfg = cfg.Clone()
			cfg.ServerName = host
		}
		tc := tls.Client(c, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			_ = c.Close()
			return nil, err
		}
		return tc, nil
	}
}

// dialConnect opens a tunnel to addr through the HTTP CONNECT proxy at proxy. ctx bounds the
// whole exchange.
func dialConnect(ctx context.Context, d *net.Dialer, proxy, addr string) (_ net.Conn, err error) {
	c, err := d.DialContext(ctx, "tcp", proxy)
	if err != nil {
		return nil, fmt.Errorf("raftstore: peer dial proxy %s: %w", proxy, err)
	}
	defer func() {
		if err != nil {
			_ = c.Close()
		}
	}()
	// The handshake is bounded by ctx: its deadline, or an immediate one once it is done.
	if dl, ok := ctx.Deadline(); ok {
		_ = c.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { _ = c.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if _, err := fmt.Fprintf(c, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n", addr, addr); err != nil {
		return nil, fmt.Errorf("raftstore: peer dial proxy %s: %w", proxy, err)
	}
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodConnect})
	if err != nil {
		return nil, fmt.Errorf("raftstore: peer dial proxy %s: CONNECT %s: %w", proxy, addr, err)
	}
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, maxProxyErrorBytes))
		return nil, fmt.Errorf("raftstore: peer dial proxy %s: CONNECT %s: %s: %s", proxy, addr, resp.Status, msg)
	}
	if !stop() {
		return nil, fmt.Errorf("raftstore: peer dial proxy %s: CONNECT %s: %w", proxy, addr, ctx.Err())
	}
	_ = c.SetDeadline(time.Time{})
	if br.Buffered() > 0 {
		// The peer spoke before we did; keep its bytes in front of the rest of the stream.
		return &bufferedConn{Conn: c, r: br}, nil
	}
	return c, nil
}

// bufferedConn reads through a bufio.Reader that may hold bytes read past a CONNECT answer.
type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (b *bufferedConn) Read(p []byte) (int, error) { return b.r.Read(p) }
