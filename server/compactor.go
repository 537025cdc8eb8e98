package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"

	"github.com/keeldb/keel/mvcc"
	"github.com/keeldb/keel/raftstore"
)

// CompactionPolicy is etcd's automatic compaction setting.
type CompactionPolicy struct {
	// Mode is "periodic" or "revision"; empty disables automatic compaction.
	Mode string
	// Period is the history kept in periodic mode.
	Period time.Duration
	// Revisions is the number of revisions kept in revision mode.
	Revisions int64
}

// ParseCompactionPolicy parses --auto-compaction-mode and --auto-compaction-retention the way
// etcd does: in periodic mode a bare number means hours ("1" = 1h), otherwise a duration
// ("30m"); in revision mode it is a revision count. An empty or "0" retention disables it.
func ParseCompactionPolicy(mode, retention string) (CompactionPolicy, error) {
	if retention == "" || retention == "0" {
		return CompactionPolicy{}, nil
	}
	switch mode {
	case "", "periodic":
		if h, err := strconv.Atoi(retention); err == nil {
			return CompactionPolicy{Mode: "periodic", Period: time.Duration(h) * time.Hour}, nil
		}
		d, err := time.ParseDuration(retention)
		if err != nil || d <= 0 {
			return CompactionPolicy{}, fmt.Errorf("bad --auto-compaction-retention %q for periodic mode", retention)
		}
		return CompactionPolicy{Mode: "periodic", Period: d}, nil
	case "revision":
		n, err := strconv.ParseInt(strings.TrimSpace(retention), 10, 64)
		if err != nil || n <= 0 {
			return CompactionPolicy{}, fmt.Errorf("bad --auto-compaction-retention %q for revision mode", retention)
		}
		return CompactionPolicy{Mode: "revision", Revisions: n}, nil
	}
	return CompactionPolicy{}, fmt.Errorf("bad --auto-compaction-mode %q (want periodic or revision)", mode)
}

// compactor proposes compactions on the leader according to a policy.
type compactor struct {
	policy CompactionPolicy
	node   *raftstore.Node
	log    *slog.Logger
	now    func() time.Time
}

type revSample struct {
	at  time.Time
	rev int64
}

// run samples the revision and compacts until ctx ends. Periodic mode samples every tenth
// of the period and compacts to the newest sample at least a period old; revision mode
// compacts to current-Revisions every five minutes.
func (c *compactor) run(ctx context.Context) {
	interval := 5 * time.Minute
	if c.policy.Mode == "periodic" {
		interval = max(c.policy.Period/10, time.Second)
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	var samples []revSample
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now, rev := c.now(), c.node.Store().Rev()
		samples = append(samples, revSample{now, rev})
		target, keep := compactionTarget(c.policy, samples, now, rev)
		samples = keep
		if target <= c.node.Store().CompactRev() || !c.node.IsLeader() {
			continue
		}
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		_, err := c.node.Compact(cctx, &pb.CompactionRequest{Revision: target})
		cancel()
		switch {
		case err == nil:
			c.log.Info("auto compaction", "revision", target, "mode", c.policy.Mode)
		case errors.Is(err, mvcc.ErrCompacted):
		default:
			c.log.Warn("auto compaction failed", "revision", target, "error", err)
		}
	}
}

// compactionTarget returns the revision to compact to (0 for none) and the samples to keep.
func compactionTarget(p CompactionPolicy, samples []revSample, now time.Time, rev int64) (int64, []revSample) {
	if p.Mode == "revision" {
		return max(rev-p.Revisions, 0), nil
	}
	target, cut := int64(0), 0
	for i, s := range samples {
		if now.Sub(s.at) >= p.Period {
			target, cut = s.rev, i
		}
	}
	return target, samples[cut:]
}
