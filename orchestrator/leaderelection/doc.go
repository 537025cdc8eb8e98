// Package leaderelection elects one active instance of a component (the scheduler, the
// controller-manager) among several candidates, on the store, through clientv3 only.
//
// It uses etcd's election recipe (go.etcd.io/etcd/client/v3/concurrency) on a store lease of
// LeaseDuration (docs/ORCHESTRATOR.md "Leader election and timing profiles"): each candidate
// puts a key under /registry/leaderelection/<namespace>/<name>/ attached to its own lease; the
// candidate whose key has the lowest create revision leads. A leader that crashes stops
// renewing its lease, the store deletes its key when the lease expires, and the next candidate
// takes over at once (takeover ≈ LeaseDuration). A leader that stops gracefully revokes its
// lease, so its successor takes over immediately.
//
// Guarantees:
//   - The context passed to OnStartedLeading is cancelled when leadership is lost: the
//     candidate's context ends, its key disappears, or no lease renewal was acknowledged
//     within RenewDeadline (shorter than LeaseDuration, so a partitioned leader stops before
//     the store lets anybody else lead).
//   - A leader's key is released only after OnStartedLeading has returned, so a graceful
//     handover never overlaps.
//   - Fence returns a comparison that holds only while this candidate leads; adding it to
//     a transaction makes the write fail once a successor could be leading.
//
// Profiles: DefaultConfig is the fast profile (lease 5 s); KubernetesConfig uses
// client-go's defaults (lease 15 s, renew deadline 10 s, retry 2 s).
package leaderelection
