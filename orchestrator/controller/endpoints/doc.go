// Package endpoints is the Endpoints controller: for every Service with a selector it keeps
// an Endpoints object of the same namespace and name listing the pods behind the Service,
// the way Kubernetes' pkg/controller/endpoint does.
//
// What is published. A pod of the Service's namespace whose labels match the selector is
// published when it has a status.podIP, is not Succeeded or Failed and is not being deleted
// (no deletionTimestamp). Its address carries ip, nodeName (when bound) and a targetRef to
// the pod (kind, namespace, name, uid; no resourceVersion, so pod updates that do not
// matter cause no write); hostname is left unset. Pods whose Ready condition is True go to
// addresses, the others to notReadyAddresses.
//
// Ports. Each service port becomes an endpoint port with the service port's name and
// protocol (default TCP) and the port number its targetPort resolves to on the pod: a
// number as is (default: the service port), a name looked up in the ports of the pod's
// containers (and sidecar init containers) with the same protocol. A pod lacking a named
// port is left out for that port, and out of the Endpoints when it resolves none of the
// Service's ports. Pods that resolve to the same port set share a subset, so a named
// targetPort that pods map to different numbers yields one subset per number (Kubernetes'
// RepackSubsets). Addresses are sorted by IP, then pod namespace/name, then uid; ports by
// name; subsets by their ports. The Endpoints' labels are the Service's labels.
//
// Writes. A sync computes the Endpoints from the informer caches and writes only when the
// result differs from the cached Endpoints (subsets and labels): it creates the object when
// absent and otherwise updates it with the cached resourceVersion. A conflict (the cache
// lags, or someone else wrote) fails the sync, which the work queue retries with per-key
// exponential back-off; restarting the controller on an unchanged cluster writes nothing.
//
// Ownership. Kubernetes sets no ownerReferences on Endpoints; the Endpoints of a Service is
// the one with its name. The controller deletes it when the Service is deleted (whether or
// not the Service had a selector, as Kubernetes does), and at start-up deletes every
// Endpoints whose Service no longer exists (Kubernetes' checkLeftoverEndpoints). It leaves
// the Endpoints of a Service without selector alone while that Service exists, and an
// Endpoints created after start-up for a Service that does not exist yet. A managed
// Endpoints edited or deleted by someone else is put back.
//
// Concurrency: Run owns three informers (Services, Pods, Endpoints) and Workers workers;
// the queue holds Service keys ("namespace/name") and never hands one key to two workers at
// once. Service events queue the Service; pod events queue every Service of the pod's
// namespace whose selector matches the pod's labels (old and new labels on a label change;
// other updates only when address, readiness, eligibility, node or ports changed).
//
// Not here: EndpointSlices, publishNotReadyAddresses, terminating endpoints, hostname and
// subdomain, the 1000-address truncation and its over-capacity annotation, the
// last-change-trigger-time annotation, batching of updates (EndpointUpdatesBatchPeriod).
package endpoints
