package main

import (
	"flag"
	"fmt"
	"time"

	"github.com/keeldb/keel/orchestrator/agent"
)

// evictionFlags are kubelet's node-pressure eviction flags, with its names and syntax.
type evictionFlags struct {
	hard, soft, softGrace, minReclaim string
	transition, interval              time.Duration
	maxPodGrace                       int
}

func (f *evictionFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.hard, "eviction-hard", agent.DefaultEvictionHard, "hard eviction thresholds, as signal<value,... (memory.available<100Mi or <10% of capacity); empty: none")
	fs.StringVar(&f.soft, "eviction-soft", "", "soft eviction thresholds, as signal<value,...; each needs --eviction-soft-grace-period")
	fs.StringVar(&f.softGrace, "eviction-soft-grace-period", "", "how long a soft threshold must be met before a pod is evicted, as signal=duration,...")
	fs.StringVar(&f.minReclaim, "eviction-minimum-reclaim", "", "how much beyond a threshold must be available before it is no longer met, as signal=quantity,... (or %)")
	fs.DurationVar(&f.transition, "eviction-pressure-transition-period", agent.DefaultPressureTransitionPeriod, "how long the node keeps MemoryPressure after the last threshold met")
	fs.IntVar(&f.maxPodGrace, "eviction-max-pod-grace-period", 0, "cap in seconds of the grace period of pods evicted for a soft threshold; negative: the pod's own")
	fs.DurationVar(&f.interval, "housekeeping-interval", agent.DefaultEvictionMonitoringInterval, "how often memory is observed and at most one pod per node evicted")
}

// config returns the eviction configuration, with kubelet's error texts for bad flags.
func (f *evictionFlags) config() (agent.EvictionConfig, error) {
	maps := make([]map[string]string, 4)
	for i, fl := range []struct {
		name, value string
		sep         byte
	}{{"eviction-hard", f.hard, '<'}, {"eviction-soft", f.soft, '<'}, {"eviction-soft-grace-period", f.softGrace, '='},
		{"eviction-minimum-reclaim", f.minReclaim, '='}} {
		m, err := agent.ParseEvictionMap(fl.value, fl.sep)
		if err != nil {
			return agent.EvictionConfig{}, fmt.Errorf("invalid argument %q for \"--%s\" flag: %w", fl.value, fl.name, err)
		}
		maps[i] = m
	}
	ths, err := agent.ParseThresholds(maps[0], maps[1], maps[2], maps[3])
	if err != nil {
		return agent.EvictionConfig{}, err
	}
	if f.interval <= 0 {
		return agent.EvictionConfig{}, fmt.Errorf("--housekeeping-interval must be positive, got %s", f.interval)
	}
	if f.transition < 0 {
		return agent.EvictionConfig{}, fmt.Errorf("--eviction-pressure-transition-period must not be negative, got %s", f.transition)
	}
	return agent.EvictionConfig{Thresholds: ths, PressureTransitionPeriod: f.transition, Interval: f.interval,
		MaxPodGracePeriod: time.Duration(f.maxPodGrace) * time.Second}, nil
}
