package proxy

import (
	"context"
	"hash/fnv"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/keeldb/keel/orchestrator/api"
)

// listenKey is one address the proxy serves for one service port.
type listenKey struct {
	portKey
	addr string // "ip:port"
}

// serviceListens returns the addresses the proxy on the node with address nodeAddr serves
// for svc, with each port's ClientIP affinity timeout: for every TCP port, ClusterIP:port,
// nodeAddr:port (Keel's node-local service address, the only one before cluster IPs, and
// the LoadBalancer address as k3s's ServiceLB serves it) and, for NodePort and LoadBalancer
// Services, nodeAddr:nodePort. Headless and ExternalName Services are not proxied. An empty
// nodeAddr means every address (listen on ":port").
func serviceListens(svc *api.Service, nodeAddr string) map[listenKey]time.Duration {
	out := map[listenKey]time.Duration{}
	s := &svc.Spec
	if s.ClusterIP == api.ClusterIPNone || s.Type == api.ServiceTypeExternalName {
		return out
	}
	affinity := time.Duration(s.AffinityTimeoutSeconds()) * time.Second
	for _, sp := range s.Ports {
		if protocolOr(sp.Protocol) != "TCP" {
			continue
		}
		pk := portKey{svc.Namespace, svc.Name, sp.Name}
		add := func(host string, port int32) {
			out[listenKey{pk, net.JoinHostPort(host, strconv.Itoa(int(port)))}] = affinity
		}
		if _, err := netip.ParseAddr(s.ClusterIP); err == nil {
			add(s.ClusterIP, sp.Port)
		}
		add(nodeAddr, sp.Port)
		if s.NeedsNodePorts() && sp.NodePort != 0 {
			add(nodeAddr, sp.NodePort)
		}
	}
	return out
}

// listen opens a TCP listener on addr. Cluster IP addresses (any address but the node's)
// are shared by the proxies of every agent on one host: they listen with SO_REUSEPORT and
// the kernel spreads connections over them; all see the same Services and Endpoints, so
// any of them forwards alike.
func listen(ctx context.Context, addr string, shared bool) (net.Listener, error) {
	lc := net.ListenConfig{}
	if shared {
		lc.Control = func(_, _ string, c syscall.RawConn) error {
			var serr error
			err := c.Control(func(fd uintptr) {
				serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
			})
			if err != nil {
				return err
			}
			return serr
		}
	}
	return lc.Listen(ctx, "tcp", addr)
}

// affinity remembers, per service port and client IP, the endpoint a ClientIP-affine
// Service sent the client to, until timeout after its last connection. It is safe for
// concurrent use.
type affinity struct {
	mu sync.Mutex
	// byClient is guarded by mu.
	byClient map[affinityKey]affinityEntry
}

type affinityKey struct {
	port   portKey
	client string
}

type affinityEntry struct {
	backend string
	expires time.Time
}

// order returns addrs in the order to try for a connection from client: the remembered
// endpoint first when it is still ready, else starting at a hash of the client IP, so that
// the proxies of all nodes (sharing one cluster IP) pick the same endpoint for a client.
func (a *affinity) order(key affinityKey, addrs []string, now time.Time) []string {
	a.mu.Lock()
	e, ok := a.byClient[key]
	a.mu.Unlock()
	start := -1
	if ok && now.Before(e.expires) {
		for i, addr := range addrs {
			if addr == e.backend {
				start = i
			}
		}
	}
	if start < 0 {
		h := fnv.New32a()
		_, _ = h.Write([]byte(key.client))
		start = int(h.Sum32() % uint32(len(addrs)))
	}
	out := make([]string, 0, len(addrs))
	for i := range addrs {
		out = append(out, addrs[(start+i)%len(addrs)])
	}
	return out
}

// record remembers that client's connection went to backend, and drops expired entries.
func (a *affinity) record(key affinityKey, backend string, now time.Time, timeout time.Duration) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.byClient == nil {
		a.byClient = map[affinityKey]affinityEntry{}
	}
	for k, e := range a.byClient {
		if !now.Before(e.expires) {
			delete(a.byClient, k)
		}
	}
	a.byClient[key] = affinityEntry{backend: backend, expires: now.Add(timeout)}
}
