// Package servicerepair runs kube-apiserver's cluster IP and node port repair loops:
// registry.RepairServiceAllocations at start and every Config.Interval (Kubernetes: 3
// min), releasing allocations no Service holds and restoring the ones a Service is
// missing. The registry allocates and releases in the Services' own transactions, so the
// loop only mends writes that bypassed it (a Service key deleted with etcdctl); it logs
// what it changed and the conflicts it cannot decide (two Services holding one address).
//
// Concurrency: Run is one goroutine, the caller's; it returns when ctx ends.
package servicerepair

import (
	"context"
	"io"
	"log/slog"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/keeldb/keel/orchestrator/registry"
)

// DefaultInterval is kube-apiserver's repair interval.
const DefaultInterval = 3 * time.Minute

// Config configures Run. The zero value means defaults.
type Config struct {
	// Interval between passes; default DefaultInterval.
	Interval time.Duration
	// Logger defaults to discarding.
	Logger *slog.Logger
}

// Run repairs the Service allocations at once and every cfg.Interval until ctx ends, then
// returns nil. A failed pass is logged and retried at the next interval.
func Run(ctx context.Context, cli *clientv3.Client, cfg Config) error {
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultInterval
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	log := cfg.Logger.With("component", "service-repair")
	t := time.NewTicker(cfg.Interval)
	defer t.Stop()
	for {
		res, err := registry.RepairServiceAllocations(ctx, cli, registry.Config{})
		switch {
		case err != nil && ctx.Err() == nil:
			log.Warn("repair failed", "err", err)
		case res.Released+res.Restored > 0:
			log.Info("repaired service allocations", "released", res.Released, "restored", res.Restored)
		}
		for _, c := range res.Conflicts {
			log.Error("address allocated twice", "detail", c)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}
