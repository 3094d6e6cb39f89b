package ra

import (
	"sync"
	"time"
)

// hourlyLimiter counts events per key in a fixed one-hour window per key:
// new orders per account (DESIGN.md "Security rules") and new accounts per
// client address. It is per instance: with N instances a key may reach up
// to N times the limit, which still stops a runaway client. Memory is
// bounded: when full, windows that have ended are dropped, and if none
// has, all are.
type hourlyLimiter struct {
	mu      sync.Mutex
	max     int
	windows map[string]window
}

type window struct {
	start time.Time
	n     int
}

const limiterWindow = time.Hour

func newHourlyLimiter() *hourlyLimiter {
	return &hourlyLimiter{max: 100_000, windows: make(map[string]window)}
}

// allow counts one event of key at now against limit (none when limit is
// zero or negative) and reports whether it is allowed, and if not, when
// the window ends.
func (l *hourlyLimiter) allow(key string, limit int, now time.Time) (bool, time.Time) {
	if limit <= 0 {
		return true, time.Time{}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	w, ok := l.windows[key]
	if !ok || now.Sub(w.start) >= limiterWindow {
		if !ok && len(l.windows) >= l.max {
			l.prune(now)
		}
		w = window{start: now}
	}
	if w.n >= limit {
		return false, w.start.Add(limiterWindow)
	}
	w.n++
	l.windows[key] = w
	return true, time.Time{}
}

func (l *hourlyLimiter) prune(now time.Time) {
	for k, w := range l.windows {
		if now.Sub(w.start) >= limiterWindow {
			delete(l.windows, k)
		}
	}
	if len(l.windows) >= l.max {
		clear(l.windows)
	}
}
