package events

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Spam filter defaults, client-go's EventSourceObjectSpamFilter: each (source, object) may
// record a burst of 25 events, then one more per 5 minutes.
const (
	DefaultSpamBurst    = 25
	DefaultSpamInterval = 5 * time.Minute
	// maxSpamKeys bounds the filter's state (client-go keeps an LRU of 4096 too).
	maxSpamKeys = 4096
)

// spamFilter rate-limits events per involved object, so a controller creating 10,000 pods
// for one ReplicaSet records a handful of SuccessfulCreate events instead of 10,000 writes.
type spamFilter struct {
	burst int
	every time.Duration

	mu       sync.Mutex
	limiters map[string]*rate.Limiter
}

func newSpamFilter(burst int, every time.Duration) *spamFilter {
	return &spamFilter{burst: burst, every: every, limiters: map[string]*rate.Limiter{}}
}

// allow reports whether an event about object may be recorded at now.
func (f *spamFilter) allow(object string, now time.Time) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	l, ok := f.limiters[object]
	if !ok {
		if len(f.limiters) >= maxSpamKeys {
			f.pruneLocked(now)
		}
		l = rate.NewLimiter(rate.Every(f.every), f.burst)
		f.limiters[object] = l
	}
	return l.AllowN(now, 1)
}

// pruneLocked forgets objects whose bucket has refilled (they behave as new ones), or, if
// none has, half of them.
func (f *spamFilter) pruneLocked(now time.Time) {
	for k, l := range f.limiters {
		if l.TokensAt(now) >= float64(f.burst) {
			delete(f.limiters, k)
		}
	}
	for k := range f.limiters {
		if len(f.limiters) < maxSpamKeys/2 {
			break
		}
		delete(f.limiters, k)
	}
}
