// Package server serves etcd's v3 gRPC API (KV, Watch, Lease, Cluster, Maintenance, a minimal
// Auth) from a raftstore.Node, plus /health, /readyz, /livez, /version and /metrics over
// HTTP/1 on the same client listener.
//
// It is the only package that knows gRPC status codes: domain errors from mvcc, apply and
// raftstore are mapped to etcd's rpctypes errors in errors.go, byte for byte, because clients
// match on the message text. Requests are validated and size-checked before they reach the
// raft log. Response headers carry cluster_id, member_id, revision and raft_term as etcd's do.
//
// Writes that could grow the backend (puts, txns with a put, lease grants) also pass the
// backend quota (quota.go) before they are proposed: over Config.QuotaBackendBytes, or while
// a NOSPACE alarm is active, they fail with etcd's "database space exceeded", and the member
// raises its NOSPACE alarm through the log. Maintenance.Defragment rewrites the member's
// backend file compactly, which with compaction and Alarm DEACTIVATE lets writes go on again.
package server
