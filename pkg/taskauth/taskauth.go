// Package taskauth authenticates the Cloud Tasks calls to the validator
// endpoint: each carries an OIDC ID token (RFC 7519 JWT, signed RS256 by
// Google) for the queue's service account, sent as an RFC 6750 bearer
// token. The verifier checks signature, issuer, audience, lifetime and the
// service account's email, and tells an unauthenticated call (401) from an
// authenticated but unauthorized one (403).
//
// Keys come either from a JWKS URL (the local fakes publish one) or, in
// production, from Google's certificates through google.golang.org/api/idtoken.
package taskauth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"google.golang.org/api/idtoken"
	"google.golang.org/api/option"
)

// Verifier authenticates one request to the validator endpoint. A nil
// error means the request comes from Cloud Tasks for our queue; otherwise
// Status(err) is the HTTP status to answer with.
type Verifier interface {
	Verify(ctx context.Context, r *http.Request) error
}

// Google's ID token issuers (both spellings occur in the wild).
var googleIssuers = []string{"https://accounts.google.com", "accounts.google.com"}

// Defaults for Config.
const (
	defaultSkew       = time.Minute
	defaultMinRefresh = 30 * time.Second
	defaultCacheTTL   = time.Hour
)

// Config configures an OIDC verifier.
type Config struct {
	// Audience is the expected "aud": the audience set on the queue's OIDC
	// token (by default Cloud Tasks uses the target URL). Required.
	Audience string
	// ServiceAccount is the only email allowed to call. Required.
	ServiceAccount string
	// JWKSURL, when set, is where signing keys are fetched (the fakes'
	// `GET /jwks`). Empty means Google's keys via idtoken.NewValidator.
	JWKSURL string
	// HTTPClient fetches keys (default: a client with a 10 s timeout).
	HTTPClient *http.Client
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Skew is the leeway allowed on exp, iat and nbf (default 1 min).
	Skew time.Duration
	// MinRefresh bounds JWKS refetches: at most one per MinRefresh, even
	// when tokens name unknown keys (default 30 s).
	MinRefresh time.Duration
	// CacheTTL is how long a fetched JWKS is used before it is refetched
	// (default 1 h).
	CacheTTL time.Duration
}

// OIDC verifies Cloud Tasks OIDC bearer tokens.
type OIDC struct {
	cfg  Config
	keys signatureChecker
}

var _ Verifier = (*OIDC)(nil)

// signatureChecker verifies a compact JWS and returns its claims.
type signatureChecker interface {
	check(ctx context.Context, raw string) (*claims, error)
}

// New builds a verifier. With no JWKSURL it builds Google's idtoken
// validator once, here.
func New(ctx context.Context, cfg Config) (*OIDC, error) {
	if cfg.Audience == "" || cfg.ServiceAccount == "" {
		return nil, errors.New("taskauth: Audience and ServiceAccount are required")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Skew <= 0 {
		cfg.Skew = defaultSkew
	}
	if cfg.MinRefresh <= 0 {
		cfg.MinRefresh = defaultMinRefresh
	}
	if cfg.CacheTTL <= 0 {
		cfg.CacheTTL = defaultCacheTTL
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	v := &OIDC{cfg: cfg}
	if cfg.JWKSURL != "" {
		v.keys = newJWKSCache(cfg)
		return v, nil
	}
	val, err := idtoken.NewValidator(ctx, option.WithHTTPClient(cfg.HTTPClient))
	if err != nil {
		return nil, fmt.Errorf("idtoken.NewValidator: %w", err)
	}
	v.keys = googleChecker{val: val}
	return v, nil
}

// Verify implements Verifier.
func (v *OIDC) Verify(ctx context.Context, r *http.Request) error {
	raw, err := bearer(r)
	if err != nil {
		return err
	}
	c, err := v.keys.check(ctx, raw)
	if err != nil {
		return err
	}
	return v.checkClaims(c)
}

// bearer extracts the RFC 6750 §2.1 bearer token from the request.
func bearer(r *http.Request) (string, error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return "", unauthenticated("no bearer token", nil)
	}
	scheme, tok, ok := strings.Cut(h, " ")
	tok = strings.TrimSpace(tok)
	if !ok || !strings.EqualFold(scheme, "Bearer") || tok == "" {
		return "", unauthenticated("malformed Authorization header", nil)
	}
	return tok, nil
}

// claims are the ID token claims we check (OpenID Connect Core 1.0 §2).
type claims struct {
	Issuer        string           `json:"iss"`
	Audience      jwt.Audience     `json:"aud"`
	Expiry        *jwt.NumericDate `json:"exp"`
	IssuedAt      *jwt.NumericDate `json:"iat"`
	NotBefore     *jwt.NumericDate `json:"nbf"`
	Email         string           `json:"email"`
	EmailVerified any              `json:"email_verified"`
}

// checkClaims applies RFC 7519 §4.1 lifetime rules and our identity rules
// to claims whose signature is already verified.
func (v *OIDC) checkClaims(c *claims) error {
	if !contains(googleIssuers, c.Issuer) {
		return unauthenticated(fmt.Sprintf("issuer %q is not Google", c.Issuer), nil)
	}
	now, skew := v.cfg.Now(), v.cfg.Skew
	switch {
	case c.Expiry == nil || c.IssuedAt == nil:
		return unauthenticated("token lacks exp or iat", nil)
	case now.After(c.Expiry.Time().Add(skew)):
		return unauthenticated("token expired", nil)
	case c.IssuedAt.Time().After(now.Add(skew)):
		return unauthenticated("token issued in the future", nil)
	case c.NotBefore != nil && c.NotBefore.Time().After(now.Add(skew)):
		return unauthenticated("token not yet valid", nil)
	}
	if !c.Audience.Contains(v.cfg.Audience) {
		return forbidden(fmt.Sprintf("audience %q is not ours", []string(c.Audience)))
	}
	if !strings.EqualFold(c.Email, v.cfg.ServiceAccount) {
		return forbidden(fmt.Sprintf("service account %q is not allowed", c.Email))
	}
	if b, ok := c.EmailVerified.(bool); !ok || !b {
		if s, ok := c.EmailVerified.(string); !ok || s != "true" {
			return forbidden("email not verified")
		}
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// parseRS256 parses a compact JWS, accepting RS256 only (no "none", no
// MACs, no other curve or padding).
func parseRS256(raw string) (*jwt.JSONWebToken, error) {
	tok, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		return nil, unauthenticated("malformed or non-RS256 token", err)
	}
	if len(tok.Headers) != 1 {
		return nil, unauthenticated("token must have exactly one signature", nil)
	}
	return tok, nil
}
