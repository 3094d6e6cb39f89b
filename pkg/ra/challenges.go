package ra

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/acmera/acmera/pkg/core"
	"github.com/acmera/acmera/pkg/metrics"
	"github.com/acmera/acmera/pkg/problem"
	"github.com/acmera/acmera/pkg/queue"
	"github.com/acmera/acmera/pkg/store"
	"github.com/acmera/acmera/pkg/va"
)

// ChallengeAnswer is a client's "I am ready" POST to a challenge.
type ChallengeAnswer struct {
	AuthzID, ChallengeID string
	// AccountURL is the account URL the request was signed with (its JWS
	// kid). The validation task carries it for CAA's accounturi (RFC 8657
	// §3): the validator may not know the public base URL.
	AccountURL string
}

// AnswerChallenge handles a client's "I am ready" POST to a challenge
// (RFC 8555 §7.5.1): it moves the challenge to processing and enqueues its
// validation. Answering a challenge that is already processing enqueues the
// validation again, which the task's deterministic name makes harmless and
// which heals an enqueue lost to a crash. Answering one that has finished
// returns it unchanged.
func (r *RA) AnswerChallenge(ctx context.Context, acct *core.Account, a ChallengeAnswer) (*core.Authorization, *core.Challenge, error) {
	authzID, challengeID := a.AuthzID, a.ChallengeID
	az, err := r.authorization(ctx, acct, authzID)
	if err != nil {
		return nil, nil, err
	}
	ch := az.Challenge(challengeID)
	if ch == nil {
		return nil, nil, problem.NotFound("challenge")
	}
	if az.StatusAt(r.now()) == core.StatusExpired {
		return nil, nil, problem.Malformedf("the authorization has expired; create a new order")
	}
	if core.ChallengeCanStart(az, ch) {
		az, err = r.store.MarkChallengeProcessing(ctx, authzID, challengeID)
		if err != nil && !errors.Is(err, store.ErrConflict) {
			return nil, nil, fmt.Errorf("store.MarkChallengeProcessing: %w", err)
		}
		if az == nil { // conflict without the current state: read it
			if az, err = r.store.GetAuthorization(ctx, authzID); err != nil {
				return nil, nil, fmt.Errorf("store.GetAuthorization: %w", err)
			}
		}
		ch = az.Challenge(challengeID)
	}
	if ch.Status == core.StatusProcessing {
		t := queue.Task{Kind: queue.KindValidate, Profile: az.Profile, AuthzID: authzID, ChallengeID: challengeID,
			Thumbprint: acct.KeyThumbprint, AccountURL: a.AccountURL}
		if err := r.queue.Enqueue(ctx, t); err != nil {
			return nil, nil, fmt.Errorf("queue.Enqueue %s: %w", t.Name(), err)
		}
	}
	return az, ch, nil
}

// validate runs a queued challenge validation and records the result. A
// failed validation is recorded and returns nil; only an internal failure
// returns an error, asking the queue to retry.
func (r *RA) validate(ctx context.Context, t queue.Task) error {
	az, err := r.store.GetAuthorization(ctx, t.AuthzID)
	if errors.Is(err, store.ErrNotFound) {
		r.log.WarnContext(ctx, "validation task for an unknown authorization", "authz", t.AuthzID)
		return nil
	}
	if err != nil {
		return fmt.Errorf("store.GetAuthorization: %w", err)
	}
	ch := az.Challenge(t.ChallengeID)
	if ch == nil || ch.Status != core.StatusProcessing || az.Status != core.StatusPending {
		return nil // already recorded: a redelivery or a late duplicate
	}
	thumbprint, err := r.thumbprint(ctx, az.AccountID, t.Thumbprint)
	if err != nil {
		return err
	}
	var prob *problem.Problem
	validated := false // the VA ran: a failure counts against the identifier
	var took time.Duration
	if az.StatusAt(r.now()) == core.StatusExpired {
		prob = problem.Malformedf("the authorization expired before it was validated")
	} else {
		validated = true
		start := time.Now()
		prob = r.va.Validate(ctx, va.Request{
			Identifier: az.Identifier, Type: ch.Type, Token: ch.Token,
			KeyAuthorization: ch.Token + "." + thumbprint, CAA: r.caaFor(az, t),
		})
		took = time.Since(start)
	}
	if prob != nil && prob.Identifier == nil {
		prob = prob.WithIdentifier(az.Identifier)
	}
	now := r.now()
	res := core.ValidationResult{AuthzID: az.ID, ChallengeID: ch.ID, Error: prob, ValidatedAt: now}
	if pr := r.policy.Profile(az.Profile); pr != nil && prob == nil {
		res.Expires = now.Add(time.Duration(pr.AuthzLifetime))
	}
	if _, err := r.store.RecordValidation(ctx, res); err != nil {
		if errors.Is(err, store.ErrConflict) {
			r.waiters.notify(authzKey(az.ID))
			r.log.InfoContext(ctx, "validation already recorded", "authz", az.ID, "challenge", ch.ID)
			return nil
		}
		return fmt.Errorf("store.RecordValidation: %w", err)
	}
	r.waiters.notify(authzKey(az.ID))
	if validated {
		outcome := metrics.ValidationValid
		if prob != nil {
			outcome = metrics.ValidationInvalid
			r.countFailedValidation(ctx, az, now)
		}
		r.metrics.Validation(ctx, ch.Type, outcome, took)
	}
	attrs := []any{"event", "challenge.validated", "account", az.AccountID, "authz", az.ID, "order", az.OrderID,
		"identifier", az.Identifier.Value, "challenge", ch.Type, "valid", prob == nil}
	if prob != nil {
		attrs = append(attrs, "problem", string(prob.Type), "detail", prob.Detail)
	}
	r.log.InfoContext(ctx, "challenge validated", attrs...)
	return nil
}

// caaFor is the CAA check a validation of az asks for: the profile's
// caaIdentities, or nil when the profile does not check CAA. The account
// URL comes from the task; a task queued without one (before it was
// carried, or re-queued by a poll or crash recovery after its first
// enqueue was lost) leaves it empty, and then a CAA record with accounturi
// does not authorize (va.CAA).
func (r *RA) caaFor(az *core.Authorization, t queue.Task) *va.CAA {
	pr := r.policy.Profile(az.Profile)
	if pr == nil || !pr.ChecksCAA() {
		return nil
	}
	return &va.CAA{Identities: pr.CAAIdentities, Wildcard: az.Wildcard, AccountURL: t.AccountURL}
}

// thumbprint is the account key thumbprint for a key authorization: the
// one the task carries, else the cached or stored account's.
func (r *RA) thumbprint(ctx context.Context, accountID, fromTask string) (string, error) {
	if fromTask != "" {
		return fromTask, nil
	}
	if a := r.accounts.get(accountID, r.now()); a != nil {
		return a.KeyThumbprint, nil
	}
	epoch := r.accounts.begin()
	a, err := r.store.GetAccount(ctx, accountID)
	if err != nil {
		return "", fmt.Errorf("store.GetAccount: %w", err)
	}
	r.accounts.put(a, epoch, r.now())
	return a.KeyThumbprint, nil
}
