package orche2e_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"strings"
	"testing"
	"time"
)

// ingressApp is a Service web-<name> on port 80 in front of a Deployment of replicas
// hello-servers, as plain Kubernetes YAML.
func ingressApp(name string, replicas int) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Service
metadata:
  name: web-%[1]s
spec:
  selector: {app: web-%[1]s}
  ports:
  - name: http
    port: 80
    targetPort: 8080
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web-%[1]s
spec:
  replicas: %[2]d
  selector:
    matchLabels: {app: web-%[1]s}
  template:
    metadata:
      labels: {app: web-%[1]s}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: web
        image: keel/hello:1
        command: ["orch", "hello-server", "--listen", "$(POD_IP):8080"]
        env:
        - name: POD_IP
          valueFrom: {fieldRef: {fieldPath: status.podIP}}
        readinessProbe:
          httpGet: {path: /healthz, port: 8080}
          periodSeconds: 1
---
`, name, replicas)
}

// ingressManifest routes shop.example.com to web-a, but /cart (and below) to web-b, every
// subdomain of example.com to web-b, and /down on any other host to a Service without
// endpoints; shop.example.com also over HTTPS, with the certificate of Secret shop-tls.
// It names no class: the default IngressClass "keel" serves it.
const ingressManifest = `apiVersion: v1
kind: Service
metadata:
  name: web-down
spec:
  selector: {app: nothing}
  ports:
  - port: 80
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: shop
spec:
  tls:
  - hosts: [shop.example.com]
    secretName: shop-tls
  rules:
  - host: shop.example.com
    http:
      paths:
      - path: /
        pathType: Prefix
        backend:
          service: {name: web-a, port: {number: 80}}
      - path: /cart
        pathType: Prefix
        backend:
          service: {name: web-b, port: {name: http}}
  - host: "*.example.com"
    http:
      paths:
      - path: /
        pathType: ImplementationSpecific
        backend:
          service: {name: web-b, port: {number: 80}}
  - http:
      paths:
      - path: /down
        pathType: Exact
        backend:
          service: {name: web-down, port: {number: 80}}
`

// TestIngress runs keeld, a scheduler, a controller-manager, two process-mode agents and
// `orch ingress-controller`, applies two Deployments of hello-servers with their Services
// and an Ingress (ctl apply -f), and checks the controller routes by host and path to
// every ready pod of the right Service, answers 404 for an unknown host and 503 for a
// Service without ready endpoints, serves shop.example.com over HTTPS with the certificate
// of its TLS Secret (--listen-tls), and writes its address into the Ingress's status.
func TestIngress(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a whole cluster of processes")
	}
	s := newSystem(t)
	s.start("s1", "scheduler", "--id", "s1")
	s.start("cm1", "controller-manager", "--id", "cm1")
	for i := 1; i <= 2; i++ {
		s.startAgent(i)
	}
	listen := fmt.Sprintf("127.%d.1.100:8080", s.net)
	listenTLS := fmt.Sprintf("127.%d.1.100:8443", s.net)
	s.start("ing", "ingress-controller", "--listen", listen, "--listen-tls", listenTLS)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	waitFor(t, ctx, "2 nodes Ready", 60*time.Second, func() error { return s.nodesReady(ctx, 2) })
	waitFor(t, ctx, "the default IngressClass keel", 30*time.Second, func() error {
		out, err := s.ctl("get", "ingressclasses")
		if err != nil || !strings.Contains(out, "keel.dev/ingress-controller") {
			return fmt.Errorf("get ingressclasses: %q (%v)", out, err)
		}
		return nil
	})

	crt, key := selfSigned(t, "shop.example.com")
	indent := func(pem []byte) string { return strings.ReplaceAll(strings.TrimSpace(string(pem)), "\n", "\n    ") }
	tlsSecret := fmt.Sprintf("apiVersion: v1\nkind: Secret\nmetadata: {name: shop-tls}\ntype: kubernetes.io/tls\n"+
		"stringData:\n  tls.crt: |\n    %s\n  tls.key: |\n    %s\n---\n", indent(crt), indent(key))
	s.applyManifest(t, "ingress.yaml", ingressApp("a", 2)+ingressApp("b", 1)+tlsSecret+ingressManifest)
	ip := strings.Split(listen, ":")[0]
	waitFor(t, ctx, "the Ingress's address", 30*time.Second, func() error {
		out, err := s.ctl("get", "ing")
		if err != nil || !strings.Contains(out, ip) || !strings.Contains(out, "shop.example.com,*.example.com") {
			return fmt.Errorf("get ing: %q (%v)", out, err)
		}
		return nil
	})
	t.Logf("get ing:\n%s", s.mustCtl("get", "ing"))

	base := "http://" + listen
	for _, tc := range []struct {
		app      string
		n        int
		host, pa string
	}{
		{"web-a", 2, "shop.example.com", "/"},
		{"web-a", 2, "shop.example.com", "/carts"}, // prefixes match whole path elements
		{"web-b", 1, "shop.example.com", "/cart/items"},
		{"web-b", 1, "any.example.com", "/"},
	} {
		waitFor(t, ctx, fmt.Sprintf("%s%s reaches every ready %s pod", tc.host, tc.pa, tc.app), 60*time.Second,
			func() error { return s.reachesAllVia(ctx, tc.app, tc.n, base+tc.pa, tc.host) })
	}
	for _, tc := range []struct {
		host, pa string
		code     int
	}{
		{"unknown.io", "/", http.StatusNotFound},
		{"unknown.io", "/down", http.StatusServiceUnavailable},
	} {
		code, _, err := get(base+tc.pa, tc.host)
		if err != nil || code != tc.code {
			t.Errorf("%s%s: status %d (%v), want %d", tc.host, tc.pa, code, err, tc.code)
		}
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(crt)
	hc := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true,
		TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "shop.example.com"}}}
	waitFor(t, ctx, "HTTPS to shop.example.com reaches web-a", 30*time.Second, func() error {
		req, err := http.NewRequest(http.MethodGet, "https://"+listenTLS+"/", nil)
		if err != nil {
			return err
		}
		req.Host = "shop.example.com"
		resp, err := hc.Do(req)
		if err != nil {
			return err
		}
		defer func() { _ = resp.Body.Close() }()
		b, err := io.ReadAll(resp.Body)
		if err != nil || resp.StatusCode != http.StatusOK || !strings.Contains(string(b), "hello from web-a-") {
			return fmt.Errorf("status %d: %q (%v)", resp.StatusCode, b, err)
		}
		return nil
	})

	out := s.mustCtl("describe", "ingress", "shop")
	if !strings.Contains(out, "web-b:http (127.") || !strings.Contains(out, "web-down:80 (<none>)") {
		t.Errorf("describe ingress shop:\n%s", out)
	}
}

// get sends GET url with Host host, on a new connection.
func get(url, host string) (int, string, error) {
	hc := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return 0, "", err
	}
	req.Host = host
	resp, err := hc.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// reachesAllVia checks that requests to url with Host host reach each of the n ready pods
// labelled app, and no other.
func (s *system) reachesAllVia(ctx context.Context, app string, n int, url, host string) error {
	pods, err := s.appPods(ctx, app)
	if err != nil {
		return err
	}
	want := map[string]bool{}
	for _, p := range pods {
		if podReady(p) {
			want[p.Name] = true
		}
	}
	if len(want) != n {
		return fmt.Errorf("%d ready %s pods, want %d", len(want), app, n)
	}
	seen := map[string]bool{}
	for range 4 * n {
		code, body, err := get(url, host)
		if err != nil {
			return err
		}
		if code != http.StatusOK {
			return fmt.Errorf("status %d: %q", code, body)
		}
		name := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(body), "hello from "))
		if !want[name] {
			return fmt.Errorf("reached %q, not a ready %s pod", name, app)
		}
		seen[name] = true
	}
	if len(seen) != n {
		return fmt.Errorf("reached %v, want every one of %v", seen, want)
	}
	return nil
}

// selfSigned returns the PEM certificate and key of a self-signed certificate for host.
func selfSigned(t *testing.T, host string) (crt, key []byte) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: host}, DNSNames: []string{host},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	kd, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kd})
}
