package proxy_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/keeldb/keel/orchestrator/api"
	"github.com/keeldb/keel/orchestrator/controller/endpoints"
	"github.com/keeldb/keel/orchestrator/internal/poll"
	"github.com/keeldb/keel/orchestrator/registry"
)

// TestWithEndpointsController wires the endpoints controller and the proxy: pods whose
// status an "agent" (the test) sets are published by the controller, and HTTP requests to
// the proxy reach the ready pods' servers.
func TestWithEndpointsController(t *testing.T) {
	e := newEnv(t)
	ctx := e.ctx
	done := make(chan error, 1)
	cctx, cancel := context.WithCancel(ctx)
	go func() { done <- endpoints.Run(cctx, e.cli, endpoints.Config{}) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("endpoints.Run: %v", err)
		}
	})
	const proxyIP = "127.0.0.40"
	e.startProxy(proxyIP)

	// One HTTP server per pod, each on its own address and port: the service's named
	// targetPort resolves to a different number per pod.
	app := map[string]string{"app": "web"}
	for i := range 3 {
		name := fmt.Sprintf("web-%d", i)
		ip := fmt.Sprintf("127.0.0.%d", 41+i)
		ln, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			_, _ = io.WriteString(w, name)
		}))
		_ = srv.Listener.Close()
		srv.Listener = ln
		srv.Start()
		t.Cleanup(srv.Close)
		port := int32(ln.Addr().(*net.TCPAddr).Port)
		e.write(func() error {
			_, err := e.stores.Pods.Create(ctx, &api.Pod{ObjectMeta: api.ObjectMeta{Name: name, Labels: app},
				Spec: api.PodSpec{NodeName: "n1", Containers: []api.Container{{Name: "srv", Image: "img",
					Ports: []api.ContainerPort{{Name: "http", ContainerPort: port}}}}}})
			return err
		}, registry.ErrAlreadyExists)
		e.setPodStatus(name, ip, i < 2) // web-2 is not ready yet
	}
	port := freePort(t, proxyIP)
	e.createService("web", app, api.ServicePort{Name: "http", Port: port, TargetPort: api.FromString("http")})

	tr := &http.Transport{DisableKeepAlives: true}
	t.Cleanup(tr.CloseIdleConnections)
	client := &http.Client{Transport: tr}
	url := "http://" + net.JoinHostPort(proxyIP, strconv.Itoa(int(port))) + "/"
	get := func() (string, error) {
		resp, err := client.Get(url)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return string(b), err
	}
	sequence := func(n int) ([]string, error) {
		var out []string
		for range n {
			name, err := get()
			if err != nil {
				return out, err
			}
			out = append(out, name)
		}
		return out, nil
	}

	poll.Eventually(t, wait, func() error {
		got, err := sequence(4)
		if err != nil {
			return err
		}
		return checkRoundRobin(got, []string{"web-0", "web-1"})
	})
	e.setPodStatus("web-2", "127.0.0.43", true)
	poll.Eventually(t, wait, func() error {
		got, err := sequence(6)
		if err != nil {
			return err
		}
		return checkRoundRobin(got, []string{"web-0", "web-1", "web-2"})
	})
}
