package netfault

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// link is one relayed connection: the member's side and the remote peer's side.
type link struct {
	// member and remote are the two sockets, written to and closed directly.
	member, remote net.Conn
	// memberR and remoteR are what the pipes read: the sockets themselves, or a reader that
	// first returns bytes buffered while reading a CONNECT request.
	memberR, remoteR io.Reader
	// peer is the destination of a connection the member dialed through the CONNECT listener
	// (for BlackholePeer); "" for connections to the member.
	peer string
	// damaged[d] is set once Blackhole discarded bytes of direction d (Direction.index): that
	// direction's stream has a hole, so it must never forward again.
	damaged [2]atomic.Bool
	// done is closed by the first reset or close; the pipes stop waiting on it.
	done chan struct{}
	once sync.Once
}

func newLink(member, remote net.Conn, memberR, remoteR io.Reader, peer string) *link {
	return &link{member: member, remote: remote, memberR: memberR, remoteR: remoteR, peer: peer, done: make(chan struct{})}
}

func (l *link) isDamaged() bool { return l.damaged[0].Load() || l.damaged[1].Load() }

// reset aborts both sockets with RST. It reports whether this call ended the link.
func (l *link) reset() bool {
	ended := false
	l.once.Do(func() {
		ended = true
		close(l.done)
		resetConn(l.member)
		resetConn(l.remote)
	})
	return ended
}

// close closes both sockets normally, after both directions ended.
func (l *link) close() {
	l.once.Do(func() {
		close(l.done)
		_ = l.member.Close()
		_ = l.remote.Close()
	})
}

// resetConn closes c with an RST instead of a FIN where it can.
func resetConn(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = c.Close()
}

// chunk is one read's bytes and when they may be written on.
type chunk struct {
	data []byte
	due  time.Time
}

// relay runs both directions of l until both have ended, then closes it. It tracks l for
// ResetConns, Heal and Close.
func (p *Proxy) relay(l *link) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		p.resetLink(l)
		return
	}
	p.links[l] = struct{}{}
	p.mu.Unlock()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); p.pipe(l, Rx, l.member, l.remoteR) }()
	go func() { defer wg.Done(); p.pipe(l, Tx, l.remote, l.memberR) }()
	wg.Wait()
	p.mu.Lock()
	delete(p.links, l)
	p.mu.Unlock()
	l.close()
}

// resetLink resets l and counts it.
func (p *Proxy) resetLink(l *link) {
	if l.reset() {
		p.countReset()
	}
}

// pipe relays one direction of l: it reads chunks from src, applies dir's faults and queues
// the chunks for a writer goroutine, which it owns and waits for. At EOF the writer passes
// the half-close on; any other read error resets the link.
func (p *Proxy) pipe(l *link, dir Direction, dst net.Conn, src io.Reader) {
	q := make(chan chunk, queueChunks)
	wdone := make(chan struct{})
	go func() {
		defer close(wdone)
		p.write(l, dir, dst, q)
	}()
	defer func() {
		close(q)
		<-wdone
	}()
	damaged := &l.damaged[dir.index()]
	buf := make([]byte, chunkBytes)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			d := p.decide(dir, l.peer, n)
			switch {
			case d.discard:
				damaged.Store(true)
				if !p.blackholed(dir, l.peer) {
					// Heal came between the decision and the mark, and its reset pass may
					// have missed this link: reset it here.
					p.resetLink(l)
					return
				}
				continue
			case d.reset, damaged.Load():
				// Dropped, or the stream already has a hole: never forward a byte after it.
				p.resetLink(l)
				return
			}
			c := chunk{data: bytes.Clone(buf[:n]), due: time.Now().Add(d.wait)}
			select {
			case q <- c:
			case <-l.done:
				return
			}
		}
		if err != nil {
			if !errors.Is(err, io.EOF) {
				p.resetLink(l)
			}
			return
		}
	}
}

// write writes the queued chunks to dst, each not before its due time, until q is closed;
// then it half-closes dst. A write error resets the link.
func (p *Proxy) write(l *link, dir Direction, dst net.Conn, q <-chan chunk) {
	timer := time.NewTimer(0)
	defer timer.Stop()
	<-timer.C
	for c := range q {
		if wait := time.Until(c.due); wait > 0 {
			timer.Reset(wait)
			select {
			case <-timer.C:
			case <-l.done:
				return
			}
		}
		if _, err := dst.Write(c.data); err != nil {
			p.resetLink(l)
			return
		}
		p.countForwarded(dir, len(c.data))
	}
	select {
	case <-l.done:
	default:
		if cw, ok := dst.(interface{ CloseWrite() error }); ok {
			_ = cw.CloseWrite()
		}
	}
}

// connect serves one connection on the dial listener: an HTTP CONNECT request from the
// member, answered 200 once the destination is dialed (502 with the dial error otherwise),
// then relayed with the accepted side as the member's.
func (p *Proxy) connect(c net.Conn) {
	_ = c.SetReadDeadline(time.Now().Add(handshakeTimeout))
	// Close must not wait out a silent client's handshake timeout.
	stop := context.AfterFunc(p.closeCtx, func() { _ = c.SetReadDeadline(time.Unix(1, 0)) })
	br := bufio.NewReader(c)
	req, err := http.ReadRequest(br)
	stop()
	if err != nil {
		p.log.Debug("bad connect request", "error", err)
		_ = c.Close()
		return
	}
	if req.Method != http.MethodConnect {
		writeStatus(c, http.StatusMethodNotAllowed, "netfault: only CONNECT is served on the dial listener")
		_ = c.Close()
		return
	}
	up, err := p.dial(req.Host)
	if err != nil {
		writeStatus(c, http.StatusBadGateway, err.Error())
		_ = c.Close()
		return
	}
	_ = c.SetReadDeadline(time.Time{})
	if _, err := io.WriteString(c, "HTTP/1.1 200 Connection established\r\n\r\n"); err != nil {
		_ = c.Close()
		_ = up.Close()
		return
	}
	p.relay(newLink(c, up, br, up, req.Host))
}

func writeStatus(c net.Conn, code int, msg string) {
	_, _ = fmt.Fprintf(c, "HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s",
		code, http.StatusText(code), len(msg), msg)
}
