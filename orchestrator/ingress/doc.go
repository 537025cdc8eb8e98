// Package ingress is Keel's ingress controller (`orch ingress-controller`): an HTTP (and,
// with Config.ListenTLS, HTTPS) reverse proxy serving the Ingresses (networking.k8s.io/v1)
// of one IngressClass, as ingress-nginx or k3s's Traefik do.
//
// Which Ingresses: those whose spec.ingressClassName is Config.Class, and those without one
// while the IngressClass of that name is annotated
// ingressclass.kubernetes.io/is-default-class: "true" (Served). At start the controller
// creates that IngressClass, marked default, when it does not exist.
//
// Routing is a pure function: Build(ingresses, services, endpoints) returns an immutable
// Router (but for its round-robin counters), rebuilt by one goroutine after every change
// the informers report and swapped in atomically, so requests never wait on the store.
// Router.Route documents the precedence (exact host, then "*.parent" wildcard, then rules
// without host; Exact path, then the longest Prefix by path element; the oldest Ingress on
// a tie; then the default backend). Requests are proxied with net/http/httputil's
// ReverseProxy, keeping the Host header and setting X-Forwarded-For/Host/Proto, to the next
// ready endpoint of the backend; no matching rule gives 404, no ready endpoint 503, a
// failed backend connection 502. BuildCertificates likewise maps TLS server names to the
// key pairs of the served Ingresses' TLS Secrets.
//
// Status: the served Ingresses get status.loadBalancer.ingress [{ip: <listen IP>}],
// retried every second while a write fails.
//
// Concurrency: Run owns every goroutine (the informers, the HTTP servers, the rebuild loop)
// and joins them before returning; ServeHTTP is safe for concurrent use.
//
// Not here: annotations (rewrites, redirects, auth), HTTP to HTTPS redirects, a fake default
// certificate, EndpointSlices, several controllers electing one status writer.
package ingress
