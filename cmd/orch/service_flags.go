package main

import (
	"context"
	"flag"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/keeldb/keel/orchestrator/registry"
)

// serviceFlags are the controller-manager's Service allocation ranges (kube-apiserver's
// flags; Keel has no apiserver, so the controller-manager stores them at its start and
// every writer of Services allocates from the stored ones).
type serviceFlags struct {
	ipRange, portRange string
}

func (f *serviceFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.ipRange, "service-cluster-ip-range", registry.DefaultServiceClusterIPRange,
		"CIDR Services' cluster IPs are allocated from (stored on first use; cannot change after)")
	fs.StringVar(&f.portRange, "service-node-port-range", registry.DefaultServiceNodePortRange,
		"FIRST-LAST range of NodePort Services' node ports (stored on first use; cannot change after)")
}

// ensure stores the ranges, or checks them against the stored ones.
func (f *serviceFlags) ensure(ctx context.Context, cli *clientv3.Client) error {
	return registry.EnsureServiceRanges(ctx, cli, registry.Config{ServiceClusterIPRange: f.ipRange, ServiceNodePortRange: f.portRange})
}
