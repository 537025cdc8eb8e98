package registry_test

import (
	"context"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/keeldb/keel/internal/testcluster"
	"github.com/keeldb/keel/orchestrator/api"
	"github.com/keeldb/keel/orchestrator/registry"
)

// BenchmarkCreatePod creates pods from 16 goroutines per CPU, as the ReplicaSet controller's
// workers do, in a namespace with no LimitRange and no ResourceQuota, on a one-member
// cluster in the process (issue 17). Time and allocations include the member's side.
func BenchmarkCreatePod(b *testing.B) {
	c := testcluster.Start(b, 1)
	pods := registry.New[api.Pod](c.Client(), registry.Config{})
	ctx := context.Background()
	tmpl := pod("bench", "", map[string]string{"app": "web"})
	tmpl.Spec.Containers[0].Resources = api.ResourceRequirements{
		Requests: api.ResourceList{"cpu": "10m", "memory": "10Mi"}}
	var n atomic.Int64
	b.ReportAllocs()
	b.SetParallelism(16) // x GOMAXPROCS goroutines
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			p := api.DeepCopy(tmpl)
			p.Name = "web-" + strconv.FormatInt(n.Add(1), 10)
			if _, err := pods.Create(ctx, p); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
