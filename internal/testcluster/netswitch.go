package testcluster

import (
	"context"
	"errors"
	"net"
	"sync"
)

// errIsolated is what a dial from or to an isolated member fails with.
var errIsolated = errors.New("testcluster: member isolated")

// netSwitch is one member's network cable: it tracks the member's peer and client connections,
// both accepted and dialed, so that Isolate can pull it out at once.
type netSwitch struct {
	mu sync.Mutex
	// guarded by mu
	off   bool
	conns map[net.Conn]struct{}
}

func newNetSwitch() *netSwitch { return &netSwitch{conns: map[net.Conn]struct{}{}} }

// track registers c, or closes it if the switch is off.
func (s *netSwitch) track(c net.Conn) (net.Conn, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.off {
		_ = c.Close()
		return nil, errIsolated
	}
	tc := &trackedConn{Conn: c, s: s}
	s.conns[tc] = struct{}{}
	return tc, nil
}

// isolate closes every tracked connection and refuses new ones.
func (s *netSwitch) isolate() {
	s.mu.Lock()
	s.off = true
	conns := s.conns
	s.conns = map[net.Conn]struct{}{}
	s.mu.Unlock()
	for c := range conns {
		_ = c.(*trackedConn).Conn.Close()
	}
}

// listener wraps ln so that accepted connections are tracked.
func (s *netSwitch) listener(ln net.Listener) net.Listener {
	return &switchedListener{Listener: ln, s: s}
}

// dialer is a PeerDialer whose connections, dialed with base (nil: plain TCP), are tracked.
func (s *netSwitch) dialer(base func(ctx context.Context, addr string) (net.Conn, error)) func(ctx context.Context, addr string) (net.Conn, error) {
	if base == nil {
		var d net.Dialer
		base = func(ctx context.Context, addr string) (net.Conn, error) { return d.DialContext(ctx, "tcp", addr) }
	}
	return func(ctx context.Context, addr string) (net.Conn, error) {
		s.mu.Lock()
		off := s.off
		s.mu.Unlock()
		if off {
			return nil, errIsolated
		}
		c, err := base(ctx, addr)
		if err != nil {
			return nil, err
		}
		return s.track(c)
	}
}

type switchedListener struct {
	net.Listener
	s *netSwitch
}

func (l *switchedListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if tc, err := l.s.track(c); err == nil {
			return tc, nil
		}
	}
}

type trackedConn struct {
	net.Conn
	s    *netSwitch
	once sync.Once
}

func (c *trackedConn) Close() error {
	c.once.Do(func() {
		c.s.mu.Lock()
		delete(c.s.conns, c)
		c.s.mu.Unlock()
	})
	return c.Conn.Close()
}
