package proxy_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/keeldb/keel/internal/testcluster"
	"github.com/keeldb/keel/orchestrator/api"
	"github.com/keeldb/keel/orchestrator/internal/poll"
	"github.com/keeldb/keel/orchestrator/proxy"
	"github.com/keeldb/keel/orchestrator/registry"
)

const wait = 30 * time.Second

type env struct {
	t      *testing.T
	logs   *syncBuffer // the proxy's log
	ctx    context.Context
	cli    *clientv3.Client
	stores *registry.Stores
}

func newEnv(t *testing.T) *env {
	c := testcluster.Start(t, 3)
	cli := c.Client()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return &env{t: t, ctx: ctx, cli: cli, stores: registry.NewStores(cli, registry.Config{}), logs: &syncBuffer{}}
}

// syncBuffer is a bytes.Buffer safe for concurrent use.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// startProxy runs a proxy on ip until stop is called or the test ends, then checks that
// Run returned nil.
func (e *env) startProxy(ip string) (stop func()) {
	ctx, cancel := context.WithCancel(e.ctx)
	done := make(chan error, 1)
	log := slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	go func() { done <- proxy.Run(ctx, e.cli, proxy.Config{Address: ip, Logger: log}) }()
	t := e.t
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// write runs fn until it succeeds or fails with one of done, retrying other errors (on a
// loaded machine a write may fail with "leader changed" after having applied).
func (e *env) write(fn func() error, done ...error) {
	e.t.Helper()
	poll.Eventually(e.t, wait, func() error {
		err := fn()
		for _, d := range done {
			if errors.Is(err, d) {
				return nil
			}
		}
		return err
	})
}

// createService creates a Service; with a nil selector its Endpoints are the test's to
// write.
func (e *env) createService(name string, selector map[string]string, ports ...api.ServicePort) {
	e.t.Helper()
	e.write(func() error {
		_, err := e.stores.Services.Create(e.ctx, &api.Service{ObjectMeta: api.ObjectMeta{Name: name},
			Spec: api.ServiceSpec{Selector: selector, Ports: ports}})
		return err
	}, registry.ErrAlreadyExists)
}

// setEndpoints creates or replaces the Endpoints name.
func (e *env) setEndpoints(name string, subsets ...api.EndpointSubset) {
	e.t.Helper()
	e.write(func() error {
		_, err := e.stores.Endpoints.GuaranteedUpdate(e.ctx, "default", name, func(cur *api.Endpoints) (*api.Endpoints, error) {
			cur.Subsets = subsets
			return cur, nil
		})
		if errors.Is(err, registry.ErrNotFound) {
			_, err = e.stores.Endpoints.Create(e.ctx, &api.Endpoints{ObjectMeta: api.ObjectMeta{Name: name}, Subsets: subsets})
		}
		return err
	})
}

// setPodStatus reports the pod Running with ip, Ready or not, as a node agent would.
func (e *env) setPodStatus(name, ip string, ready bool) {
	e.t.Helper()
	cond := api.ConditionFalse
	if ready {
		cond = api.ConditionTrue
	}
	p := &api.Pod{ObjectMeta: api.ObjectMeta{Namespace: "default", Name: name},
		Status: api.PodStatus{Phase: api.PodRunning, PodIP: ip, PodIPs: []api.PodIP{{IP: ip}},
			Conditions: []api.PodCondition{{Type: "Ready", Status: cond}}}}
	e.write(func() error { _, err := e.stores.Pods.UpdateStatus(e.ctx, p); return err })
}

// backend is a TCP server on a loopback address: it reads a request until the client's
// half-close, answers "<name>\n<request>" and closes.
type backend struct {
	name string
	ln   net.Listener
	hits atomic.Int64
}

func (b *backend) addr() (ip string, port int32) {
	a := b.ln.Addr().(*net.TCPAddr)
	return a.IP.String(), int32(a.Port)
}

// startBackend listens on ip:port (port 0: any) and serves until the test ends.
func startBackend(t *testing.T, name, ip string, port int32) (*backend, error) {
	ln, err := net.Listen("tcp", net.JoinHostPort(ip, strconv.Itoa(int(port))))
	if err != nil {
		return nil, err
	}
	b := &backend{name: name, ln: ln}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(wait))
				req, err := io.ReadAll(c)
				if err != nil {
					return
				}
				b.hits.Add(1)
				_, _ = c.Write(append([]byte(name+"\n"), req...))
			}()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		wg.Wait()
	})
	return b, nil
}

// backendsOnOnePort starts one backend per ip, all on the same port number.
func backendsOnOnePort(t *testing.T, names, ips []string) []*backend {
	t.Helper()
	for try := 0; try < 20; try++ {
		first, err := startBackend(t, names[0], ips[0], 0)
		if err != nil {
			t.Fatal(err)
		}
		_, port := first.addr()
		out := []*backend{first}
		for i := 1; i < len(ips); i++ {
			b, err := startBackend(t, names[i], ips[i], port)
			if err != nil {
				break // port taken on that address: try another
			}
			out = append(out, b)
		}
		if len(out) == len(ips) {
			return out
		}
		for _, b := range out {
			_ = b.ln.Close()
		}
	}
	t.Fatal("no port free on every address")
	return nil
}

// freePort returns a port number free on ip at the time of the call.
func freePort(t *testing.T, ip string) int32 {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return int32(ln.Addr().(*net.TCPAddr).Port)
}

// request sends msg to addr, half-closes, and returns the name of the backend that
// answered, checking that it echoed msg.
func request(addr string, msg []byte) (string, error) {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write(msg); err != nil {
		return "", err
	}
	if err := c.(*net.TCPConn).CloseWrite(); err != nil {
		return "", err
	}
	resp, err := io.ReadAll(c)
	if err != nil {
		return "", err
	}
	name, echo, ok := bytes.Cut(resp, []byte("\n"))
	if !ok || !bytes.Equal(echo, msg) {
		return "", fmt.Errorf("bad response of %d bytes (%q...)", len(resp), resp[:min(len(resp), 40)])
	}
	return string(name), nil
}

// sequence makes n sequential requests and returns who answered.
func sequence(addr string, n int) ([]string, error) {
	var out []string
	for i := range n {
		name, err := request(addr, []byte(fmt.Sprintf("req-%d", i)))
		if err != nil {
			return out, err
		}
		out = append(out, name)
	}
	return out, nil
}

func subset(port api.EndpointPort, ready []*backend, notReady ...*backend) api.EndpointSubset {
	s := api.EndpointSubset{Ports: []api.EndpointPort{port}}
	for _, b := range ready {
		ip, _ := b.addr()
		s.Addresses = append(s.Addresses, api.EndpointAddress{IP: ip})
	}
	for _, b := range notReady {
		ip, _ := b.addr()
		s.NotReadyAddresses = append(s.NotReadyAddresses, api.EndpointAddress{IP: ip})
	}
	return s
}

func httpPort(b *backend) api.EndpointPort {
	_, port := b.addr()
	return api.EndpointPort{Name: "http", Port: port, Protocol: "TCP"}
}

// checkRoundRobin checks that every window of len(want) consecutive answers holds each of
// want once.
func checkRoundRobin(got, want []string) error {
	n := len(want)
	for i := 0; i+n <= len(got); i++ {
		seen := map[string]bool{}
		for _, name := range got[i : i+n] {
			seen[name] = true
		}
		for _, w := range want {
			if !seen[w] {
				return fmt.Errorf("answers %v: window %v misses %s", got, got[i:i+n], w)
			}
		}
	}
	return nil
}

func TestProxy(t *testing.T) {
	e := newEnv(t)
	const proxyIP = "127.0.0.20"
	e.startProxy(proxyIP)

	// b1 and b2 share a subset (one port number on two addresses), b3 has its own; nr is
	// not ready and must never be reached.
	shared := backendsOnOnePort(t, []string{"b1", "b2"}, []string{"127.0.0.21", "127.0.0.22"})
	b1 := shared[0]
	b3, err := startBackend(t, "b3", "127.0.0.23", 0)
	if err != nil {
		t.Fatal(err)
	}
	nr, err := startBackend(t, "nr", "127.0.0.24", 0)
	if err != nil {
		t.Fatal(err)
	}
	port := freePort(t, proxyIP)
	addr := net.JoinHostPort(proxyIP, strconv.Itoa(int(port)))
	e.createService("rr", nil, api.ServicePort{Name: "http", Port: port, TargetPort: api.FromString("http")},
		api.ServicePort{Name: "other", Port: freePort(t, proxyIP)})
	e.setEndpoints("rr", subset(httpPort(b1), shared), subset(httpPort(b3), []*backend{b3}, nr))

	t.Run("round robin over ready endpoints", func(t *testing.T) {
		poll.Eventually(t, wait, func() error { _, err := request(addr, []byte("hello")); return err })
		got, err := sequence(addr, 9)
		if err != nil {
			t.Fatal(err)
		}
		if err := checkRoundRobin(got, []string{"b1", "b2", "b3"}); err != nil {
			t.Error(err)
		}
		if n := nr.hits.Load(); n != 0 {
			t.Errorf("not-ready endpoint reached %d times", n)
		}
	})

	t.Run("large payload both ways with half-close", func(t *testing.T) {
		msg := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
		if _, err := request(addr, msg); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("endpoints update applies to new connections", func(t *testing.T) {
		e.t = t
		e.setEndpoints("rr", subset(httpPort(b1), []*backend{b1}), subset(httpPort(b3), []*backend{b3}))
		poll.Eventually(t, wait, func() error {
			got, err := sequence(addr, 4)
			if err != nil {
				return err
			}
			return checkRoundRobin(got, []string{"b1", "b3"})
		})
	})

	t.Run("removed endpoint finishes its connection in progress", func(t *testing.T) {
		// A terminating pod leaves the Endpoints first: new connections stop reaching it
		// while the one in flight completes (graceful termination behind a Service).
		e.t = t
		e.setEndpoints("rr", subset(httpPort(b1), []*backend{b1}))
		poll.Eventually(t, wait, func() error {
			got, err := sequence(addr, 2)
			if err != nil {
				return err
			}
			return checkRoundRobin(got, []string{"b1"})
		})
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(20 * time.Second))
		if _, err := c.Write([]byte("in-")); err != nil {
			t.Fatal(err)
		}
		e.setEndpoints("rr", subset(httpPort(b3), []*backend{b3}))
		poll.Eventually(t, wait, func() error {
			got, err := sequence(addr, 2)
			if err != nil {
				return err
			}
			return checkRoundRobin(got, []string{"b3"})
		})
		if _, err := c.Write([]byte("flight")); err != nil {
			t.Fatal(err)
		}
		if err := c.(*net.TCPConn).CloseWrite(); err != nil {
			t.Fatal(err)
		}
		resp, err := io.ReadAll(c)
		if err != nil || string(resp) != "b1\nin-flight" {
			t.Fatalf("connection in progress: %q, %v; want b1 to finish it", resp, err)
		}
	})

	t.Run("dead endpoint is skipped", func(t *testing.T) {
		e.t = t
		// A fresh live backend shows when the proxy has seen the update.
		b5, err := startBackend(t, "b5", "127.0.0.25", 0)
		if err != nil {
			t.Fatal(err)
		}
		deadPort := freePort(t, "127.0.0.26")
		dead := api.EndpointSubset{Addresses: []api.EndpointAddress{{IP: "127.0.0.26"}},
			Ports: []api.EndpointPort{{Name: "http", Port: deadPort}}}
		e.setEndpoints("rr", dead, subset(httpPort(b5), []*backend{b5}), subset(httpPort(b1), []*backend{b1}))
		poll.Eventually(t, wait, func() error {
			got, err := sequence(addr, 2)
			if err != nil {
				return err
			}
			return checkRoundRobin(got, []string{"b1", "b5"})
		})
		got, err := sequence(addr, 12)
		if err != nil {
			t.Fatalf("request failed despite live endpoints: %v (answers so far %v)", err, got)
		}
		if !slices.Contains(got, "b5") || !slices.Contains(got, "b1") {
			t.Errorf("answers %v, want both live endpoints", got)
		}
	})

	t.Run("no ready endpoint closes the client", func(t *testing.T) {
		e.t = t
		e.setEndpoints("rr", subset(httpPort(b3), nil, b3))
		poll.Eventually(t, wait, func() error {
			name, err := request(addr, []byte("x"))
			if err == nil {
				return fmt.Errorf("answered by %s", name)
			}
			return nil
		})
	})

	t.Run("busy port is retried", func(t *testing.T) {
		e.t = t
		busyPort := freePort(t, proxyIP)
		busy, err := net.Listen("tcp", net.JoinHostPort(proxyIP, strconv.Itoa(int(busyPort))))
		if err != nil {
			t.Fatal(err)
		}
		defer busy.Close()
		// An unnamed single port matches the unnamed endpoint port.
		e.createService("busy", nil, api.ServicePort{Port: busyPort, TargetPort: api.FromInt(1)})
		_, p3 := b3.addr()
		e.setEndpoints("busy", api.EndpointSubset{Addresses: []api.EndpointAddress{{IP: "127.0.0.23"}},
			Ports: []api.EndpointPort{{Port: p3}}})
		busyAddr := net.JoinHostPort(proxyIP, strconv.Itoa(int(busyPort)))
		poll.Eventually(t, wait, func() error {
			if !strings.Contains(e.logs.String(), "listen failed") {
				return errors.New("no listen failure logged yet")
			}
			return nil
		})
		_ = busy.Close()
		poll.Eventually(t, wait, func() error {
			name, err := request(busyAddr, []byte("late"))
			if err != nil {
				return err
			}
			if name != "b3" {
				return fmt.Errorf("answered by %s, want b3", name)
			}
			return nil
		})

		// Renumbering the port moves the listener.
		newPort := freePort(t, proxyIP)
		e.write(func() error {
			_, err := e.stores.Services.GuaranteedUpdate(e.ctx, "default", "busy", func(s *api.Service) (*api.Service, error) {
				s.Spec.Ports[0].Port = newPort
				return s, nil
			})
			return err
		})
		newAddr := net.JoinHostPort(proxyIP, strconv.Itoa(int(newPort)))
		poll.Eventually(t, wait, func() error { _, err := request(newAddr, []byte("moved")); return err })
		poll.Eventually(t, wait, func() error {
			if _, err := request(busyAddr, []byte("x")); err == nil {
				return fmt.Errorf("old port %d still proxied", busyPort)
			}
			return nil
		})
	})

	t.Run("stopping closes connections in progress", func(t *testing.T) {
		e.t = t
		const ip2 = "127.0.0.27"
		stop := e.startProxy(ip2)
		port2 := freePort(t, ip2)
		e.createService("hold", nil, api.ServicePort{Port: port2})
		_, p1 := b1.addr()
		e.setEndpoints("hold", api.EndpointSubset{Addresses: []api.EndpointAddress{{IP: "127.0.0.21"}},
			Ports: []api.EndpointPort{{Port: p1}}})
		addr2 := net.JoinHostPort(ip2, strconv.Itoa(int(port2)))
		poll.Eventually(t, wait, func() error { _, err := request(addr2, []byte("x")); return err })
		// b1 waits for the half-close that never comes: the connection stays open.
		c, err := net.Dial("tcp", addr2)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := c.Write([]byte("pending")); err != nil {
			t.Fatal(err)
		}
		stop() // returns only once every proxied connection is closed
		_ = c.SetReadDeadline(time.Now().Add(wait))
		if n, err := c.Read(make([]byte, 1)); err == nil {
			t.Errorf("read %d bytes from a connection the stopped proxy should have closed", n)
		}
	})

	t.Run("service deletion closes the listener", func(t *testing.T) {
		e.t = t
		e.setEndpoints("rr", subset(httpPort(b1), []*backend{b1}))
		poll.Eventually(t, wait, func() error { _, err := request(addr, []byte("x")); return err })
		e.write(func() error {
			_, err := e.stores.Services.Delete(e.ctx, "default", "rr", registry.DeleteOptions{})
			return err
		}, registry.ErrNotFound)
		poll.Eventually(t, wait, func() error {
			c, err := net.DialTimeout("tcp", addr, time.Second)
			if err != nil {
				return nil // refused: no listener
			}
			c.Close()
			return fmt.Errorf("%s still accepts connections", addr)
		})
	})
}
