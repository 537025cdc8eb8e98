package main

import (
	"context"
	"math"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// gcTuner keeps the Go GC from running more often than a member needs: with GOGC's default of
// 100 a member whose live heap is a few tens of MiB collects every few MiB of allocation, and
// under write load that cost 6-8% of its CPU (gcBgMarkWorker) plus goroutine stacks shrunk and
// grown again (runtime.newstack, 3-4%). Every second it sets the GC percent so that the heap
// may grow by at least headroom bytes between collections (at most 1000%, at least 100%): a
// small heap gets room, a large heap keeps GOGC=100 and its memory use. A GOGC given in the
// environment turns it off.
type gcTuner struct {
	headroom uint64
	live     []metrics.Sample
	percent  int
}

func newGCTuner(headroom uint64) *gcTuner {
	return &gcTuner{headroom: headroom, live: []metrics.Sample{{Name: "/gc/heap/live:bytes"}}, percent: 100}
}

// run adjusts the GC percent every interval until ctx ends, then restores 100.
func (g *gcTuner) run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	defer debug.SetGCPercent(100)
	for {
		g.adjust()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (g *gcTuner) adjust() {
	metrics.Read(g.live)
	if g.live[0].Value.Kind() != metrics.KindUint64 {
		return
	}
	if p := gcPercent(g.live[0].Value.Uint64(), g.headroom); p != g.percent {
		debug.SetGCPercent(p)
		g.percent = p
	}
}

// gcPercent is the GC percent that lets a live heap of live bytes grow by headroom bytes,
// clamped to [100, 1000] and rounded down to a multiple of 10 so small changes of the live
// heap do not reset it every time.
func gcPercent(live, headroom uint64) int {
	if live == 0 {
		return 1000
	}
	p := float64(headroom) * 100 / float64(live)
	p = math.Max(100, math.Min(1000, p))
	return int(p) / 10 * 10
}
