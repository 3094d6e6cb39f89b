package ra

import (
	"context"
	"fmt"

	"github.com/acmera/acmera/pkg/queue"
)

var _ queue.Handler = (*RA)(nil)

// HandleTask runs a queued task: a challenge validation or a finalize
// retry. It is what the validator function and the in-process queue call. A
// nil error means the task is finished (its result recorded, or nothing left
// to do); an error asks for redelivery.
func (r *RA) HandleTask(ctx context.Context, t queue.Task) error {
	if err := t.Validate(); err != nil {
		return fmt.Errorf("ra: %w", err)
	}
	switch t.Kind {
	case queue.KindValidate:
		return r.validate(ctx, t)
	case queue.KindFinalize:
		return r.retryFinalize(ctx, t)
	}
	return fmt.Errorf("ra: unknown task kind %q", t.Kind)
}
