package ingress

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/keeldb/keel/orchestrator/api"
)

// TestServeHTTP checks the controller's answers: a proxied request keeps its Host and gets
// X-Forwarded-For; no rule gives 404, a backend without ready endpoints 503.
func TestServeHTTP(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, r.Host+" "+r.URL.Path+" "+r.Header.Get("X-Forwarded-For"))
	}))
	defer backend.Close()
	host, port, _ := net.SplitHostPort(backend.Listener.Addr().String())
	p, _ := strconv.Atoi(port)
	svc := &api.Service{ObjectMeta: api.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: api.ServiceSpec{Ports: []api.ServicePort{{Port: 80}}}}
	ep := &api.Endpoints{ObjectMeta: api.ObjectMeta{Name: "web", Namespace: "default"},
		Subsets: []api.EndpointSubset{{Addresses: []api.EndpointAddress{{IP: host}}, Ports: []api.EndpointPort{{Port: int32(p)}}}}}
	c := New(nil, Config{})
	c.router.Store(Build([]*api.Ingress{ing("a", 1, "", rule("shop.io", path("/", "Prefix", "web"), path("/down", "Prefix", "down")))},
		[]*api.Service{svc}, []*api.Endpoints{ep}))
	front := httptest.NewServer(c)
	defer front.Close()
	for _, tc := range []struct {
		host, path string
		code       int
		body       string
	}{
		{"shop.io", "/cart", http.StatusOK, "shop.io /cart 127.0.0.1"},
		{"other.io", "/", http.StatusNotFound, "default backend - 404"},
		{"shop.io", "/down/x", http.StatusServiceUnavailable, "503 Service Temporarily Unavailable"},
	} {
		req, err := http.NewRequest(http.MethodGet, front.URL+tc.path, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Host = tc.host
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if resp.StatusCode != tc.code || strings.TrimSpace(string(b)) != tc.body {
			t.Errorf("%s%s: %d %q, want %d %q", tc.host, tc.path, resp.StatusCode, b, tc.code, tc.body)
		}
	}
}
