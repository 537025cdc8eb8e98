// Package orchestrator is the root of Keel's thin Kubernetes-style orchestrator. Every
// component is a client of the store through go.etcd.io/etcd/client/v3 and nothing else:
//
//   - labels: label selectors (matchLabels/matchExpressions and `-l` strings);
//   - api: the API objects (Namespace, Node, Pod, ReplicaSet, Deployment, Service, Endpoints,
//     Event, Lease) in Kubernetes' JSON shapes, defaulting, validation with field paths, and
//     strict multi-document YAML manifest decoding;
//   - registry: typed objects stored as JSON under /registry/<resource>/[<namespace>/]<name>,
//     with create/update/delete as transactions comparing mod_revision;
//   - informer: list at a revision, watch from the next one, relist on compaction, an
//     indexed local cache and event handlers;
//   - workqueue: a de-duplicating, rate-limited work queue for controllers;
//   - events: an asynchronous Event recorder (aggregation, spam filter, TTL by lease);
//   - leaderelection: one active instance per component, by a Lease object;
//   - scheduler: filters, scores and batched binds of pending pods;
//   - controller/...: ReplicaSet, Deployment, node lifecycle, Endpoints, garbage collector;
//   - agent: the node agent, with a sim runtime (thousands of nodes per process) and a
//     process runtime (pods as local processes under a shim, probes, logs);
//   - proxy: a per-node TCP proxy from every Service port to its ready endpoints.
//
// cmd/orch wires them into the scheduler, controller-manager, agent and ctl commands.
//
// See docs/ORCHESTRATOR.md for the design as built; each package's doc names the Kubernetes
// behaviour it mirrors.
package orchestrator
