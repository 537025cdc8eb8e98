// Package api defines the orchestrator's API objects as Go types whose JSON has Kubernetes'
// shapes (apiVersion, kind, metadata, spec, status): Namespace, Node, Pod, Service,
// Endpoints, Event (v1), ReplicaSet and Deployment (apps/v1), Job and CronJob (batch/v1)
// and Lease (coordination.k8s.io/v1). Only the fields Keel supports are declared; decoding a
// manifest (DecodeManifests, DecodeObject) refuses any other field with its path, e.g.
// "spec.template.spec.containers[0].foo: Unsupported field", instead of dropping it.
//
// Default fills defaults in place and Validate returns every problem as a FieldError with a
// JSON field path. Objects are plain values: they are not safe for concurrent mutation, and
// DeepCopy (a JSON round trip) gives an independent copy.
//
// metadata.resourceVersion is the decimal mod_revision of the object's key in the store; it
// is never stored inside the value (the registry sets it on read).
//
// ConfigMap and Secret (v1, config.go) carry pods' configuration; pods consume them through
// env valueFrom, envFrom and volumes (emptyDir, hostPath, configMap, secret, downwardAPI,
// projected). ValidateUpdate holds the rules that compare an update with the stored object
// (immutable ConfigMaps and Secrets).
//
// LimitRange and ResourceQuota (v1, policy.go) are namespace policies; their admission is
// pure functions the registry applies at create (limitrange.go: AdmitPodLimits,
// AdmitClaimLimits; quota.go: QuotaUsage, AdmitQuota, QuotaUsed).
package api
