package bench

import (
	"fmt"
	"io"
	"strings"
	"sync/atomic"
	"time"
)

// progressEvery is how often the progress bar is redrawn.
const progressEvery = 200 * time.Millisecond

// startProgress draws a progress bar on cfg.Progress until the returned stop is called;
// stop(true) draws the bar full. A run bound by neither Total nor Duration (a Driver's) shows
// its current phase instead of a bar. It does nothing when cfg.Progress is nil.
func startProgress(cfg Config, start time.Time, done *atomic.Int64, phase func() string) (stop func(complete bool)) {
	if cfg.Progress == nil {
		return func(bool) {}
	}
	quit, exited := make(chan bool), make(chan struct{})
	go func() {
		defer close(exited)
		t := time.NewTicker(progressEvery)
		defer t.Stop()
		for {
			select {
			case complete := <-quit:
				final := cfg
				if complete {
					final.Total, final.Duration = 0, 0 // drawn as 100%
				}
				drawProgress(cfg.Progress, final, time.Since(start), done.Load(), "")
				fmt.Fprintln(cfg.Progress)
				return
			case <-t.C:
				drawProgress(cfg.Progress, cfg, time.Since(start), done.Load(), phase())
			}
		}
	}()
	return func(complete bool) { quit <- complete; <-exited }
}

// drawProgress writes one carriage-return-led progress line; phase, when set and the run
// has no bound, replaces the bar.
func drawProgress(w io.Writer, cfg Config, elapsed time.Duration, done int64, phase string) {
	if cfg.Total == 0 && cfg.Duration == 0 && phase != "" {
		fmt.Fprintf(w, "\rphase %-10s %d ops %.0f/s %v ", phase, done, perSec(float64(done), elapsed),
			elapsed.Round(100*time.Millisecond))
		return
	}
	frac := 1.0
	if cfg.Total > 0 || cfg.Duration > 0 {
		frac = 0
	}
	if cfg.Total > 0 {
		frac = float64(done) / float64(cfg.Total)
	}
	if cfg.Duration > 0 {
		frac = max(frac, float64(elapsed)/float64(cfg.Duration))
	}
	fmt.Fprintf(w, "\r%s %s", progressBar(frac, 30), progressText(done, elapsed, frac))
}

func progressBar(frac float64, width int) string {
	frac = min(max(frac, 0), 1)
	n := int(frac * float64(width))
	return "[" + strings.Repeat("#", n) + strings.Repeat(".", width-n) + "]"
}

func progressText(done int64, elapsed time.Duration, frac float64) string {
	qps := 0.0
	if elapsed > 0 {
		qps = float64(done) / elapsed.Seconds()
	}
	return fmt.Sprintf("%3.0f%% %d ops %.0f/s %v ", min(frac, 1)*100, done, qps, elapsed.Round(100*time.Millisecond))
}
