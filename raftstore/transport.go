package raftstore

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// Every connection to a peer URL starts with one preamble byte naming its protocol, so raft's
// transport and the Peer gRPC service share the listener etcd users already open (2380).
const (
	preambleRaft byte = 'R'
	preambleGRPC byte = 'G'
)

// preambleTimeout bounds how long an accepted connection may take to send its preamble.
const preambleTimeout = 10 * time.Second

// PeerDialer dials another member's peer address (host:port).
type PeerDialer func(ctx context.Context, addr string) (net.Conn, error)

// PeerMux splits a peer listener by preamble into a raft stream layer and a listener for the
// Peer gRPC server. Start it with Serve; Close stops it and both sub-listeners.
//
// For https peer URLs, give it a listener from tls.NewListener and a dialer from
// NewTLSPeerDialer: the preamble is then the first byte inside the TLS session, so all peer
// traffic is encrypted, and a connection that does not start with a TLS handshake fails it
// (within preambleTimeout) and is closed.
type PeerMux struct {
	ln        net.Listener
	advertise net.Addr
	dial      PeerDialer
	raft      *subListener
	grpc      *subListener
}

// NewPeerMux wraps ln. advertise (nil = ln's address) is the address raft tells peers;
// dial (nil = plain TCP) is used for outgoing connections.
func NewPeerMux(ln net.Listener, advertise net.Addr, dial PeerDialer) *PeerMux {
	if advertise == nil {
		advertise = ln.Addr()
	}
	if dial == nil {
		var d net.Dialer
		dial = func(ctx context.Context, addr string) (net.Conn, error) {
			return d.DialContext(ctx, "tcp", addr)
		}
	}
	return &PeerMux{ln: ln, advertise: advertise, dial: dial, raft: newSubListener(ln.Addr()), grpc: newSubListener(ln.Addr())}
}

// Serve accepts connections until the listener is closed. It returns nil after Close.
func (m *PeerMux) Serve() error {
	for {
		c, err := m.ln.Accept()
		if err != nil {
			m.raft.close()
			m.grpc.close()
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			return err
		}
		go m.route(c)
	}
}

func (m *PeerMux) route(c net.Conn) {
	var b [1]byte
	_ = c.SetReadDeadline(time.Now().Add(preambleTimeout))
	if _, err := c.Read(b[:]); err != nil {
		_ = c.Close()
		return
	}
	_ = c.SetReadDeadline(time.Time{})
	switch b[0] {
	case preambleRaft:
		m.raft.deliver(c)
	case preambleGRPC:
		m.grpc.deliver(c)
	default:
		_ = c.Close()
	}
}

// Close stops accepting connections.
func (m *PeerMux) Close() error { return m.ln.Close() }

// GRPCListener is the listener the Peer gRPC server serves on.
func (m *PeerMux) GRPCListener() net.Listener { return m.grpc }

// StreamLayer is the raft stream layer over the mux.
func (m *PeerMux) StreamLayer() raft.StreamLayer { return &streamLayer{m} }

// Dialer returns the dialer the mux uses for outgoing connections (plain TCP or TLS), for
// Config.PeerDialer, so forwarded requests travel like raft traffic.
func (m *PeerMux) Dialer() PeerDialer { return m.dial }

// NewTLSPeerDialer returns a PeerDialer that opens a TLS session to the peer address and
// completes the handshake before returning. cfg carries this member's certificate (presented
// to peers that require client certificates) and the CAs that verify the peer's certificate;
// with no ServerName, the host of the address is verified.
func NewTLSPeerDialer(cfg *tls.Config) PeerDialer {
	d := &tls.Dialer{Config: cfg}
	return func(ctx context.Context, addr string) (net.Conn, error) {
		return d.DialContext(ctx, "tcp", addr)
	}
}

// DialGRPC dials addr for the Peer gRPC service (its preamble already written).
func (m *PeerMux) DialGRPC(ctx context.Context, addr string) (net.Conn, error) {
	return dialWithPreamble(ctx, m.dial, addr, preambleGRPC)
}

func dialWithPreamble(ctx context.Context, dial PeerDialer, addr string, p byte) (net.Conn, error) {
	c, err := dial(ctx, addr)
	if err != nil {
		return nil, err
	}
	if _, err := c.Write([]byte{p}); err != nil {
		_ = c.Close()
		return nil, err
	}
	return c, nil
}

type streamLayer struct{ m *PeerMux }

func (s *streamLayer) Accept() (net.Conn, error) { return s.m.raft.Accept() }
func (s *streamLayer) Close() error              { return s.m.raft.Close() }
func (s *streamLayer) Addr() net.Addr            { return s.m.advertise }

func (s *streamLayer) Dial(addr raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return dialWithPreamble(ctx, s.m.dial, string(addr), preambleRaft)
}

// subListener is a net.Listener fed by the mux.
type subListener struct {
	addr  net.Addr
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

func newSubListener(addr net.Addr) *subListener {
	return &subListener{addr: addr, conns: make(chan net.Conn), done: make(chan struct{})}
}

func (l *subListener) deliver(c net.Conn) {
	select {
	case l.conns <- c:
	case <-l.done:
		_ = c.Close()
	}
}

func (l *subListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *subListener) close()         { l.once.Do(func() { close(l.done) }) }
func (l *subListener) Close() error   { l.close(); return nil }
func (l *subListener) Addr() net.Addr { return l.addr }

// DefaultMaxAppendsInFlight is how many AppendEntries requests the leader keeps in flight to
// one follower (hashicorp/raft's MaxRPCsInFlight; its default is 2).
const DefaultMaxAppendsInFlight = 2

// NewNetworkTransport returns raft's TCP transport over the mux. maxInFlight is how many
// AppendEntries requests the leader pipelines to each follower (0: DefaultMaxAppendsInFlight;
// 1 turns pipelining off).
func NewNetworkTransport(m *PeerMux, logger *slog.Logger, maxInFlight int) raft.Transport {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if maxInFlight == 0 {
		maxInFlight = DefaultMaxAppendsInFlight
	}
	return raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
		Stream:          m.StreamLayer(),
		MaxPool:         4,
		MaxRPCsInFlight: maxInFlight,
		Timeout:         10 * time.Second,
		Logger:          newHCLog(logger.With("component", "raft-transport")),
	})
}
