// Package controller groups the controller-manager's controllers, one subpackage each
// (replicaset, deployment, nodelifecycle, endpoints, garbagecollector). Each has a Run(ctx, cli, cfg) entry point that owns its
// informers, work queue and workers until ctx ends, and talks to the store only through
// clientv3 and the orchestrator's registry.
package controller
