package ra

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/acmera/acmera/pkg/acme"
	"github.com/acmera/acmera/pkg/core"
	"github.com/acmera/acmera/pkg/policy"
	"github.com/acmera/acmera/pkg/problem"
	"github.com/acmera/acmera/pkg/queue"
	"github.com/acmera/acmera/pkg/store"
)

// NewOrderRequest is a verified newOrder request (RFC 8555 §7.4).
type NewOrderRequest struct {
	Profile     string
	Identifiers []acme.Identifier
	// NotBefore and NotAfter are the requested validity; zero for none.
	NotBefore, NotAfter time.Time
	// Replaces is the ARI certID of the certificate the order replaces
	// (RFC 9773 §5); empty for none.
	Replaces string
}

// NewOrder checks that the account may use the profile
// (policy.Profile.AllowedFor) and every identifier against it, reuses the
// account's valid authorizations where it can, and stores the order with its
// new pending authorizations. Nothing is stored when any check fails: the
// rate limits (ratelimit.go) are read first, and the order is counted
// only once every other check has passed, and refunded if storing it fails.
func (r *RA) NewOrder(ctx context.Context, acct *core.Account, req NewOrderRequest) (*core.Order, error) {
	pr, err := r.profile(req.Profile)
	if err != nil {
		return nil, err
	}
	if !pr.AllowedFor(acct) {
		return nil, problem.Unauthorizedf("account %s may not use profile %q: it requires an account bound with an external account key (EAB)", acct.ID, req.Profile)
	}
	nar, err := r.narrowing(ctx, acct)
	if err != nil {
		return nil, err
	}
	idents, err := checkIdentifiers(pr, nar, req.Identifiers)
	if err != nil {
		return nil, err
	}
	now := r.now()
	if err := checkValidity(pr, nar, now, req.NotBefore, req.NotAfter); err != nil {
		return nil, err
	}
	var replaces string
	if req.Replaces != "" {
		if replaces, err = r.checkReplaces(ctx, acct, req.Replaces, idents); err != nil {
			return nil, err
		}
	}
	if err := r.checkFailedValidations(ctx, pr, idents, now); err != nil {
		return nil, err
	}
	o := &core.Order{
		ID: core.NewID(), AccountID: acct.ID, Profile: req.Profile, Status: core.StatusPending,
		Expires: now.Add(time.Duration(pr.PendingLifetime)), Identifiers: idents,
		NotBefore: req.NotBefore, NotAfter: req.NotAfter, CreatedAt: now, UpdatedAt: now,
	}
	if replaces != "" {
		o.Replaces, o.ReplacesCertID = req.Replaces, replaces
	}
	if nar != nil && nar.MaxLifetime > 0 && nar.MaxLifetime < time.Duration(pr.DefaultLifetime) {
		o.LifetimeCap = nar.MaxLifetime
	}
	// The order remembers its CA, so its retries and its certificate's
	// revocation go to the CA that was asked, whatever the profile says later.
	o.Backend = cmp.Or(pr.Backend, r.backends.Default())
	reuse, err := r.reusable(ctx, acct, req.Profile, idents, o.Expires)
	if err != nil {
		return nil, err
	}
	var fresh []*core.Authorization
	for _, id := range idents {
		if az := reuse[id]; az != nil {
			o.AuthzIDs = append(o.AuthzIDs, az.ID)
			continue
		}
		az := newAuthz(pr, nar, acct, o, id, now)
		fresh = append(fresh, az)
		o.AuthzIDs = append(o.AuthzIDs, az.ID)
	}
	if len(fresh) == 0 {
		o.Status = core.StatusReady
	}
	if err := r.checkPendingAuthorizations(ctx, pr, acct, len(fresh), now); err != nil {
		return nil, err
	}
	if err := r.createOrder(ctx, pr, acct, o, fresh, now); err != nil {
		return nil, err
	}
	r.log.InfoContext(ctx, "order created", "event", "order.create", "account", acct.ID, "order", o.ID,
		"identifiers", identValues(idents), "reused", len(idents)-len(fresh), "replaces", o.ReplacesCertID, "eab_kid", acct.EABKeyID)
	return o, nil
}

// checkIdentifiers normalizes, de-duplicates and checks the identifiers
// against the profile and the account's EAB key (nar, nil for none); a
// failure carries one subproblem per rejected identifier (RFC 8555
// §6.7.1), always so when the key refused one.
func checkIdentifiers(pr *policy.Profile, nar *policy.Narrowing, in []acme.Identifier) ([]acme.Identifier, error) {
	if len(in) == 0 {
		return nil, problem.Malformedf("the order has no identifiers")
	}
	if len(in) > pr.MaxIdentifiers {
		return nil, problem.New(problem.RejectedIdentifier, "the order has %d identifiers; this profile allows at most %d", len(in), pr.MaxIdentifiers)
	}
	seen := make(map[acme.Identifier]bool, len(in))
	out := make([]acme.Identifier, 0, len(in))
	var subs []problem.Problem
	byKey := 0
	for _, raw := range in {
		id, p := policy.Normalize(raw)
		if p == nil {
			p = pr.CheckIdentifier(id)
		}
		if p == nil && nar != nil {
			if p = nar.CheckIdentifier(id); p == nil {
				p = keyChallenges(pr, nar, id)
			}
			if p != nil {
				byKey++
			}
		}
		if p != nil {
			subs = append(subs, *p)
			continue
		}
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	switch {
	case len(subs) == 0:
		return out, nil
	case len(subs) == 1 && byKey == 0:
		return nil, &subs[0]
	}
	top := subs[0].Type
	for _, s := range subs[1:] {
		if s.Type != top {
			top = problem.Compound
		}
	}
	p := problem.New(top, "%d identifiers were refused; see subproblems", len(subs))
	if byKey > 0 {
		p = problem.New(top, "%d of the order's identifiers were refused, %d of them by EAB key %q; see subproblems", len(subs), byKey, nar.KID)
	}
	p.Subproblems = subs
	return nil, p
}

// keyChallenges refuses an identifier for which the profile and the key
// share no challenge type.
func keyChallenges(pr *policy.Profile, nar *policy.Narrowing, id acme.Identifier) *problem.Problem {
	base, wildcard := strings.CutPrefix(id.Value, "*.")
	if len(nar.Challenges(pr.ChallengesFor(acme.Identifier{Type: id.Type, Value: base}, wildcard))) > 0 {
		return nil
	}
	return problem.New(problem.RejectedIdentifier, "no challenge type that both this profile and EAB key %q allow can validate %q",
		nar.KID, id.Value).WithIdentifier(id)
}

// checkValidity checks a requested notBefore/notAfter against the profile
// and the EAB key's maximum lifetime (nar, nil for none).
func checkValidity(pr *policy.Profile, nar *policy.Narrowing, now, nb, na time.Time) error {
	if nb.IsZero() && na.IsZero() {
		return nil
	}
	start := nb
	if start.IsZero() {
		start = now
	}
	if !na.IsZero() && !na.After(start) {
		return problem.Malformedf("notAfter must be after notBefore (or now)")
	}
	if !nb.IsZero() && (nb.Before(now.Add(-time.Hour)) || nb.After(now.Add(time.Duration(pr.PendingLifetime)))) {
		return problem.Malformedf("notBefore must be within an hour before now and before the order expires")
	}
	if !na.IsZero() && na.Sub(start) > time.Duration(pr.MaxLifetime) {
		return problem.Malformedf("the requested lifetime %v exceeds this profile's maximum of %v",
			na.Sub(start).Round(time.Second), time.Duration(pr.MaxLifetime))
	}
	if !na.IsZero() {
		if p := nar.CheckLifetime(na.Sub(start)); p != nil {
			return p
		}
	}
	return nil
}

// reusable finds valid authorizations to reuse for the non-wildcard
// identifiers. Wildcard authorizations are never reused: a wildcard must be
// proven by dns-01 each time, and an apex authorization proven by http-01
// must never stand in for one.
func (r *RA) reusable(ctx context.Context, acct *core.Account, profile string, idents []acme.Identifier, until time.Time) (map[acme.Identifier]*core.Authorization, error) {
	var plain []acme.Identifier
	for _, id := range idents {
		if !strings.HasPrefix(id.Value, "*.") {
			plain = append(plain, id)
		}
	}
	if len(plain) == 0 {
		return nil, nil
	}
	found, err := r.store.FindValidAuthorizations(ctx, acct.ID, profile, plain, until)
	if err != nil {
		return nil, fmt.Errorf("store.FindValidAuthorizations: %w", err)
	}
	for id, az := range found {
		if az.Wildcard || az.AccountID != acct.ID || az.StatusAt(until) != core.StatusValid {
			delete(found, id)
		}
	}
	return found, nil
}

// newAuthz builds a pending authorization for one identifier with one
// challenge per allowed type, each with its own random token.
func newAuthz(pr *policy.Profile, nar *policy.Narrowing, acct *core.Account, o *core.Order, id acme.Identifier, now time.Time) *core.Authorization {
	base, wildcard := strings.CutPrefix(id.Value, "*.")
	az := &core.Authorization{
		ID: core.NewID(), AccountID: acct.ID, OrderID: o.ID, Profile: o.Profile,
		Identifier: acme.Identifier{Type: id.Type, Value: base}, Wildcard: wildcard,
		Status: core.StatusPending, Expires: o.Expires, CreatedAt: now,
	}
	for _, typ := range nar.Challenges(pr.ChallengesFor(id, wildcard)) {
		az.Challenges = append(az.Challenges, core.Challenge{
			ID: core.NewID()[:11], Type: typ, Token: core.NewToken(), Status: core.StatusPending,
		})
	}
	return az
}

func identValues(ids []acme.Identifier) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = id.Value
	}
	return out
}

// Order returns an order of the account. An order left processing for a
// while is re-queued (harmless if its task still exists); only the
// finalize task ends an order the CA has not answered for, once it knows
// the CA did not issue (see retryFinalize).
func (r *RA) Order(ctx context.Context, acct *core.Account, id string) (*core.Order, error) {
	o, err := r.store.GetOrder(ctx, id)
	if err != nil {
		return nil, notFound(err, "order", "store.GetOrder")
	}
	if err := owned(acct, o.AccountID, "order"); err != nil {
		return nil, err
	}
	if o.Status == core.StatusProcessing {
		if r.now().Sub(o.UpdatedAt) > 30*time.Second {
			r.enqueueFinalize(ctx, o, 0)
		}
		if r.pollWait > 0 {
			return r.awaitOrder(ctx, o)
		}
	}
	return o, nil
}

// Orders lists the URLs' IDs of an account's recent orders.
func (r *RA) Orders(ctx context.Context, acct *core.Account) ([]string, error) {
	ids, err := r.store.ListOrders(ctx, acct.ID, 100)
	if err != nil {
		return nil, fmt.Errorf("store.ListOrders: %w", err)
	}
	return ids, nil
}

// Authorization returns an authorization of the account, for a client's
// poll, re-queueing a validation whose task may have been lost.
func (r *RA) Authorization(ctx context.Context, acct *core.Account, id string) (*core.Authorization, error) {
	az, err := r.authorization(ctx, acct, id)
	if err != nil {
		return nil, err
	}
	r.requeueProcessing(ctx, acct, az)
	if r.pollWait > 0 && az.Processing() {
		return r.awaitAuthorization(ctx, az)
	}
	return az, nil
}

// authorization reads an authorization of the account.
func (r *RA) authorization(ctx context.Context, acct *core.Account, id string) (*core.Authorization, error) {
	az, err := r.store.GetAuthorization(ctx, id)
	if err != nil {
		return nil, notFound(err, "authorization", "store.GetAuthorization")
	}
	if err := owned(acct, az.AccountID, "authorization"); err != nil {
		return nil, err
	}
	return az, nil
}

// requeueProcessing enqueues again the validation of any challenge of az
// left processing. The task's deterministic name makes this a no-op while
// the task exists; if its enqueue was lost (the queue refused, or the
// instance died between marking the challenge and enqueueing), the client's
// next poll recovers it.
func (r *RA) requeueProcessing(ctx context.Context, acct *core.Account, az *core.Authorization) {
	if az.Status != core.StatusPending {
		return
	}
	for i := range az.Challenges {
		ch := &az.Challenges[i]
		if ch.Status != core.StatusProcessing {
			continue
		}
		t := queue.Task{Kind: queue.KindValidate, Profile: az.Profile, AuthzID: az.ID, ChallengeID: ch.ID,
			Thumbprint: acct.KeyThumbprint}
		if err := r.queue.Enqueue(ctx, t); err != nil {
			r.log.WarnContext(ctx, "queue.Enqueue validation retry failed", "task", t.Name(), "error", err.Error())
		}
	}
}

// DeactivateAuthorization deactivates an authorization (RFC 8555 §7.5.2).
func (r *RA) DeactivateAuthorization(ctx context.Context, acct *core.Account, id string) (*core.Authorization, error) {
	az, err := r.authorization(ctx, acct, id)
	if err != nil {
		return nil, err
	}
	if s := az.StatusAt(r.now()); s != core.StatusPending && s != core.StatusValid {
		return nil, problem.Malformedf("an authorization that is %s cannot be deactivated", s)
	}
	az, err = r.store.DeactivateAuthorization(ctx, id)
	if errors.Is(err, store.ErrConflict) {
		return nil, problem.Malformedf("the authorization changed status concurrently and cannot be deactivated")
	}
	if err != nil {
		return nil, fmt.Errorf("store.DeactivateAuthorization: %w", err)
	}
	return az, nil
}
