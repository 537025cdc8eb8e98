package proxy_test

import (
	"net"
	"strconv"
	"testing"

	"github.com/keeldb/keel/orchestrator/api"
	"github.com/keeldb/keel/orchestrator/internal/poll"
	"github.com/keeldb/keel/orchestrator/registry"
)

// TestServiceAddresses checks the addresses a proxy serves besides the node's: a
// Service's cluster IP and a NodePort Service's node port on the node address (both
// round-robin), and a ClientIP-affine Service keeping one client on one endpoint.
func TestServiceAddresses(t *testing.T) {
	e := newEnv(t)
	const proxyIP = "127.0.0.30"
	e.startProxy(proxyIP)
	backends := backendsOnOnePort(t, []string{"b1", "b2", "b3"}, []string{"127.0.0.31", "127.0.0.32", "127.0.0.33"})
	sub := subset(httpPort(backends[0]), backends)
	create := func(name, typ, clusterIP, affinity string) *api.Service {
		t.Helper()
		e.write(func() error {
			_, err := e.stores.Services.Create(e.ctx, &api.Service{ObjectMeta: api.ObjectMeta{Name: name},
				Spec: api.ServiceSpec{Type: typ, ClusterIP: clusterIP, SessionAffinity: affinity,
					Ports: []api.ServicePort{{Name: "http", Port: freePort(t, proxyIP), TargetPort: api.FromString("http")}}}})
			return err
		}, registry.ErrAlreadyExists)
		out, err := e.stores.Services.Get(e.ctx, "default", name)
		if err != nil {
			t.Fatal(err)
		}
		e.setEndpoints(name, sub)
		return out
	}

	np := create("np", "NodePort", "127.254.77.1", "")
	sticky := create("sticky", "ClusterIP", "127.254.77.2", "ClientIP")
	port := func(s *api.Service) string { return strconv.Itoa(int(s.Spec.Ports[0].Port)) }

	for name, addr := range map[string]string{
		"cluster IP": net.JoinHostPort(np.Spec.ClusterIP, port(np)),
		"node port":  net.JoinHostPort(proxyIP, strconv.Itoa(int(np.Spec.Ports[0].NodePort))),
		"node addr":  net.JoinHostPort(proxyIP, port(np)),
	} {
		t.Run(name+" round robin", func(t *testing.T) {
			poll.Eventually(t, wait, func() error { _, err := request(addr, []byte("hi")); return err })
			got, err := sequence(addr, 6)
			if err != nil {
				t.Fatal(err)
			}
			if err := checkRoundRobin(got, []string{"b1", "b2", "b3"}); err != nil {
				t.Error(err)
			}
		})
	}
	t.Run("client IP affinity", func(t *testing.T) {
		addr := net.JoinHostPort(sticky.Spec.ClusterIP, port(sticky))
		poll.Eventually(t, wait, func() error { _, err := request(addr, []byte("hi")); return err })
		got, err := sequence(addr, 6)
		if err != nil {
			t.Fatal(err)
		}
		for _, g := range got {
			if g != got[0] {
				t.Fatalf("one client reached %v, want one endpoint", got)
			}
		}
	})
}
