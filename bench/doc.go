// Package bench holds keelbench's workloads. It talks to any etcd v3 endpoints through
// go.etcd.io/etcd/client/v3 only, so one run measures Keel and etcd with the same client.
package bench
