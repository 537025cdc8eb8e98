// Package proxy is Keel's service proxy: a userspace load balancer in the spirit of
// Kubernetes' removed userspace kube-proxy mode, run by each node agent.
//
// For every TCP port of every Service (headless Services, clusterIP None, and ExternalName
// ones excepted) it listens on the Service's cluster IP at the port (cluster IPs are in
// 127.0.0.0/8, so bindable on one host without setup; the proxies of several agents on one
// host share each cluster IP address with SO_REUSEPORT), on Config.Address (the node's
// address) at the service port's number — Keel's node-local service address, and the
// LoadBalancer address as k3s's ServiceLB serves it — and, for NodePort and LoadBalancer
// Services, on Config.Address at the node port; and forwards each accepted connection to a
// ready endpoint of that port: an address in the `addresses` (never `notReadyAddresses`) of
// a subset of the Service's Endpoints that has a TCP port with the service port's name
// (both "" for an unnamed port), at that endpoint port's number.
//
// A Service with sessionAffinity ClientIP sends a client IP to the endpoint it last
// reached, for timeoutSeconds after that connection; a client without a remembered
// endpoint starts at a hash of its IP, so every proxy sharing a cluster IP picks alike.
// Otherwise balancing is round-robin per listener over the endpoints in the Endpoints' order
// (subsets, then addresses; the endpoints controller sorts them): the n-th connection
// accepted on a port starts at endpoint n mod N, so N sequential connections to a port with
// N ready endpoints reach each once while the set does not change. When connecting to an
// endpoint fails the next ones are tried, up to all of them, before the client connection
// is closed; a client is also closed at once when there is no ready endpoint. Bytes are
// copied both ways; the end of one direction is passed on as a TCP half-close
// (CloseWrite), so request/response protocols that close their sending side work, and an
// error in one direction closes both connections.
//
// Changes: the endpoint set is read from the informer cache for every new connection, so
// an Endpoints update applies to the next connection while connections in progress keep
// their endpoint. A pod being deleted leaves its Endpoints' addresses as soon as its
// deletionTimestamp is set (the endpoints controller), before its agent sends SIGTERM
// after preStop: new connections stop going to it while the ones in flight finish, which
// is what lets a rolling update lose no request when the server drains on SIGTERM (or a
// preStop sleep covers the time the update takes to reach every proxy). When a service port disappears (Service deleted, port removed or
// renumbered) its listener is closed; its connections in progress keep running. A listen
// that fails (port in use, e.g. by another Service with the same port number: the first in
// namespace/name/port-name order wins) is logged once and retried every second.
//
// Concurrency and shutdown: Run owns two informers (Services, Endpoints), one reconcile
// loop that alone opens and closes listeners, one accept goroutine per listener and two
// goroutines per proxied connection. When its context ends Run closes the listeners and
// every proxied connection and waits for all of them before returning.
//
// Not here: UDP and SCTP, externalTrafficPolicy, metrics; the affinity table is per proxy
// (a client whose connections the kernel spreads over several proxies of one host keeps its
// endpoint through the shared hash, not through the table).
package proxy
