package proxy

import (
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"time"
)

// handle forwards client to the next ready endpoint of l's service port, trying the
// following ones when a connection attempt fails, and closes client when none accepts. It
// returns when both directions are done or ctx ends.
func (p *Proxy) handle(ctx context.Context, l *listener, client net.Conn) {
	defer client.Close()
	addrs := p.backends(l.key)
	if len(addrs) == 0 {
		p.log.Debug("no ready endpoints", "service", l.key.serviceKey(), "port_name", l.key.port)
		return
	}
	var akey affinityKey
	if l.affinity > 0 {
		host, _, _ := net.SplitHostPort(client.RemoteAddr().String())
		akey = affinityKey{port: l.key, client: host}
		addrs = p.sticky.order(akey, addrs, time.Now())
	} else {
		start := int((l.next.Add(1) - 1) % uint64(len(addrs)))
		addrs = append(addrs[start:len(addrs):len(addrs)], addrs[:start]...)
	}
	var backend net.Conn
	for _, addr := range addrs {
		d := net.Dialer{Timeout: dialTimeout}
		c, err := d.DialContext(ctx, "tcp", addr)
		if err == nil {
			backend = c
			if l.affinity > 0 {
				p.sticky.record(akey, addr, time.Now(), l.affinity)
			}
			break
		}
		p.log.Debug("endpoint dial failed", "service", l.key.serviceKey(), "port_name", l.key.port, "err", err)
	}
	if backend == nil {
		return
	}
	defer backend.Close()
	stop := context.AfterFunc(ctx, func() {
		_ = client.Close()
		_ = backend.Close()
	})
	defer stop()
	splice(client, backend)
}

// splice copies bytes both ways between a and b until both directions are done. The end
// of one direction (EOF) is passed on as a half-close, so a peer that closes its sending
// side still gets the reply; an error in one direction closes both connections.
func splice(a, b net.Conn) {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		copyHalf(b, a)
	}()
	copyHalf(a, b)
	wg.Wait()
}

// copyHalf copies src to dst, then half-closes dst; on an error it closes both.
func copyHalf(dst, src net.Conn) {
	if _, err := io.Copy(dst, src); err != nil {
		_ = dst.Close()
		_ = src.Close()
		return
	}
	if err := closeWrite(dst); err != nil && !errors.Is(err, net.ErrClosed) {
		_ = dst.Close()
		_ = src.Close()
	}
}

func closeWrite(c net.Conn) error {
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return c.Close()
}
