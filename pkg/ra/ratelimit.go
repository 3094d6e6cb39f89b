package ra

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/acmera/acmera/pkg/acme"
	"github.com/acmera/acmera/pkg/core"
	"github.com/acmera/acmera/pkg/policy"
	"github.com/acmera/acmera/pkg/problem"
	"github.com/acmera/acmera/pkg/store"
)

// Rate limits (DESIGN.md "Security rules", README "Rate limits"). The
// counters live in the store (store.RateLimits), so every instance on one
// store shares them. Windows are fixed UTC hours; a refusal is a
// rateLimited problem (RFC 8555 §6.6) whose Retry-After is the end of the
// window, or, for pending authorizations, the first one's expiry. A store
// failure while checking is an internal error, never a pass: no flood gets
// through unlimited because the counters are unreachable.
const (
	limitWindow = time.Hour
	// orderShards spreads one account's order counter over this many
	// Firestore documents: one busy account at 100 orders/s writes each
	// about 6 times a second; a newOrder reads their sum (one aggregation,
	// one read).
	orderShards = 16
	// accountShards spreads one client address's new-account counter.
	accountShards = 4
	// Failed validations are rare (an identifier over its limit gets no
	// new orders), so one document per identifier and hour is enough,
	// and newOrder reads one per identifier.
	failedShards = 1
)

// The names of the limits, as the rate-limit refusals metric labels them:
// the profile settings, and ACMERA_NEW_ACCOUNT_RATE's.
const (
	LimitOrdersPerHour            = "maxOrdersPerHour"
	LimitFailedValidationsPerHour = "maxFailedValidationsPerHour"
	LimitPendingAuthorizations    = "maxPendingAuthorizations"
	LimitNewAccountsPerHour       = "newAccountsPerHour"
)

func ordersLimit(accountID string, max int) store.RateLimit {
	return store.RateLimit{Key: "orders:" + accountID, Max: int64(max), Window: limitWindow, Shards: orderShards}
}

func newAccountsLimit(source string, max int) store.RateLimit {
	return store.RateLimit{Key: "newAccounts:" + source, Max: int64(max), Window: limitWindow, Shards: accountShards}
}

// failedValidationsLimit counts per identifier across accounts and
// profiles; a wildcard is counted on its base name, which its dns-01
// validation proves.
func failedValidationsLimit(id acme.Identifier, max int) store.RateLimit {
	return store.RateLimit{Key: "failedValidations:" + id.Type + ":" + strings.TrimPrefix(id.Value, "*."),
		Max: int64(max), Window: limitWindow, Shards: failedShards}
}

func rfc3339(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// spendOrder counts a new order of acct against the profile's
// maxOrdersPerHour; it returns the limit spent (nil when the profile has
// none) so a failed order can refund it.
func (r *RA) spendOrder(ctx context.Context, pr *policy.Profile, acct *core.Account, now time.Time) (*store.RateLimit, error) {
	if pr.MaxOrdersPerHour <= 0 {
		return nil, nil
	}
	l := ordersLimit(acct.ID, pr.MaxOrdersPerHour)
	ok, until, err := r.store.Spend(ctx, l, 1, now)
	if err != nil {
		return nil, fmt.Errorf("store.Spend(%s): %w", l.Key, err)
	}
	if !ok {
		r.metrics.RateLimited(ctx, LimitOrdersPerHour)
		return nil, ordersLimited(pr, l, until, now)
	}
	return &l, nil
}

// ordersLimited is the refusal of an order over maxOrdersPerHour.
func ordersLimited(pr *policy.Profile, l store.RateLimit, until, now time.Time) error {
	return problem.RateLimitedf(until.Sub(now), "rate limit maxOrdersPerHour exceeded: this account may place %d new orders per hour and has placed them all in the window %s to %s; retry after %s",
		pr.MaxOrdersPerHour, rfc3339(l.WindowStart(now)), rfc3339(until), rfc3339(until))
}

// createOrder counts o against the profile's maxOrdersPerHour and stores
// it with its fresh authorizations: in one transaction where the store
// can (store.OrderSpender), else Spend, CreateOrder, and a refund when
// storing fails. Either way an order is stored only if it was counted.
func (r *RA) createOrder(ctx context.Context, pr *policy.Profile, acct *core.Account, o *core.Order, fresh []*core.Authorization, now time.Time) error {
	if sp, ok := r.store.(store.OrderSpender); ok && pr.MaxOrdersPerHour > 0 {
		l := ordersLimit(acct.ID, pr.MaxOrdersPerHour)
		ok, until, err := sp.SpendCreateOrder(ctx, l, now, o, fresh)
		if err != nil {
			return fmt.Errorf("store.SpendCreateOrder: %w", err)
		}
		if !ok {
			r.metrics.RateLimited(ctx, LimitOrdersPerHour)
			return ordersLimited(pr, l, until, now)
		}
		return nil
	}
	spent, err := r.spendOrder(ctx, pr, acct, now)
	if err != nil {
		return err
	}
	if err := r.store.CreateOrder(ctx, o, fresh); err != nil {
		r.refund(ctx, spent, 1, now)
		return fmt.Errorf("store.CreateOrder: %w", err)
	}
	return nil
}

// refund gives back n events of l after the work they paid for failed.
func (r *RA) refund(ctx context.Context, l *store.RateLimit, n int64, now time.Time) {
	if l == nil {
		return
	}
	if err := r.store.Add(ctx, *l, -n, now); err != nil {
		r.log.WarnContext(ctx, "store.Add rate-limit refund failed", "key", l.Key, "error", err.Error())
	}
}

// checkFailedValidations refuses an order naming identifiers that failed
// validation maxFailedValidationsPerHour times in this hour, with one
// subproblem per refused identifier (RFC 8555 §6.7.1). Read only.
func (r *RA) checkFailedValidations(ctx context.Context, pr *policy.Profile, idents []acme.Identifier, now time.Time) error {
	max := pr.MaxFailedValidationsPerHour
	if max <= 0 {
		return nil
	}
	ls := make([]store.RateLimit, len(idents))
	for i, id := range idents {
		ls[i] = failedValidationsLimit(id, max)
	}
	counts, err := r.store.Counts(ctx, ls, now)
	if err != nil {
		return fmt.Errorf("store.Counts(failed validations): %w", err)
	}
	var subs []problem.Problem
	var names []string
	for i, n := range counts {
		if n < int64(max) {
			continue
		}
		v := problem.Truncate(idents[i].Value, 64)
		names = append(names, v)
		subs = append(subs, *problem.New(problem.RateLimited, "%s failed validation %d times this hour (maxFailedValidationsPerHour %d)",
			v, n, max).WithIdentifier(idents[i]))
	}
	if len(subs) == 0 {
		return nil
	}
	r.metrics.RateLimited(ctx, LimitFailedValidationsPerHour)
	end := ls[0].WindowEnd(now)
	p := problem.RateLimitedf(end.Sub(now), "rate limit maxFailedValidationsPerHour exceeded: %s failed validation %d or more times in the hour window %s to %s; retry after %s",
		strings.Join(names, ", "), max, rfc3339(ls[0].WindowStart(now)), rfc3339(end), rfc3339(end))
	p.Subproblems = subs
	return p
}

// checkPendingAuthorizations refuses an order whose fresh authorizations
// would take acct over the profile's maxPendingAuthorizations. Read only.
func (r *RA) checkPendingAuthorizations(ctx context.Context, pr *policy.Profile, acct *core.Account, fresh int, now time.Time) error {
	max := pr.MaxPendingAuthorizations
	if max <= 0 || fresh == 0 {
		return nil
	}
	n, err := r.store.CountPendingAuthorizations(ctx, acct.ID, now, max)
	if err != nil {
		return fmt.Errorf("store.CountPendingAuthorizations: %w", err)
	}
	if n+fresh <= max {
		return nil
	}
	// The first pending one to expire frees a place; with none pending
	// the order alone is over the limit, and a retry will not help sooner
	// than a pending lifetime.
	retry := now.Add(time.Duration(pr.PendingLifetime))
	if n > 0 {
		next, err := r.store.NextPendingExpiry(ctx, acct.ID, now)
		switch {
		case err == nil:
			retry = next
		case !errors.Is(err, store.ErrNotFound):
			return fmt.Errorf("store.NextPendingExpiry: %w", err)
		}
	}
	r.metrics.RateLimited(ctx, LimitPendingAuthorizations)
	return problem.RateLimitedf(retry.Sub(now), "rate limit maxPendingAuthorizations exceeded: this account may hold %d pending authorizations, has %d and the order needs %d more; validate or deactivate some, or retry after %s when the first expires",
		max, n, fresh, rfc3339(retry))
}

// countFailedValidation counts a failed validation of az's identifier. The
// validation is already recorded, so a store failure here is logged, not
// retried: a redelivered task would find the result recorded and count
// nothing, and the limit undercounts by one.
func (r *RA) countFailedValidation(ctx context.Context, az *core.Authorization, now time.Time) {
	l := failedValidationsLimit(az.Identifier, 0)
	if err := r.store.Add(ctx, l, 1, now); err != nil {
		r.log.ErrorContext(ctx, "store.Add failed-validation count failed", "key", l.Key, "authz", az.ID, "error", err.Error())
	}
}

// spendNewAccount counts an account creation from source against
// Config.NewAccountsPerHour; nil limit when there is none.
func (r *RA) spendNewAccount(ctx context.Context, source string, now time.Time) (*store.RateLimit, error) {
	if r.newAccountRate <= 0 {
		return nil, nil
	}
	l := newAccountsLimit(source, r.newAccountRate)
	ok, until, err := r.store.Spend(ctx, l, 1, now)
	if err != nil {
		return nil, fmt.Errorf("store.Spend(%s): %w", l.Key, err)
	}
	if !ok {
		r.metrics.RateLimited(ctx, LimitNewAccountsPerHour)
		return nil, problem.RateLimitedf(until.Sub(now), "rate limit ACMERA_NEW_ACCOUNT_RATE exceeded: %d accounts may be created from %s per hour and all were in the window %s to %s; retry after %s",
			r.newAccountRate, problem.Truncate(source, 64), rfc3339(l.WindowStart(now)), rfc3339(until), rfc3339(until))
	}
	return &l, nil
}
