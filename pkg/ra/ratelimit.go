package ra

import (
	"sync"
	"time"
)

// orderLimiter bounds new orders per account per hour (DESIGN.md "Security
// rules"), in a fixed one-hour window per account. It is per instance: with
// N instances an account may place up to N times the limit, which still
// stops a runaway client. Memory is bounded: when full, windows that have
// ended are dropped, and if none has, all are.
type orderLimiter struct {
	mu      sync.Mutex
	max     int
	windows map[string]window
}

type window struct {
	start time.Time
	n     int
}

const limiterWindow = time.Hour

func newOrderLimiter() *orderLimiter {
	return &orderLimiter{max: 100_000, windows: make(map[string]window)}
}

// allow counts one order of account at now against limit and reports
// whether it is allowed, and if not, when the window ends.
func (l *orderLimiter) allow(account string, limit int, now time.Time) (bool, time.Time) {
	if limit <= 0 {
		return true, time.Time{}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	w, ok := l.windows[account]
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
	l.windows[account] = w
	return true, time.Time{}
}

func (l *orderLimiter) prune(now time.Time) {
	for k, w := range l.windows {
		if now.Sub(w.start) >= limiterWindow {
			delete(l.windows, k)
		}
	}
	if len(l.windows) >= l.max {
		clear(l.windows)
	}
}
