package core

import (
	"fmt"
	"time"
)

// EABKey is an external account binding key (RFC 8555 §7.3.4): a MAC key an
// operator hands to a client out of band, which binds the ACME accounts made
// with it to the key's profile and narrowing.
type EABKey struct {
	// KID is the key identifier the client sends as the inner JWS's kid.
	KID string
	// Profile is the only profile whose newAccount accepts the key.
	Profile string
	// HMAC is the MAC secret. It is shown once, when the key is created,
	// and never logged or listed.
	HMAC []byte
	// Reusable keys may bind any number of accounts; others bind one.
	Reusable bool
	// Expires is when the key stops binding new accounts; zero for never.
	Expires   time.Time
	CreatedAt time.Time
	// RevokedAt is set once the key is revoked: it binds no more accounts,
	// and the accounts it bound may place no more orders.
	RevokedAt time.Time
	// Uses counts the accounts the key has bound.
	Uses int
	// Allow narrows the identifiers of the bound accounts' orders, on top
	// of the profile: exact DNS names, "*.zone" (any name below zone,
	// wildcard identifiers included) and IP addresses or CIDR ranges.
	// Empty allows what the profile allows.
	Allow []string
	// Challenges narrows the challenge types offered; empty for the
	// profile's.
	Challenges []string
	// MaxLifetime caps the certificate lifetime; zero for the profile's.
	MaxLifetime time.Duration
}

// Revoked reports whether the key was revoked.
func (k *EABKey) Revoked() bool { return !k.RevokedAt.IsZero() }

// CanBind says whether the key may bind one more account created at at:
// nil if so, else an error naming why not (revoked, expired, used).
func (k *EABKey) CanBind(at time.Time) error {
	switch {
	case k.Revoked():
		return fmt.Errorf("EAB key %q was revoked at %s", k.KID, k.RevokedAt.UTC().Format(time.RFC3339))
	case !k.Expires.IsZero() && !at.Before(k.Expires):
		return fmt.Errorf("EAB key %q expired at %s", k.KID, k.Expires.UTC().Format(time.RFC3339))
	case !k.Reusable && k.Uses > 0:
		return fmt.Errorf("EAB key %q is single-use and already bound an account", k.KID)
	}
	return nil
}
