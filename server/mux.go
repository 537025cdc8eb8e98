package server

import (
	"bytes"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"slices"
	"sync"
	"time"
)

// http2Preface starts every HTTP/2 connection with prior knowledge, which is how gRPC
// clients connect to a plain-text etcd URL. Anything else on the client port is HTTP/1.
var http2Preface = []byte("PRI * HTTP/2.0")

// Application protocols a TLS client URL offers in ALPN.
const (
	alpnH2    = "h2"
	alpnHTTP1 = "http/1.1"
)

// clientTLSConfig returns the configuration an https client URL serves with. It offers ALPN
// "h2" (gRPC clients require it) and "http/1.1". A client offering both, such as curl or a
// browser, is given HTTP/1.1 so /metrics and /health keep working; a gRPC client offers only
// h2. The connection is then routed like a plain one, by the HTTP/2 preface.
func clientTLSConfig(base *tls.Config) *tls.Config {
	h2First := base.Clone()
	h2First.NextProtos = []string{alpnH2, alpnHTTP1}
	http1First := base.Clone()
	http1First.NextProtos = []string{alpnHTTP1, alpnH2}
	h2First.GetConfigForClient = func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
		if base.GetConfigForClient != nil {
			// A caller's own selection wins; it must set NextProtos itself.
			return base.GetConfigForClient(hello)
		}
		if slices.Contains(hello.SupportedProtos, alpnHTTP1) {
			return http1First, nil
		}
		return nil, nil
	}
	return h2First
}

// clientMux splits one client listener into gRPC and HTTP/1 connections by their first bytes.
// On a TLS listener those are the first bytes inside the session: the handshake runs on the
// first read, in the connection's own goroutine, bounded by the same deadline.
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
