// Package acme builds the ACME API function (FUNCTION_TARGET=ACME): the
// web front end over the registration authority, from the parts the entry
// point chose (Firestore, Cloud Tasks and CAS in the cloud; bbolt, the
// in-process queue and the local CA in the embedded default).
package acme

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"time"

	"github.com/acmera/acmera/pkg/ca"
	"github.com/acmera/acmera/pkg/logging"
	"github.com/acmera/acmera/pkg/metrics"
	"github.com/acmera/acmera/pkg/nonce"
	"github.com/acmera/acmera/pkg/policy"
	"github.com/acmera/acmera/pkg/queue"
	"github.com/acmera/acmera/pkg/ra"
	"github.com/acmera/acmera/pkg/store"
	"github.com/acmera/acmera/pkg/wfe"
)

// Parts are the implementations an ACME function runs on.
type Parts struct {
	Store store.Store
	Queue queue.Enqueuer
	// Backends are the CA backends (Issuer alone: one, the default).
	Backends  *ca.Backends
	Issuer    ca.Issuer
	Validator ra.Validator
	Policy    *policy.Policy
	// NonceKey seals replay nonces; every instance serving one directory
	// must share it.
	NonceKey []byte
	// BaseURL is the external URL; empty derives it per request.
	BaseURL string
	Logger  *slog.Logger
	Clock   func() time.Time
	// PollWait lets a poll of a processing authorization or order wait
	// for its result (ra.Config.PollWait). Only for a Queue that runs the
	// tasks in this process; zero in the cloud.
	PollWait time.Duration
	// FinalizeRetryDelay delays the outbox finalize task
	// (ra.Config.FinalizeRetryDelay); zero for the RA's default.
	FinalizeRetryDelay time.Duration
	// AccountCacheTTL lets the RA reuse an account read for that long
	// (ra.Config.AccountCacheTTL). Only when this process is the only
	// writer of accounts in Store (the embedded default); zero in the
	// cloud, where every request reads its account, so that a
	// deactivation or key rollover made through one instance holds on
	// every other at its next request.
	AccountCacheTTL time.Duration
	// NewAccountsPerHour caps new accounts per client address per hour
	// (ra.Config.NewAccountsPerHour).
	NewAccountsPerHour int
	// TrustedProxies are the proxies whose X-Forwarded-For names the
	// client (wfe.Config.TrustedProxies).
	TrustedProxies []netip.Prefix
	// TermsOfService and Website are the directory's meta URLs.
	TermsOfService, Website string
	// Metrics receives the RA's, the WFE's and the nonce service's
	// measurements; nil records nothing.
	Metrics *metrics.Metrics
}

// NewRA builds the registration authority from parts.
func NewRA(p Parts) (*ra.RA, error) {
	r, err := ra.New(ra.Config{Store: p.Store, Queue: p.Queue, Validator: p.Validator, Issuer: p.Issuer, Backends: p.Backends,
		Policy: p.Policy, Logger: p.Logger, Clock: p.Clock, PollWait: p.PollWait, AccountCacheTTL: p.AccountCacheTTL,
		NewAccountsPerHour: p.NewAccountsPerHour, FinalizeRetryDelay: p.FinalizeRetryDelay, Metrics: p.Metrics})
	if err != nil {
		return nil, fmt.Errorf("ra.New: %w", err)
	}
	return r, nil
}

// NewHandler returns the ACME API handler over r, with request logging.
func NewHandler(r *ra.RA, p Parts) (http.Handler, error) {
	if p.Logger == nil {
		return nil, errors.New("acme: no logger")
	}
	n, err := nonce.New(nonce.Config{Key: p.NonceKey, Used: p.Store, Clock: p.Clock, Metrics: p.Metrics})
	if err != nil {
		return nil, fmt.Errorf("nonce.New: %w", err)
	}
	w, err := wfe.New(wfe.Config{RA: r, Nonces: n, BaseURL: p.BaseURL, Logger: p.Logger, TrustedProxies: p.TrustedProxies,
		TermsOfService: p.TermsOfService, Website: p.Website, Metrics: p.Metrics})
	if err != nil {
		return nil, fmt.Errorf("wfe.New: %w", err)
	}
	return logging.Requests(p.Logger, w), nil
}
