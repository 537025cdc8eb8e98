package main

import (
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/keeldb/keel/orchestrator/api"
	"github.com/keeldb/keel/orchestrator/registry"
)

// storageClients are the clients of PersistentVolumes, PersistentVolumeClaims and
// StorageClasses.
func storageClients(cli *clientv3.Client) []resourceClient {
	c := registry.Config{}
	return []resourceClient{
		typed[api.PersistentVolume, *api.PersistentVolume]{registry.New[api.PersistentVolume](cli, c)},
		typed[api.PersistentVolumeClaim, *api.PersistentVolumeClaim]{registry.New[api.PersistentVolumeClaim](cli, c)},
		typed[api.StorageClass, *api.StorageClass]{registry.New[api.StorageClass](cli, c)},
	}
}
