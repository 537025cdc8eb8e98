package registry

import (
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/keeldb/keel/orchestrator/api"
)

// Stores bundles a Store for every supported resource, sharing one client and config.
type Stores struct {
	Namespaces  *Store[api.Namespace, *api.Namespace]
	Nodes       *Store[api.Node, *api.Node]
	Pods        *Store[api.Pod, *api.Pod]
	Services    *Store[api.Service, *api.Service]
	Endpoints   *Store[api.Endpoints, *api.Endpoints]
	Events      *Store[api.Event, *api.Event]
	ReplicaSets *Store[api.ReplicaSet, *api.ReplicaSet]
	Deployments *Store[api.Deployment, *api.Deployment]
	Leases      *Store[api.Lease, *api.Lease]
	Jobs        *Store[api.Job, *api.Job]
	CronJobs    *Store[api.CronJob, *api.CronJob]

	DaemonSets   *Store[api.DaemonSet, *api.DaemonSet]
	StatefulSets *Store[api.StatefulSet, *api.StatefulSet]

	Roles               *Store[api.Role, *api.Role]
	ClusterRoles        *Store[api.ClusterRole, *api.ClusterRole]
	RoleBindings        *Store[api.RoleBinding, *api.RoleBinding]
	ClusterRoleBindings *Store[api.ClusterRoleBinding, *api.ClusterRoleBinding]
	// Namespace policies (admission.go).
	LimitRanges    *Store[api.LimitRange, *api.LimitRange]
	ResourceQuotas *Store[api.ResourceQuota, *api.ResourceQuota]
}

// NewStores returns a Store for every resource.
func NewStores(cli *clientv3.Client, cfg Config) *Stores {
	return &Stores{
		Namespaces:  New[api.Namespace](cli, cfg),
		Nodes:       New[api.Node](cli, cfg),
		Pods:        New[api.Pod](cli, cfg),
		Services:    New[api.Service](cli, cfg),
		Endpoints:   New[api.Endpoints](cli, cfg),
		Events:      New[api.Event](cli, cfg),
		ReplicaSets: New[api.ReplicaSet](cli, cfg),
		Deployments: New[api.Deployment](cli, cfg),
		Leases:      New[api.Lease](cli, cfg),
		Jobs:        New[api.Job](cli, cfg),
		CronJobs:    New[api.CronJob](cli, cfg),

		DaemonSets:   New[api.DaemonSet](cli, cfg),
		StatefulSets: New[api.StatefulSet](cli, cfg),

		Roles:               New[api.Role](cli, cfg),
		ClusterRoles:        New[api.ClusterRole](cli, cfg),
		RoleBindings:        New[api.RoleBinding](cli, cfg),
		ClusterRoleBindings: New[api.ClusterRoleBinding](cli, cfg),
		LimitRanges:         New[api.LimitRange](cli, cfg),
		ResourceQuotas:      New[api.ResourceQuota](cli, cfg),
	}
}
