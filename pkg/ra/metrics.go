package ra

import (
	"context"
	"errors"
	"time"

	"github.com/acmera/acmera/pkg/ca"
	"github.com/acmera/acmera/pkg/metrics"
)

// caOutcome is the outcome class of a CA call that returned err.
func caOutcome(err error) string {
	var rejected *ca.RejectedError
	switch {
	case err == nil:
		return metrics.CAOK
	case errors.As(err, &rejected):
		return metrics.CARejected
	case errors.Is(err, ca.ErrMisconfigured):
		return metrics.CAMisconfigured
	case errors.Is(err, ca.ErrNotIssued):
		return metrics.CANotIssued
	}
	return metrics.CATransient
}

// backendName is the configured name of an order's backend ("" is the
// default), for metric labels.
func (r *RA) backendName(name string) string {
	if be, err := r.backends.Get(name); err == nil {
		return be.Name
	}
	return name
}

// countCA counts one call to the backend named (as an order stores it)
// that started at start and returned err.
func (r *RA) countCA(ctx context.Context, backend, operation string, start time.Time, err error) {
	r.metrics.CACall(ctx, r.backendName(backend), operation, caOutcome(err), time.Since(start))
}
