package server

import (
	"bytes"
	"errors"
	"io"
	"net"
	"sync"
	"time"
)

// http2Preface starts every HTTP/2 connection with prior knowledge, which is how gRPC
// clients connect to a plain-text etcd URL. Anything else on the client port is HTTP/1.
var http2Preface = []byte("PRI * HTTP/2.0")

// clientMux splits one client listener into gRPC and HTTP/1 connections by their first bytes.
type clientMux struct {
	ln   net.Listener
	grpc *chanListener
	http *chanListener
}

func newClientMux(ln net.Listener) *clientMux {
	return &clientMux{ln: ln, grpc: newChanListener(ln.Addr()), http: newChanListener(ln.Addr())}
}

func (m *clientMux) serve() {
	defer m.grpc.close()
	defer m.http.close()
	for {
		c, err := m.ln.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return
		}
		go m.route(c)
	}
}

func (m *clientMux) route(c net.Conn) {
	buf := make([]byte, len(http2Preface))
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	n, err := io.ReadFull(c, buf)
	_ = c.SetReadDeadline(time.Time{})
	pc := &prefixConn{Conn: c, prefix: buf[:n]}
	if err != nil && n == 0 {
		_ = c.Close()
		return
	}
	if bytes.Equal(buf[:n], http2Preface) {
		m.grpc.deliver(pc)
		return
	}
	m.http.deliver(pc)
}

// prefixConn replays the bytes read while sniffing.
type prefixConn struct {
	net.Conn
	prefix []byte
}

func (c *prefixConn) Read(p []byte) (int, error) {
	if len(c.prefix) > 0 {
		n := copy(p, c.prefix)
		c.prefix = c.prefix[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}

type chanListener struct {
	addr  net.Addr
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

func newChanListener(addr net.Addr) *chanListener {
	return &chanListener{addr: addr, conns: make(chan net.Conn), done: make(chan struct{})}
}

func (l *chanListener) deliver(c net.Conn) {
	select {
	case l.conns <- c:
	case <-l.done:
		_ = c.Close()
	}
}

func (l *chanListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *chanListener) close()         { l.once.Do(func() { close(l.done) }) }
func (l *chanListener) Close() error   { l.close(); return nil }
func (l *chanListener) Addr() net.Addr { return l.addr }
