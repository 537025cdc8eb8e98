package main

import (
	"context"
	"os"
	"time"
)

// burnSlice is the period of a burn's duty cycle: busy for millicores/1000 of it.
const burnSlice = 100 * time.Millisecond

// burnCPU keeps one core busy millicores/1000 of the time (a duty cycle of burnSlice)
// while active reports true and ctx lasts.
func burnCPU(ctx context.Context, millicores int, active func() bool) {
	busy := burnSlice * time.Duration(min(max(millicores, 1), 1000)) / 1000
	t := time.NewTimer(0)
	defer t.Stop()
	for ctx.Err() == nil && active() {
		start := time.Now()
		for time.Since(start) < busy {
			// spin
		}
		t.Reset(burnSlice - busy)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// burnWhileExists burns millicores whenever file exists, checking every burnSlice, until
// ctx ends: `orch hello-server --burn-cpu-while-exists FILE` lets a test turn a whole
// Deployment's load on and off by creating and removing one file.
func burnWhileExists(ctx context.Context, file string, millicores int) {
	exists := func() bool { _, err := os.Stat(file); return err == nil }
	t := time.NewTicker(burnSlice)
	defer t.Stop()
	for {
		if exists() {
			burnCPU(ctx, millicores, exists)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
