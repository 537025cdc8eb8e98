// Package servicelb is Keel's local load balancer controller for Services of type
// LoadBalancer, as k3s's ServiceLB (klipper-lb): there is no cloud load balancer; every
// node serves the Service's ports on its own address (the node agents' proxies do,
// orchestrator/proxy), so the controller writes the addresses of the Ready nodes
// (their InternalIPs, sorted) into status.loadBalancer.ingress. The decision is the pure
// Ingress(svc, nodes).
//
// Concurrency: Run owns a Service and a Node informer and one worker; any Node change
// re-syncs every LoadBalancer Service. A Service that stops being a LoadBalancer has its
// ingress cleared.
//
// Not here: per-node opt-in labels (k3s's svccontroller.k3s.cateto.io/enablelb), hostname
// ingress, loadBalancerSourceRanges.
package servicelb
