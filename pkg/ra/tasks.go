package ra

import (
	"context"
	"errors"
	"fmt"

	"github.com/acmera/acmera/pkg/queue"
	"github.com/acmera/acmera/pkg/store"
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
	case queue.KindReconcile:
		return r.reconcilePass(ctx)
	}
	return fmt.Errorf("ra: unknown task kind %q", t.Kind)
}

// reconcilePass runs one pass of this RA's reconciler over its store,
// which must list its processing work (store.Recoverer). The reconciler
// is kept between passes, as it remembers the challenges it saw (it
// re-runs one only when two passes in a row find it processing).
func (r *RA) reconcilePass(ctx context.Context) error {
	list, ok := r.store.(store.Recoverer)
	if !ok {
		return errors.New("ra: reconcile task: the store cannot list processing work")
	}
	r.recMu.Lock()
	if r.rec == nil {
		r.rec = r.NewReconciler(list, 0)
	}
	rec := r.rec
	r.recMu.Unlock()
	st, err := rec.Pass(ctx)
	if err != nil {
		return fmt.Errorf("ra: reconcile pass: %w", err)
	}
	r.log.InfoContext(ctx, "reconcile pass", "event", "reconcile.pass", "stats", fmt.Sprintf("%+v", st))
	return nil
}
