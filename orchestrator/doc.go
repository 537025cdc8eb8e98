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
//   - workqueue: a de-duplicating, rate-limited work queue for controllers.
//
// See ../shared/ORCHESTRATOR.md (in the steering repository) for the behaviour mirrored.
package orchestrator
