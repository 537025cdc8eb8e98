// Package resourcequota is the ResourceQuota controller of `orch controller-manager`, as
// kube-controller-manager's: it copies each quota's spec.hard to status.hard and recomputes
// status.used from the namespace's objects, so usage is released when pods end (Succeeded or
// Failed) or objects are deleted. Charging is not done here: the registry charges a quota in
// the transaction of every create it covers (orchestrator/registry admission.go); this
// controller is the source of truth for releasing.
//
// Consistency: a sync reads the quota from the store, then lists the objects it counts
// from the store (at a revision at least the quota's), and writes status with the quota's
// resourceVersion; a create charged meanwhile makes the write conflict and the sync retry,
// so a recompute never forgets a charge. The usage of each kind is api.QuotaUsed's.
//
// Concurrency: Run owns the ResourceQuota, Pod, Service and PersistentVolumeClaim informers
// (any change of a pod, Service or claim re-syncs its namespace's quotas), a resync source
// that re-syncs every quota each ResyncPeriod (deletions of other kinds, such as
// ConfigMaps and Secrets, are released then), and one worker.
//
// Not here: quota scopes and scopeSelector (refused by validation), charging on update (a
// claim resized or a Service changed to NodePort is counted at the next sync).
package resourcequota
