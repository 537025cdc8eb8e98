package netfault_test

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/keeldb/keel/internal/netfault"
)

var holeSeed = flag.Uint64("netfault.seed", 1, "seed of TestNoStreamWithAHole's fault choices and write sizes (their timing is the scheduler's)")

// sink accepts connections and keeps everything each one delivered.
type sink struct {
	ln net.Listener
	wg sync.WaitGroup

	mu sync.Mutex
	// guarded by mu
	accepted int
	got      [][]byte
}

func startSink(t *testing.T) *sink {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &sink{ln: ln}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.accepted++
			s.mu.Unlock()
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				_ = c.SetDeadline(time.Now().Add(hangGuard))
				b, _ := io.ReadAll(c)
				_ = c.Close()
				s.mu.Lock()
				s.got = append(s.got, b)
				s.mu.Unlock()
			}()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		s.wg.Wait()
	})
	return s
}

// pattern is what every test connection sends from its first byte on.
func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i % 251)
	}
	return b
}

// Whatever faults come and go, a connection through the proxy delivers a prefix of what was
// sent: bytes may stop arriving (blackhole, drop, reset), but never arrive after a hole, out
// of order or altered. Faults change on a seeded schedule while many connections stream.
func TestNoStreamWithAHole(t *testing.T) {
	t.Logf("seed %d (-netfault.seed=%d repeats the choices; their timing varies)", *holeSeed, *holeSeed)
	s := startSink(t)
	p, err := netfault.New(netfault.Config{Target: s.ln.Addr().String(), Seed: *holeSeed})
	if err != nil {
		t.Fatal(err)
	}
	const (
		writers = 8
		steps   = 150
	)
	// In each step the schedule changes the faults, then every writer writes one chunk of
	// the pattern, continuing its connection or, when that broke, opening a new one.
	rng := rand.New(rand.NewPCG(*holeSeed, 1))
	ws := make([]*streamWriter, writers)
	for i := range ws {
		ws[i] = &streamWriter{p: p, target: s.ln.Addr().String(), rng: rand.New(rand.NewPCG(*holeSeed, uint64(i)+2)), connect: i%2 == 1}
	}
	dirs := []netfault.Direction{netfault.Rx, netfault.Tx, netfault.Both}
	for range steps {
		switch d := dirs[rng.IntN(len(dirs))]; rng.IntN(6) {
		case 0:
			p.Blackhole(d)
		case 1:
			p.Drop(d, 0.05)
		case 2:
			p.Delay(d, 0, time.Millisecond)
		case 3:
			p.ResetConns()
		default:
			p.Heal()
		}
		var wg sync.WaitGroup
		for _, w := range ws {
			wg.Add(1)
			go func() {
				defer wg.Done()
				w.step()
			}()
		}
		wg.Wait()
	}
	for _, w := range ws {
		w.close()
	}
	_ = p.Close() // ends the sink's reads of connections a blackhole left open
	eventually(t, "the sink done with every connection", func() error {
		s.mu.Lock()
		defer s.mu.Unlock()
		if len(s.got) != s.accepted {
			return fmt.Errorf("%d of %d connections read to the end", len(s.got), s.accepted)
		}
		return nil
	})

	s.mu.Lock()
	defer s.mu.Unlock()
	var total int
	for i, b := range s.got {
		want := pattern(len(b))
		if !bytes.Equal(b, want) {
			at := 0
			for at < len(b) && b[at] == want[at] {
				at++
			}
			t.Fatalf("connection %d delivered %d bytes that are not a prefix of what was sent: first difference at byte %d", i, len(b), at)
		}
		total += len(b)
	}
	st := p.Stats()
	// Forwarded bytes can exceed delivered ones: a reset discards what the receiver had not
	// read yet, as TCP does.
	t.Logf("%d connections delivered %d bytes; stats %+v", len(s.got), total, st)
	if st.Resets == 0 || st.Rx.BlackholedBytes+st.Tx.BlackholedBytes == 0 {
		t.Fatalf("the schedule never bit: stats %+v", st)
	}
}

// streamWriter writes the pattern over one connection after another, one chunk per step.
type streamWriter struct {
	p       *netfault.Proxy
	target  string
	rng     *rand.Rand
	connect bool // through the CONNECT listener, else the forwarding one
	c       net.Conn
	off     int
}

// chunkSource holds the pattern from every phase: chunkSource[off%251:] continues it.
var chunkSource = pattern(251 + 8<<10)

func (w *streamWriter) step() {
	if w.c == nil {
		var err error
		if w.connect {
			w.c, err = dialConnect(w.p.DialAddr(), w.target)
		} else {
			w.c, err = net.DialTimeout("tcp", w.p.Addr(), hangGuard)
		}
		if err != nil {
			w.c = nil // reset before the tunnel was up: nothing sent, nothing to check
			return
		}
		_ = w.c.SetDeadline(time.Now().Add(hangGuard))
		w.off = 0
	}
	k := 1 + w.rng.IntN(8<<10)
	from := w.off % 251
	if _, err := w.c.Write(chunkSource[from : from+k]); err != nil {
		w.close()
		return
	}
	w.off += k
}

func (w *streamWriter) close() {
	if w.c != nil {
		_ = w.c.Close()
		w.c = nil
	}
}
