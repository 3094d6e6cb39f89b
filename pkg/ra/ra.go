// Package ra is acmera's registration authority: the business rules of
// RFC 8555 (accounts, orders, authorization reuse, challenge dispatch,
// finalize, revocation). It is the only caller of the store, the queue and
// the CA; pkg/wfe calls it for every request and the validator function calls
// HandleTask for every queued task. Client-facing failures are returned as
// *problem.Problem; any other error is internal.
package ra

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/acmera/acmera/pkg/ca"
	"github.com/acmera/acmera/pkg/core"
	"github.com/acmera/acmera/pkg/metrics"
	"github.com/acmera/acmera/pkg/policy"
	"github.com/acmera/acmera/pkg/problem"
	"github.com/acmera/acmera/pkg/queue"
	"github.com/acmera/acmera/pkg/store"
	"github.com/acmera/acmera/pkg/va"
)

// Validator checks one challenge; nil means valid. *va.Validator is one.
type Validator interface {
	Validate(ctx context.Context, req va.Request) *problem.Problem
}

// Config holds the RA's dependencies.
type Config struct {
	Store     store.Store
	Queue     queue.Enqueuer
	Validator Validator
	// Backends are the CA backends profiles pick from; Issuer alone is
	// shorthand for one backend, named "default".
	Backends *ca.Backends
	Issuer   ca.Issuer
	Policy   *policy.Policy
	// Clock returns the current time; default time.Now.
	Clock func() time.Time
	// Logger receives request-independent events and audit events.
	Logger *slog.Logger
	// FinalizeTimeout is how long an order may stay processing before the
	// RA gives up on the CA and marks it invalid, once the CA says it did
	// not issue (ca.Finder); default 10 minutes.
	FinalizeTimeout time.Duration
	// FinalizeRetryDelay is when the outbox finalize task, queued before
	// every CA call, runs; default 75 s, after the first call's own
	// 60-second bound.
	FinalizeRetryDelay time.Duration
	// BeforeComplete, when set, runs between the CA's answer and the
	// store write that records it; an error aborts there as if the
	// instance had died. A fault-injection hook for tests only.
	BeforeComplete func(ctx context.Context, orderID string) error
	// AccountCacheTTL is how long an account read is reused by this RA;
	// zero or negative, the default, reads the account from the store on
	// every request. Set it only when this RA is the only writer of
	// accounts in Store (the embedded default): its own changes evict the
	// cache at once, but a deactivation or key rollover made by another
	// process would be ignored here for up to the TTL (RFC 8555 §7.3.5,
	// §7.3.6), so the cloud functions must leave it zero.
	AccountCacheTTL time.Duration
	// PollWait is how long a poll of an authorization or order that is
	// processing may wait for its result before answering (at most
	// MaxPollWait). Set it only when Queue runs the tasks in this process
	// (the embedded default), where the result is announced in memory;
	// zero, the default, answers at once, as the cloud functions must.
	PollWait time.Duration
	// NewAccountsPerHour caps the accounts created for one client address
	// (NewAccountRequest.Source) per hour, counted in Store so that all
	// instances share it; zero means DefaultNewAccountsPerHour, negative no
	// limit.
	NewAccountsPerHour int
	// Metrics receives issuances, validations, CA calls, rate-limit
	// refusals and the reconciler's counts; nil records nothing.
	Metrics *metrics.Metrics
}

// DefaultNewAccountsPerHour is Config.NewAccountsPerHour's default: far
// above what one host needs (an account per client, made once), low
// enough to stop a script creating accounts in a loop.
const DefaultNewAccountsPerHour = 300

// MaxPollWait bounds Config.PollWait: a poll answers within it plus the
// time to read the store.
const MaxPollWait = 5 * time.Second

// RA implements the registration authority.
type RA struct {
	store           store.Store
	queue           queue.Enqueuer
	va              Validator
	backends        *ca.Backends
	policy          *policy.Policy
	now             func() time.Time
	log             *slog.Logger
	finalizeTimeout time.Duration
	// finalizeRetryDelay delays the outbox finalize task.
	finalizeRetryDelay time.Duration
	beforeComplete     func(ctx context.Context, orderID string) error
	accounts           *accountCache
	newAccountRate     int // new accounts per client address per hour; <= 0 none
	pollWait           time.Duration
	waiters            *resultWaiters
	metrics            *metrics.Metrics // nil records nothing
	// recMu guards rec, the reconciler of scheduled reconcile tasks.
	recMu sync.Mutex
	rec   *Reconciler
}

// New returns an RA.
func New(cfg Config) (*RA, error) {
	if cfg.Backends == nil && cfg.Issuer != nil {
		cfg.Backends = ca.Single("default", cfg.Issuer)
	}
	if cfg.Store == nil || cfg.Queue == nil || cfg.Validator == nil || cfg.Backends == nil || cfg.Policy == nil {
		return nil, errors.New("ra: Store, Queue, Validator, Backends (or Issuer) and Policy are required")
	}
	for _, name := range cfg.Policy.Names() {
		if _, err := cfg.Backends.Get(cfg.Policy.Profile(name).Backend); err != nil {
			return nil, fmt.Errorf("ra: profile %q: %w", name, err)
		}
	}
	r := &RA{store: cfg.Store, queue: cfg.Queue, va: cfg.Validator, backends: cfg.Backends, policy: cfg.Policy,
		now: cfg.Clock, log: cfg.Logger, finalizeTimeout: cfg.FinalizeTimeout,
		finalizeRetryDelay: cfg.FinalizeRetryDelay, beforeComplete: cfg.BeforeComplete}
	if r.now == nil {
		r.now = time.Now
	}
	if r.log == nil {
		r.log = slog.Default()
	}
	if r.finalizeTimeout <= 0 {
		r.finalizeTimeout = 10 * time.Minute
	}
	if r.finalizeRetryDelay <= 0 {
		r.finalizeRetryDelay = caCallTimeout + 15*time.Second
	}
	r.accounts = newAccountCache(cfg.AccountCacheTTL, 100_000)
	r.newAccountRate = cfg.NewAccountsPerHour
	if r.newAccountRate == 0 {
		r.newAccountRate = DefaultNewAccountsPerHour
	}
	r.pollWait = min(max(cfg.PollWait, 0), MaxPollWait)
	r.waiters = newResultWaiters()
	r.metrics = cfg.Metrics
	return r, nil
}

// Policy returns the RA's policy.
func (r *RA) Policy() *policy.Policy { return r.policy }

// Now returns the RA's current time.
func (r *RA) Now() time.Time { return r.now() }

// profile returns the named profile or a 404 problem.
func (r *RA) profile(name string) (*policy.Profile, error) {
	pr := r.policy.Profile(name)
	if pr == nil {
		return nil, problem.NotFound(fmt.Sprintf("profile %q", name))
	}
	return pr, nil
}

// notFound converts store.ErrNotFound into a 404 problem naming what, and
// wraps anything else with the failing call.
func notFound(err error, what, call string) error {
	if errors.Is(err, store.ErrNotFound) {
		return problem.NotFound(what)
	}
	return fmt.Errorf("%s: %w", call, err)
}

// Roots returns the CA roots clients should trust.
func (r *RA) Roots(ctx context.Context) ([][]byte, error) {
	roots, err := r.backends.Roots(ctx)
	if err != nil {
		return nil, fmt.Errorf("ca.Backends.Roots: %w", err)
	}
	return roots, nil
}

// issuer returns the CA of the named backend ("" for the default).
func (r *RA) issuer(name string) (ca.Issuer, error) {
	be, err := r.backends.Get(name)
	if err != nil {
		return nil, err
	}
	return be.Issuer, nil
}

// BackendDescription says which CA issues a profile's certificates, for
// the directory's meta.profiles.
func (r *RA) BackendDescription(profile string) string {
	pr := r.policy.Profile(profile)
	if pr == nil {
		return ""
	}
	be, err := r.backends.Get(pr.Backend)
	if err != nil {
		return ""
	}
	return be.Description
}

// owned checks that an object belongs to the requesting account.
func owned(acct *core.Account, ownerID, what string) error {
	if acct.ID != ownerID {
		return problem.Unauthorizedf("this %s belongs to another account", what)
	}
	return nil
}
