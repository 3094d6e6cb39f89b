package ra

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/acmera/acmera/pkg/core"
	"github.com/acmera/acmera/pkg/queue"
	"github.com/acmera/acmera/pkg/store"
)

// Reconciler finishes work whose task was lost: an order left processing
// (its outbox finalize task dropped after its retries, or never queued
// because the instance died between BeginFinalize and the enqueue) and a
// challenge left processing (its validation task dropped, or never queued).
// Tasks and client polls heal these as long as they run; the reconciler
// heals them when neither does. It runs the same code a task runs
// (retryFinalize, validate), so it uses the same intent-named, conditional
// store transitions, and it ends an order invalid only when the CA says it
// never issued for it (see retryFinalize). One Reconciler belongs to one
// loop; it is not safe for concurrent use.
type Reconciler struct {
	ra   *RA
	list store.Recoverer
	// orderAfter is how long an order must have been processing.
	orderAfter time.Duration
	// seen holds the challenges found processing by the previous pass: a
	// challenge is reconciled when two passes in a row find it, so a
	// validation queued a moment ago is left to its task.
	seen map[[2]string]bool
}

// ReconcileStats counts what one pass found and did.
type ReconcileStats struct {
	// Orders and Challenges were found processing; Finalized and
	// Validated were re-run by this pass (old enough, not yet ended);
	// Failed of those still need another pass (the CA still failing).
	Orders, Challenges, Finalized, Validated, Failed int
}

// maxReconcileItems bounds the orders and the challenges one pass re-runs.
const maxReconcileItems = 200

// reconcileItemTimeout bounds one re-run finalize or validation.
const reconcileItemTimeout = caCallTimeout

// NewReconciler returns a reconciler of the work list lists. An order is
// re-run once it has been processing for orderAfter; zero or negative
// means twice the finalize retry delay, after its outbox task's first run.
func (r *RA) NewReconciler(list store.Recoverer, orderAfter time.Duration) *Reconciler {
	if orderAfter <= 0 {
		orderAfter = 2 * r.finalizeRetryDelay
	}
	return &Reconciler{ra: r, list: list, orderAfter: orderAfter, seen: map[[2]string]bool{}}
}

// Pass runs one reconciliation: it lists the processing orders and
// challenges and re-runs, one at a time, the finalize of each order
// processing for longer than orderAfter and the validation of each
// challenge that the previous pass also found processing. It stops early
// when ctx ends. The error is a listing failure; an item that fails is
// counted and logged, and the next pass retries it.
func (c *Reconciler) Pass(ctx context.Context) (ReconcileStats, error) {
	var st ReconcileStats
	orders, err := c.list.ProcessingOrders(ctx)
	if err != nil {
		return st, fmt.Errorf("store.ProcessingOrders: %w", err)
	}
	chs, err := c.list.ProcessingChallenges(ctx)
	if err != nil {
		return st, fmt.Errorf("store.ProcessingChallenges: %w", err)
	}
	st.Orders, st.Challenges = len(orders), len(chs)
	for _, id := range orders {
		if ctx.Err() != nil || st.Finalized >= maxReconcileItems {
			break
		}
		ran, err := c.finalize(ctx, id)
		if ran {
			st.Finalized++
		}
		if err != nil {
			st.Failed++
			c.ra.log.WarnContext(ctx, "reconcile: finalize still failing", "order", id, "error", err.Error())
		}
	}
	seen := make(map[[2]string]bool, len(chs))
	for _, ch := range chs {
		seen[ch] = true
		if !c.seen[ch] || ctx.Err() != nil || st.Validated >= maxReconcileItems {
			continue
		}
		st.Validated++
		if err := c.validate(ctx, ch); err != nil {
			st.Failed++
			c.ra.log.WarnContext(ctx, "reconcile: validation still failing", "authz", ch[0], "challenge", ch[1], "error", err.Error())
		}
	}
	c.seen = seen
	c.ra.metrics.ReconcilePass(st.Orders, st.Challenges, st.Finalized, st.Validated)
	if st.Finalized+st.Validated > 0 {
		c.ra.log.InfoContext(ctx, "reconciled stuck work", "event", "reconcile", "processingOrders", st.Orders,
			"processingChallenges", st.Challenges, "finalized", st.Finalized, "validated", st.Validated, "failed", st.Failed)
	}
	return st, nil
}

// finalize re-runs the finalize of a processing order that is old enough;
// ran says whether it did.
func (c *Reconciler) finalize(ctx context.Context, id string) (ran bool, err error) {
	o, err := c.ra.store.GetOrder(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("store.GetOrder: %w", err)
	}
	if o.Status != core.StatusProcessing || c.ra.now().Sub(o.UpdatedAt) < c.orderAfter {
		return false, nil
	}
	ctx, cancel := context.WithTimeout(ctx, reconcileItemTimeout)
	defer cancel()
	return true, c.ra.retryFinalize(ctx, queue.Task{Kind: queue.KindFinalize, Profile: o.Profile, OrderID: id})
}

// validate re-runs the validation of a processing challenge. The account
// key thumbprint is read from the account; with no account URL, a CAA
// record with accounturi does not authorize it (see caaFor).
func (c *Reconciler) validate(ctx context.Context, ch [2]string) error {
	ctx, cancel := context.WithTimeout(ctx, reconcileItemTimeout)
	defer cancel()
	return c.ra.validate(ctx, queue.Task{Kind: queue.KindValidate, AuthzID: ch[0], ChallengeID: ch[1]})
}

// Run runs a pass every interval until ctx ends, logging listing
// failures; each pass is bounded by the longer of the interval and one
// item's timeout (ticks that fall inside a pass are skipped).
func (c *Reconciler) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		pctx, cancel := context.WithTimeout(ctx, max(interval, reconcileItemTimeout))
		if _, err := c.Pass(pctx); err != nil && ctx.Err() == nil {
			c.ra.log.WarnContext(ctx, "reconcile pass failed", "error", err.Error())
		}
		cancel()
	}
}
