// Package registry stores typed API objects in Keel through clientv3, the way the
// Kubernetes apiserver's etcd3 storage does: each object is JSON under
// /registry/<resource>/<namespace>/<name> (cluster-scoped: /registry/<resource>/<name>),
// and metadata.resourceVersion is the key's mod_revision.
//
// Guarantees:
//   - Create is one transaction "key absent → put" (ErrAlreadyExists otherwise) and sets
//     uid, creationTimestamp and generation 1.
//   - Update, UpdateStatus and Delete with a resourceVersion are transactions comparing the
//     key's mod_revision (ErrConflict otherwise); GuaranteedUpdate re-reads and re-applies
//     its mutation after each conflict, so concurrent writers never lose an update.
//   - Update keeps the stored status and UpdateStatus the stored spec and metadata;
//     generation grows by one on every write that changes the spec, never on status writes.
//   - List reads every page at one revision (ErrExpired once it is compacted).
//
// Objects are defaulted and validated (api.Default, api.Validate) on every write; invalid
// ones are refused with an error matching api.ErrInvalid. Creates also go through
// admission (admission.go): the namespace's LimitRanges default and bound pods and claims,
// and its ResourceQuotas are charged in the create's transaction; a refusal matches
// ErrForbidden. A Store holds no state besides its configuration and a cache of the
// namespaces known to have no LimitRange and no ResourceQuota, whose creates skip those
// reads and are guarded in their transaction instead (admitcache.go); it is safe for
// concurrent use. Objects passed in are not modified.
//
// CreateWithLease and GuaranteedUpdateWithLease attach a store lease to the key (Events
// expire this way, see package events); every other update keeps the key's lease.
//
// Graceful deletion (graceful.go), as the apiserver's pod strategy: Delete of a pod bound to
// a node and not Succeeded/Failed only sets metadata.deletionTimestamp (now + grace period)
// and deletionGracePeriodSeconds (DeleteOptions.GracePeriodSeconds, else
// spec.terminationGracePeriodSeconds, else 30); its node agent stops the containers and
// then removes the object with a Delete of grace period 0 and a UID precondition. A
// repeated Delete may only shorten the grace period; grace period 0 (a force delete),
// unscheduled pods and every other kind are removed at once. Updates cannot remove or change
// a deletionTimestamp once set, nor remove deletionGracePeriodSeconds (the apiserver's
// BeforeUpdate). Every deleter (orch ctl
// delete/drain, the ReplicaSet controller, node lifecycle eviction, the garbage collector)
// goes through this one path.
//
// Values of the resources named in Config.Transformers (Secrets, with an
// EncryptionConfiguration: encryption.go) are transformed on every write and read, so every
// reader and writer sees plaintext and the store holds k8s:enc:<provider>:v1:<key>: values.
// Services (services.go): a Service's cluster IP and node ports are allocated from the
// stored ranges (Config.ServiceClusterIPRange, ServiceNodePortRange, EnsureServiceRanges)
// as keys /registry/ipallocations/<ip> and /registry/nodeportallocations/<port>, claimed
// ("key absent") in the Service's create transaction and deleted in its delete
// transaction, so concurrent writers never share an address and nothing leaks; updates
// keep them and refuse changes. RepairServiceAllocations mends writes that bypassed the
// registry. The Services Store caches the ranges once read (they never change).
//
// Not here: finalizers; owner-based cascading deletion is the garbage collector's
// (controller/garbagecollector).
package registry
