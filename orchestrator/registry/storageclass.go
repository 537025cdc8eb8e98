package registry

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/keeldb/keel/orchestrator/api"
)

// defaultStorageClass is Kubernetes' DefaultStorageClass admission at a claim's create: a
// PersistentVolumeClaim without spec.storageClassName gets the name of the class annotated
// storageclass.kubernetes.io/is-default-class "true" (the newest, if several are), so the
// claim keeps that class even if the default changes later. No default class: unchanged.
func (s *Store[T, P]) defaultStorageClass(ctx context.Context, obj P) error {
	pvc, ok := any(obj).(*api.PersistentVolumeClaim)
	if !ok || pvc.Spec.StorageClassName != nil {
		return nil
	}
	prefix := strings.TrimSuffix(s.prefix, s.res.Name+"/") + api.StorageClassResource.Name + "/"
	resp, err := s.cli.Get(ctx, prefix, clientv3.WithPrefix())
	if err != nil {
		return fmt.Errorf("registry: read storage classes: %w", err)
	}
	var best *api.StorageClass
	for _, kv := range resp.Kvs {
		var sc api.StorageClass
		if err := json.Unmarshal(kv.Value, &sc); err != nil {
			return fmt.Errorf("registry: decode %s: %w", kv.Key, err)
		}
		if sc.Annotations[api.IsDefaultClassAnnotation] != "true" {
			continue
		}
		if best == nil || sc.CreationTimestamp.After(best.CreationTimestamp.Time) {
			best = &sc
		}
	}
	if best != nil {
		name := best.Name
		pvc.Spec.StorageClassName = &name
	}
	return nil
}
