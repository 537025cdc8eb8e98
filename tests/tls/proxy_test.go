package tls_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
)

// tapProxy is a TCP proxy that forwards every connection to target and keeps a copy of the
// bytes each connection carried in each direction, so a test can inspect what is on the wire.
type tapProxy struct {
	ln     net.Listener
	target string
	wg     sync.WaitGroup

	mu sync.Mutex
	// guarded by mu
	conns []net.Conn
	taps  []*tap
}

// tap holds one proxied connection's bytes: toTarget as the dialer sent them, fromTarget as
// the target answered.
type tap struct {
	toTarget, fromTarget lockedBuffer
}

type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return bytes.Clone(b.buf.Bytes())
}

// startTapProxy listens on 127.0.0.1:0 and forwards to target until the test ends.
func startTapProxy(t *testing.T, target string) *tapProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &tapProxy{ln: ln, target: target}
	p.wg.Add(1)
	go p.serve()
	t.Cleanup(p.close)
	return p
}

func (p *tapProxy) addr() string { return p.ln.Addr().String() }

func (p *tapProxy) serve() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			_ = c.Close()
			continue
		}
		tp := &tap{}
		p.mu.Lock()
		p.conns = append(p.conns, c, up)
		p.taps = append(p.taps, tp)
		p.mu.Unlock()
		p.wg.Add(2)
		go p.pipe(up, c, &tp.toTarget)
		go p.pipe(c, up, &tp.fromTarget)
	}
}

// pipe copies src to dst, recording the bytes; it closes both ends when either side stops.
func (p *tapProxy) pipe(dst, src net.Conn, rec io.Writer) {
	defer p.wg.Done()
	_, _ = io.Copy(io.MultiWriter(dst, rec), src)
	_ = dst.Close()
	_ = src.Close()
}

func (p *tapProxy) close() {
	_ = p.ln.Close()
	p.mu.Lock()
	for _, c := range p.conns {
		_ = c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

// captured returns a copy of every connection's bytes, both directions.
func (p *tapProxy) captured() [][]byte {
	p.mu.Lock()
	taps := append([]*tap(nil), p.taps...)
	p.mu.Unlock()
	var out [][]byte
	for _, tp := range taps {
		out = append(out, tp.toTarget.bytes(), tp.fromTarget.bytes())
	}
	return out
}

// checkTLSRecords reports whether stream is a sequence of TLS records (content type 20-23,
// legacy version 3.1-3.3, length within the TLS limit); the last record may be cut short,
// since the connection may still be open.
func checkTLSRecords(stream []byte) error {
	for off := 0; off < len(stream); {
		if len(stream)-off < 5 {
			return nil
		}
		typ, major, minor := stream[off], stream[off+1], stream[off+2]
		n := int(stream[off+3])<<8 | int(stream[off+4])
		if typ < 20 || typ > 23 || major != 3 || minor < 1 || minor > 3 || n > 16384+2048 {
			return fmt.Errorf("offset %d: bytes % x do not start a TLS record", off, stream[off:off+5])
		}
		off += 5 + n
	}
	return nil
}

var errNoTraffic = errors.New("no traffic went through the proxy")
