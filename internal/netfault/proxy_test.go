package netfault_test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/keeldb/keel/internal/netfault"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// hangGuard bounds every blocking step of these tests; it is never a timing check.
const hangGuard = 20 * time.Second

// echoServer is a TCP echo server standing in for a member: it writes back what it reads and
// counts the bytes it received.
type echoServer struct {
	ln       net.Listener
	wg       sync.WaitGroup
	received atomic.Int64

	mu sync.Mutex
	// guarded by mu
	conns []net.Conn
}

func startEcho(t *testing.T) *echoServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e := &echoServer{ln: ln}
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			e.mu.Lock()
			e.conns = append(e.conns, c)
			e.mu.Unlock()
			e.wg.Add(1)
			go func() {
				defer e.wg.Done()
				_, _ = io.Copy(c, &countingReader{r: c, n: &e.received})
				_ = c.Close()
			}()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		e.mu.Lock()
		for _, c := range e.conns {
			_ = c.Close()
		}
		e.mu.Unlock()
		e.wg.Wait()
	})
	return e
}

func (e *echoServer) addr() string { return e.ln.Addr().String() }

type countingReader struct {
	r io.Reader
	n *atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

func newProxy(t *testing.T, target string) *netfault.Proxy {
	t.Helper()
	p, err := netfault.New(netfault.Config{Target: target, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p
}

// via says how a test connection reaches the echo server, and so which side of the proxy the
// test plays.
type via int

const (
	// viaForward: the test is a remote peer dialing the member (the echo server) through the
	// forwarding listener; what the test writes is Rx.
	viaForward via = iota
	// viaConnect: the test is the member dialing out through the CONNECT listener to a peer
	// (the echo server); what the test writes is Tx.
	viaConnect
)

func (v via) String() string { return [...]string{"forward", "connect"}[v] }

// written is the direction of the bytes the test writes, replies travel the other way.
func (v via) written() netfault.Direction {
	if v == viaForward {
		return netfault.Rx
	}
	return netfault.Tx
}

func (v via) replied() netfault.Direction { return netfault.Both &^ v.written() }

func dial(t *testing.T, p *netfault.Proxy, v via, target string) *net.TCPConn {
	t.Helper()
	var (
		c   net.Conn
		err error
	)
	if v == viaForward {
		c, err = net.DialTimeout("tcp", p.Addr(), hangGuard)
	} else {
		c, err = dialConnect(p.DialAddr(), target)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	_ = c.SetDeadline(time.Now().Add(hangGuard))
	return c.(*net.TCPConn)
}

// dialConnect opens a tunnel to target through the CONNECT proxy at proxy.
func dialConnect(proxy, target string) (net.Conn, error) {
	c, err := net.DialTimeout("tcp", proxy, hangGuard)
	if err != nil {
		return nil, err
	}
	_ = c.SetDeadline(time.Now().Add(hangGuard))
	fmt.Fprintf(c, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n", target, target)
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodConnect})
	if err != nil {
		_ = c.Close()
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(resp.Body)
		_ = c.Close()
		return nil, fmt.Errorf("CONNECT %s: %s: %s", target, resp.Status, body)
	}
	if br.Buffered() > 0 {
		_ = c.Close()
		return nil, errors.New("proxy sent bytes before the tunnel was used")
	}
	return c, nil
}

func roundTrip(t *testing.T, c net.Conn, msg []byte) {
	t.Helper()
	if _, err := c.Write(msg); err != nil {
		t.Fatalf("write: %v", err)
	}
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatalf("read back %d bytes: %v", len(msg), err)
	}
	if !bytes.Equal(got, msg) {
		t.Fatalf("echo differs: got %d bytes %q..., want %q...", len(got), got[:min(16, len(got))], msg[:min(16, len(msg))])
	}
}

// eventually polls cond until it holds or the hang guard runs out.
func eventually(t *testing.T, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(hangGuard)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// expectBroken reads from c until the connection fails (RST or EOF), failing the test if the
// hang guard expires first or data arrives.
func expectBroken(t *testing.T, c net.Conn) {
	t.Helper()
	var b [1]byte
	n, err := c.Read(b[:])
	if n > 0 {
		t.Fatalf("read %q from a connection that should be broken", b[:n])
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("connection still open after %v: %v", hangGuard, err)
	}
	if err == nil {
		t.Fatal("read returned neither data nor error")
	}
}

func dirStats(s netfault.Stats, d netfault.Direction) netfault.DirStats {
	if d == netfault.Tx {
		return s.Tx
	}
	return s.Rx
}

// Both listeners relay large transfers intact, and a half-close travels through.
func TestRelay(t *testing.T) {
	payload := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB: many chunks
	for _, v := range []via{viaForward, viaConnect} {
		t.Run(v.String(), func(t *testing.T) {
			e := startEcho(t)
			p := newProxy(t, e.addr())
			c := dial(t, p, v, e.addr())
			roundTrip(t, c, payload)
			roundTrip(t, c, []byte("x"))
			if err := c.CloseWrite(); err != nil {
				t.Fatal(err)
			}
			if rest, err := io.ReadAll(c); err != nil || len(rest) != 0 {
				t.Fatalf("after half-close: read %q, %v; want EOF", rest, err)
			}
			st := p.Stats()
			if w := dirStats(st, v.written()).ForwardedBytes; w != int64(len(payload)+1) {
				t.Errorf("%v forwarded %d bytes, want %d", v.written(), w, len(payload)+1)
			}
		})
	}
}

// A blackholed direction swallows bytes while the connection stays open; Heal resets the
// connections that lost bytes, and new connections work again.
func TestBlackhole(t *testing.T) {
	for _, v := range []via{viaForward, viaConnect} {
		for _, dir := range []netfault.Direction{netfault.Rx, netfault.Tx, netfault.Both} {
			t.Run(fmt.Sprintf("%v/%v", v, dir), func(t *testing.T) {
				e := startEcho(t)
				p := newProxy(t, e.addr())
				c := dial(t, p, v, e.addr())
				roundTrip(t, c, []byte("before"))
				p.Blackhole(dir)
				if _, err := c.Write([]byte("ping")); err != nil {
					t.Fatalf("write into a blackhole: %v", err)
				}
				wantReceived := int64(len("before"))
				hole := v.written()
				if dir&v.written() == 0 {
					// The request gets through; the echo is what vanishes.
					wantReceived += 4
					hole = v.replied()
				}
				eventually(t, "bytes blackholed", func() error {
					if got := dirStats(p.Stats(), hole).BlackholedBytes; got != 4 {
						return fmt.Errorf("%v blackholed %d bytes, want 4 (%s)", hole, got, p.Faults())
					}
					return nil
				})
				if got := e.received.Load(); got != wantReceived {
					t.Fatalf("echo server received %d bytes, want %d", got, wantReceived)
				}
				p.Heal()
				expectBroken(t, c)
				roundTrip(t, dial(t, p, v, e.addr()), []byte("after heal"))
			})
		}
	}
}

// BlackholePeer cuts only the member's connections to one peer, in the given direction.
func TestBlackholePeer(t *testing.T) {
	for _, dir := range []netfault.Direction{netfault.Tx, netfault.Rx} {
		t.Run(dir.String(), func(t *testing.T) {
			a, b := startEcho(t), startEcho(t)
			p := newProxy(t, a.addr())
			toA, toB := dial(t, p, viaConnect, a.addr()), dial(t, p, viaConnect, b.addr())
			p.BlackholePeer(b.addr(), dir)
			if f := p.Faults(); !strings.Contains(f, "peer "+b.addr()+": blackhole "+dir.String()) {
				t.Fatalf("Faults() = %q, want the peer blackhole listed", f)
			}
			if _, err := toB.Write([]byte("ping")); err != nil {
				t.Fatal(err)
			}
			eventually(t, "bytes to the peer blackholed", func() error {
				if got := dirStats(p.Stats(), dir).BlackholedBytes; got != 4 {
					return fmt.Errorf("%v blackholed %d bytes, want 4", dir, got)
				}
				return nil
			})
			roundTrip(t, toA, []byte("other peer"))
			roundTrip(t, dial(t, p, viaForward, ""), []byte("to the member"))
			p.Heal()
			expectBroken(t, toB)
			roundTrip(t, dial(t, p, viaConnect, b.addr()), []byte("after heal"))
		})
	}
}

// Heal leaves connections alone that lost nothing, and a blackhole of one direction does not
// damage the other.
func TestHealKeepsIntactConnections(t *testing.T) {
	e := startEcho(t)
	p := newProxy(t, e.addr())
	c := dial(t, p, viaForward, e.addr())
	roundTrip(t, c, []byte("before"))
	p.Blackhole(netfault.Both)
	p.Heal()
	roundTrip(t, c, []byte("after"))
	if st := p.Stats(); st.Resets != 0 {
		t.Fatalf("stats %+v: an intact connection was reset", st)
	}
}

// Delay holds each direction's chunks at least the delay, and jitter never reorders bytes.
func TestDelay(t *testing.T) {
	t.Run("lower bound", func(t *testing.T) {
		e := startEcho(t)
		p := newProxy(t, e.addr())
		c := dial(t, p, viaForward, e.addr())
		const d = 20 * time.Millisecond
		p.Delay(netfault.Both, d, 0)
		start := time.Now()
		roundTrip(t, c, []byte("ping"))
		if took := time.Since(start); took < 2*d {
			t.Fatalf("round trip took %v, want at least %v (delay in each direction)", took, 2*d)
		}
	})
	t.Run("jitter keeps order", func(t *testing.T) {
		e := startEcho(t)
		p := newProxy(t, e.addr())
		c := dial(t, p, viaConnect, e.addr())
		p.Delay(netfault.Both, 0, 3*time.Millisecond)
		var want bytes.Buffer
		done := make(chan error, 1)
		go func() {
			// Many small writes, so many chunks with different jitter.
			for i := range 300 {
				if _, err := fmt.Fprintf(c, "%04d,", i); err != nil {
					done <- err
					return
				}
			}
			done <- c.CloseWrite()
		}()
		for i := range 300 {
			fmt.Fprintf(&want, "%04d,", i)
		}
		got, err := io.ReadAll(c)
		if werr := <-done; werr != nil {
			t.Fatal(werr)
		}
		if err != nil || !bytes.Equal(got, want.Bytes()) {
			t.Fatalf("echo through jitter: %v; got %q, want %q", err, got, want.Bytes())
		}
	})
}

// Drop resets the connection a dropped chunk belonged to; at zero it is off again.
func TestDrop(t *testing.T) {
	for _, v := range []via{viaForward, viaConnect} {
		for _, dir := range []netfault.Direction{netfault.Rx, netfault.Tx} {
			t.Run(fmt.Sprintf("%v/%v", v, dir), func(t *testing.T) {
				e := startEcho(t)
				p := newProxy(t, e.addr())
				c := dial(t, p, v, e.addr())
				p.Drop(dir, 1)
				if _, err := c.Write([]byte("ping")); err != nil {
					t.Fatal(err)
				}
				expectBroken(t, c)
				if st := dirStats(p.Stats(), dir); st.DroppedConns != 1 {
					t.Fatalf("%v stats %+v, want one dropped connection", dir, st)
				}
				p.Drop(dir, 0)
				roundTrip(t, dial(t, p, v, e.addr()), []byte("after"))
			})
		}
	}
}

// ResetConns breaks every open connection on both listeners; new ones work.
func TestResetConns(t *testing.T) {
	e := startEcho(t)
	p := newProxy(t, e.addr())
	conns := []net.Conn{dial(t, p, viaForward, e.addr()), dial(t, p, viaConnect, e.addr()), dial(t, p, viaForward, e.addr())}
	for _, c := range conns {
		roundTrip(t, c, []byte("hi"))
	}
	p.ResetConns()
	for _, c := range conns {
		expectBroken(t, c)
	}
	if st := p.Stats(); st.Resets != 3 || st.Accepted != 3 {
		t.Fatalf("stats %+v, want 3 accepted and 3 resets", st)
	}
	roundTrip(t, dial(t, p, viaConnect, e.addr()), []byte("again"))
}

// The CONNECT listener reports a failed dial with 502 and the dial error, and refuses other
// methods; the forwarding listener closes a connection whose target is down.
func TestUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	_ = ln.Close()
	p := newProxy(t, dead)

	_, err = dialConnect(p.DialAddr(), dead)
	if err == nil || !strings.Contains(err.Error(), "502") || !strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("CONNECT to a closed port: %v; want 502 with connection refused", err)
	}

	resp, err := (&http.Client{Timeout: hangGuard}).Get("http://" + p.DialAddr() + "/")
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("GET on the dial listener: %s, want 405", resp.Status)
	}

	// The proxy accepts, fails to reach the target and resets: the reset may even beat the
	// dialer's connect.
	c, err := net.DialTimeout("tcp", p.Addr(), hangGuard)
	if err != nil {
		return
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(hangGuard))
	expectBroken(t, c)
}

// Close with connections open and chunks held by a delay returns, having joined every
// goroutine (goleak checks in TestMain), and is idempotent.
func TestCloseJoins(t *testing.T) {
	e := startEcho(t)
	p, err := netfault.New(netfault.Config{Target: e.addr()})
	if err != nil {
		t.Fatal(err)
	}
	c := dial(t, p, viaForward, e.addr())
	roundTrip(t, c, []byte("hi"))
	p.Delay(netfault.Both, time.Hour, 0)
	if _, err := c.Write([]byte("held")); err != nil {
		t.Fatal(err)
	}
	p.Blackhole(netfault.Tx)
	_ = p.Close()
	_ = p.Close()
	expectBroken(t, c)
	if _, err := net.DialTimeout("tcp", p.Addr(), hangGuard); err == nil {
		t.Fatal("the forwarding listener still accepts after Close")
	}
}

// Close does not wait for a CONNECT client that never sends its request.
func TestCloseDuringHandshake(t *testing.T) {
	e := startEcho(t)
	p, err := netfault.New(netfault.Config{Target: e.addr()})
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.DialTimeout("tcp", p.DialAddr(), hangGuard)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(hangGuard))
	eventually(t, "the silent connection accepted", func() error {
		if st := p.Stats(); st.Accepted != 1 {
			return fmt.Errorf("stats %+v", st)
		}
		return nil
	})
	_ = p.Close()
	expectBroken(t, c)
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  netfault.Config
		want string
	}{
		{"no target", netfault.Config{}, "Target is empty"},
		{"bad target", netfault.Config{Target: "nohost"}, "missing port"},
		{"ok", netfault.Config{Target: "127.0.0.1:1"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Fatalf("Validate() = %v, want %q", err, tc.want)
			}
		})
	}
}
