package ca

import (
	"context"
	"time"
)

// Retry is a backend's bounded retry policy for transient CA failures
// (the same request, with the same idempotency key, tried again).
type Retry struct {
	// Attempts is the total number of tries per call; zero means 4.
	Attempts int
	// BaseBackoff is the wait after the first failure, doubled after each
	// further one; zero means 250 ms.
	BaseBackoff time.Duration
	// MaxBackoff caps one wait; zero means 8 s.
	MaxBackoff time.Duration
	// Sleep waits d or until ctx is done; nil means Sleep.
	Sleep func(ctx context.Context, d time.Duration) error
}

// WithDefaults fills the zero fields of r.
func (r Retry) WithDefaults() Retry {
	if r.Attempts <= 0 {
		r.Attempts = 4
	}
	if r.BaseBackoff <= 0 {
		r.BaseBackoff = 250 * time.Millisecond
	}
	if r.MaxBackoff <= 0 {
		r.MaxBackoff = 8 * time.Second
	}
	if r.Sleep == nil {
		r.Sleep = Sleep
	}
	return r
}

// Do runs fn up to r.Attempts times while it fails with an error
// retryable accepts, sleeping Backoff in between. It returns how many
// attempts it made, fn's last error, and whether that failure is
// transient: retries exhausted, or ctx done (a failure retryable refuses,
// with ctx live, is not). r must have its defaults (WithDefaults).
func (r Retry) Do(ctx context.Context, retryable func(error) bool, fn func(context.Context) error) (attempts int, err error, transient bool) {
	for attempts < r.Attempts {
		attempts++
		if err = fn(ctx); err == nil {
			return attempts, nil, false
		}
		if !retryable(err) && ctx.Err() == nil {
			return attempts, err, false
		}
		if attempts == r.Attempts || ctx.Err() != nil {
			break
		}
		if r.Sleep(ctx, Backoff(r.BaseBackoff, r.MaxBackoff, attempts)) != nil {
			break
		}
	}
	return attempts, err, true
}
