package replicaset

import (
	"context"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/keeldb/keel/orchestrator/api"
)

// ReplicationManager is the ReplicationController controller: the ReplicaSet controller's
// logic over ReplicationControllers, whose equality selector is read as a LabelSelector
// of matchLabels. Pods it creates carry a controller reference of kind
// ReplicationController (v1).
type ReplicationManager = controller[api.ReplicationController, *api.ReplicationController]

var replicationControllerKind = kind[*api.ReplicationController]{
	name: "ReplicationController", apiVersion: "v1", component: "replication-controller",
	selector: func(rc *api.ReplicationController) *api.LabelSelector { return rc.Spec.LabelSelector() },
	replicas: func(rc *api.ReplicationController) int32 { return *rc.Spec.Replicas },
	minReadySeconds: func(rc *api.ReplicationController) int32 {
		return rc.Spec.MinReadySeconds
	},
	template: func(rc *api.ReplicationController) *api.PodTemplateSpec {
		if rc.Spec.Template == nil { // refused by validation; an empty template selects nothing
			return &api.PodTemplateSpec{}
		}
		return rc.Spec.Template
	},
	status: func(rc *api.ReplicationController) *api.ReplicaSetStatus { return &rc.Status },
}

// NewReplicationManager returns a ReplicationManager; call Run to start it.
func NewReplicationManager(cli *clientv3.Client, cfg Config) *ReplicationManager {
	return newController(cli, cfg, replicationControllerKind)
}

// RunReplicationManager runs a ReplicationManager until ctx ends, then returns nil.
func RunReplicationManager(ctx context.Context, cli *clientv3.Client, cfg Config) error {
	return NewReplicationManager(cli, cfg).Run(ctx)
}
