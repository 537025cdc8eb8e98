package netfault

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"slices"
	"strings"
	"sync"
	"time"
)

// Direction names which way a fault applies, from the fronted member's side.
type Direction uint8

const (
	// Rx is traffic to the member: what it receives from its peers.
	Rx Direction = 1 << iota
	// Tx is traffic from the member: what it sends to its peers.
	Tx
	// Both is Rx and Tx.
	Both = Rx | Tx
)

// String returns "rx", "tx", "both" or "none".
func (d Direction) String() string {
	switch d {
	case Rx:
		return "rx"
	case Tx:
		return "tx"
	case Both:
		return "both"
	default:
		return "none"
	}
}

// dirs lists the single directions, in index order.
var dirs = [2]Direction{Rx, Tx}

func (d Direction) index() int {
	if d == Tx {
		return 1
	}
	return 0
}

const (
	// chunkBytes is the most one read takes from a connection.
	chunkBytes = 32 << 10
	// queueChunks is how many chunks a delayed direction holds before it pushes back.
	queueChunks = 64
	// dialTimeout bounds a dial to the target (or a CONNECT destination).
	dialTimeout = 5 * time.Second
	// handshakeTimeout bounds reading a CONNECT request.
	handshakeTimeout = 10 * time.Second
)

// Config describes a proxy. Zero values mean defaults.
type Config struct {
	// Target is the host:port that connections accepted on ListenAddr are forwarded to: the
	// fronted member's peer listener. Required.
	Target string
	// ListenAddr is where the forwarding listener binds; "" means 127.0.0.1:0.
	ListenAddr string
	// DialListenAddr is where the HTTP CONNECT listener for the member's outgoing dials binds;
	// "" means 127.0.0.1:0.
	DialListenAddr string
	// Seed seeds the random source of jitter and drop decisions.
	Seed uint64
	// Logger receives fault changes (Info) and per-connection events (Debug); nil discards.
	Logger *slog.Logger
}

// Validate reports every problem with cfg.
func (cfg Config) Validate() error {
	var errs []error
	if cfg.Target == "" {
		errs = append(errs, errors.New("netfault: Config.Target is empty"))
	} else if _, _, err := net.SplitHostPort(cfg.Target); err != nil {
		errs = append(errs, fmt.Errorf("netfault: Config.Target: %w", err))
	}
	return errors.Join(errs...)
}

// fault is the set of faults of one direction.
type fault struct {
	delay, jitter time.Duration
	drop          float64
	blackhole     bool
}

func (f fault) String() string {
	var parts []string
	if f.blackhole {
		parts = append(parts, "blackhole")
	}
	if f.delay > 0 || f.jitter > 0 {
		parts = append(parts, fmt.Sprintf("delay %v+[0,%v)", f.delay, f.jitter))
	}
	if f.drop > 0 {
		parts = append(parts, fmt.Sprintf("drop %.2f", f.drop))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

// DirStats counts what the proxy did with one direction's traffic.
type DirStats struct {
	// ForwardedBytes were written on to the other side.
	ForwardedBytes int64
	// BlackholedBytes were discarded by Blackhole.
	BlackholedBytes int64
	// DroppedConns are connections Drop reset.
	DroppedConns int64
}

// Stats counts what the proxy did since New.
type Stats struct {
	// Accepted counts connections accepted on both listeners.
	Accepted int64
	// Resets counts connections reset by Drop, ResetConns, Heal (damaged ones) or Close.
	Resets int64
	// Rx and Tx are per direction.
	Rx, Tx DirStats
}

// Proxy is a fault-injecting TCP proxy in front of one member. Create it with New; stop it
// with Close.
type Proxy struct {
	cfg    Config
	log    *slog.Logger
	ln     net.Listener
	dialLn net.Listener
	// closeCtx is cancelled by Close; it aborts dials in progress. It is the proxy's lifetime,
	// not a request's.
	closeCtx context.Context
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	once     sync.Once

	mu sync.Mutex
	// guarded by mu
	faults [2]fault
	// peerBlackholes maps a peer address (a CONNECT destination) to the directions
	// BlackholePeer discards on the member's connections to it.
	peerBlackholes map[string]Direction
	rng            *rand.Rand
	links          map[*link]struct{}
	closed         bool
	stats          Stats
}

// New binds both listeners and starts serving them: it starts the proxy's goroutines (see
// the package doc), which Close stops and waits for.
func New(cfg Config) (*Proxy, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.ListenAddr == "" {
		cfg.ListenAddr = "127.0.0.1:0"
	}
	if cfg.DialListenAddr == "" {
		cfg.DialListenAddr = "127.0.0.1:0"
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ln, err := net.Listen("tcp", cfg.ListenAddr)
	if err != nil {
		return nil, fmt.Errorf("netfault: listen: %w", err)
	}
	dialLn, err := net.Listen("tcp", cfg.DialListenAddr)
	if err != nil {
		_ = ln.Close()
		return nil, fmt.Errorf("netfault: listen for dials: %w", err)
	}
	p := &Proxy{
		cfg:    cfg,
		log:    log.With("component", "netfault", "target", cfg.Target),
		ln:     ln,
		dialLn: dialLn,
		rng:    rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15)),
		links:  map[*link]struct{}{},

		peerBlackholes: map[string]Direction{},
	}
	p.closeCtx, p.cancel = context.WithCancel(context.Background())
	p.wg.Add(2)
	go p.acceptLoop(ln, p.forward)
	go p.acceptLoop(dialLn, p.connect)
	return p, nil
}

// Addr returns the forwarding listener's address (host:port): advertise it as the member's
// peer address.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// DialAddr returns the HTTP CONNECT listener's address (host:port), for the member's
// outgoing peer dials (keeld --peer-dial-proxy).
func (p *Proxy) DialAddr() string { return p.dialLn.Addr().String() }

// Target returns the address the forwarding listener forwards to.
func (p *Proxy) Target() string { return p.cfg.Target }

// Delay holds every chunk travelling in dir for d plus a random duration in [0, jitter),
// keeping each connection's byte order. Zero d and jitter remove the delay.
func (p *Proxy) Delay(dir Direction, d, jitter time.Duration) {
	p.set(dir, "delay", func(f *fault) { f.delay, f.jitter = max(d, 0), max(jitter, 0) })
}

// Drop makes each chunk travelling in dir, with probability fraction (clamped to [0, 1]),
// discarded together with its connection, which is reset. Zero removes the fault.
func (p *Proxy) Drop(dir Direction, fraction float64) {
	p.set(dir, "drop", func(f *fault) { f.drop = min(max(fraction, 0), 1) })
}

// Blackhole silently discards every byte travelling in dir, keeping connections open. Heal
// ends it.
func (p *Proxy) Blackhole(dir Direction) {
	p.set(dir, "blackhole", func(f *fault) { f.blackhole = true })
}

// BlackholePeer is Blackhole for the connections the member opens to one peer only: those
// its dials to peerAddr (the host:port it asked the CONNECT listener for, i.e. the peer's
// advertised address) carry. It cuts the member's requests to that peer (Tx) or the peer's
// answers (Rx); the peer's own connections to the member are the peer's proxy's business, so
// a partition between two members takes BlackholePeer on both of their proxies. Calls
// accumulate directions; Heal ends them all.
func (p *Proxy) BlackholePeer(peerAddr string, dir Direction) {
	p.mu.Lock()
	p.peerBlackholes[peerAddr] |= dir & Both
	p.mu.Unlock()
	p.log.Info("fault set", "fault", "blackhole", "peer", peerAddr, "direction", dir.String())
}

func (p *Proxy) set(dir Direction, what string, change func(*fault)) {
	p.mu.Lock()
	for _, d := range dirs {
		if dir&d != 0 {
			change(&p.faults[d.index()])
		}
	}
	rx, tx := p.faults[0], p.faults[1]
	p.mu.Unlock()
	p.log.Info("fault set", "fault", what, "direction", dir.String(), "rx", rx.String(), "tx", tx.String())
}

// Faults describes the faults in force, e.g. "rx: none; tx: blackhole", followed by any
// BlackholePeer ("; peer 127.0.0.1:4001: blackhole rx").
func (p *Proxy) Faults() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := fmt.Sprintf("rx: %v; tx: %v", p.faults[0], p.faults[1])
	peers := make([]string, 0, len(p.peerBlackholes))
	for addr := range p.peerBlackholes {
		peers = append(peers, addr)
	}
	slices.Sort(peers)
	for _, addr := range peers {
		s += fmt.Sprintf("; peer %s: blackhole %v", addr, p.peerBlackholes[addr])
	}
	return s
}

// Heal clears every fault in both directions and resets the connections that lost bytes to
// Blackhole. Chunks already held by a delay are still delivered.
func (p *Proxy) Heal() {
	p.mu.Lock()
	p.faults = [2]fault{}
	clear(p.peerBlackholes)
	var damaged []*link
	for l := range p.links {
		if l.isDamaged() {
			damaged = append(damaged, l)
		}
	}
	p.mu.Unlock()
	for _, l := range damaged {
		p.resetLink(l)
	}
	p.log.Info("healed", "reset_damaged", len(damaged))
}

// ResetConns resets (RST) every open connection through the proxy, on both listeners. New
// connections are accepted as before.
func (p *Proxy) ResetConns() {
	n := p.resetAll()
	p.log.Info("connections reset", "count", n)
}

func (p *Proxy) resetAll() int {
	p.mu.Lock()
	links := make([]*link, 0, len(p.links))
	for l := range p.links {
		links = append(links, l)
	}
	p.mu.Unlock()
	for _, l := range links {
		p.resetLink(l)
	}
	return len(links)
}

// Stats returns counters of what the proxy did since New.
func (p *Proxy) Stats() Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stats
}

// Close stops both listeners, resets every connection and waits for every goroutine of the
// proxy. It is idempotent and returns nil.
func (p *Proxy) Close() error {
	p.once.Do(func() {
		p.mu.Lock()
		p.closed = true
		p.mu.Unlock()
		p.cancel()
		_ = p.ln.Close()
		_ = p.dialLn.Close()
		p.resetAll()
	})
	p.wg.Wait()
	return nil
}

// acceptLoop accepts on ln until it is closed and hands each connection to handle in a new
// goroutine.
func (p *Proxy) acceptLoop(ln net.Listener, handle func(net.Conn)) {
	defer p.wg.Done()
	for {
		c, err := ln.Accept()
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				p.log.Warn("accept failed", "error", err)
			}
			return
		}
		p.mu.Lock()
		p.stats.Accepted++
		p.mu.Unlock()
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			handle(c)
		}()
	}
}

// forward relays a connection accepted on the forwarding listener to the target: the accepted
// side is the remote peer, the dialed side the member.
func (p *Proxy) forward(c net.Conn) {
	up, err := p.dial(p.cfg.Target)
	if err != nil {
		p.log.Debug("target dial failed", "error", err)
		resetConn(c)
		return
	}
	p.relay(newLink(up, c, up, c, ""))
}

func (p *Proxy) dial(addr string) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(p.closeCtx, dialTimeout)
	defer cancel()
	var d net.Dialer
	return d.DialContext(ctx, "tcp", addr)
}

// decision is what to do with one chunk.
type decision struct {
	discard bool          // blackholed: count and drop the bytes
	reset   bool          // dropped: reset the connection
	wait    time.Duration // delay before writing
}

// decide applies dir's faults to a chunk of n bytes of a connection to peer ("" for one to
// the member) and counts the outcome.
func (p *Proxy) decide(dir Direction, peer string, n int) decision {
	p.mu.Lock()
	defer p.mu.Unlock()
	f := p.faults[dir.index()]
	if peer != "" && p.peerBlackholes[peer]&dir != 0 {
		f.blackhole = true
	}
	st := &p.stats.Rx
	if dir == Tx {
		st = &p.stats.Tx
	}
	switch {
	case f.blackhole:
		st.BlackholedBytes += int64(n)
		return decision{discard: true}
	case f.drop > 0 && p.rng.Float64() < f.drop:
		st.DroppedConns++
		return decision{reset: true}
	}
	wait := f.delay
	if f.jitter > 0 {
		wait += time.Duration(p.rng.Int64N(int64(f.jitter)))
	}
	return decision{wait: wait}
}

// blackholed reports whether dir of a connection to peer ("" for one to the member) is
// blackholed now.
func (p *Proxy) blackholed(dir Direction, peer string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.faults[dir.index()].blackhole || (peer != "" && p.peerBlackholes[peer]&dir != 0)
}

// countForwarded adds n forwarded bytes to dir's counters.
func (p *Proxy) countForwarded(dir Direction, n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if dir == Tx {
		p.stats.Tx.ForwardedBytes += int64(n)
	} else {
		p.stats.Rx.ForwardedBytes += int64(n)
	}
}

func (p *Proxy) countReset() {
	p.mu.Lock()
	p.stats.Resets++
	p.mu.Unlock()
}
