// Package core holds acmera's domain types (accounts, orders, authorizations,
// challenges, certificates), their typed statuses and the pure rules that say
// which state transitions are allowed (RFC 8555 §7.1.6). It does no I/O.
package core

import (
	"crypto/rand"
	"encoding/base64"
	"time"

	"github.com/acmera/acmera/pkg/acme"
	"github.com/acmera/acmera/pkg/problem"
)

// Status is the status of an ACME object (RFC 8555 §7.1.6).
type Status string

// Statuses.
const (
	StatusPending     Status = "pending"
	StatusReady       Status = "ready"
	StatusProcessing  Status = "processing"
	StatusValid       Status = "valid"
	StatusInvalid     Status = "invalid"
	StatusDeactivated Status = "deactivated"
	StatusExpired     Status = "expired"
	StatusRevoked     Status = "revoked"
)

// NewID returns a random 128-bit identifier, base64url without padding.
// IDs are never sequential so that URLs cannot be enumerated.
func NewID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("crypto/rand: " + err.Error()) // never fails on supported platforms
	}
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// NewToken returns a random challenge token of 128 bits (RFC 8555 §8.1
// requires at least 128 bits of entropy).
func NewToken() string { return NewID() }

// Account is an ACME account (RFC 8555 §7.1.2).
type Account struct {
	ID string
	// KeyThumbprint is the RFC 7638 SHA-256 thumbprint of Key, base64url.
	KeyThumbprint string
	// Key is the account's public JWK, JSON-encoded.
	Key       []byte
	Contact   []string
	Status    Status
	CreatedAt time.Time
	// EABKeyID names the external account binding key the account was
	// created with, empty when none.
	EABKeyID string
	// Profile is the profile the account was created under.
	Profile string
}

// Challenge is one way of proving control of an authorization's identifier
// (RFC 8555 §8). Challenges are embedded in their authorization.
type Challenge struct {
	ID        string
	Type      string
	Token     string
	Status    Status
	Validated time.Time
	Error     *problem.Problem
}

// Authorization is an account's proof of control of one identifier
// (RFC 8555 §7.1.4). A pending authorization belongs to exactly one order;
// a valid one may be reused by later orders of the same account and profile.
type Authorization struct {
	ID         string
	AccountID  string
	OrderID    string
	Profile    string
	Identifier acme.Identifier
	Wildcard   bool
	Status     Status
	Expires    time.Time
	Challenges []Challenge
	CreatedAt  time.Time
}

// Challenge returns the challenge with the given ID, or nil.
func (a *Authorization) Challenge(id string) *Challenge {
	for i := range a.Challenges {
		if a.Challenges[i].ID == id {
			return &a.Challenges[i]
		}
	}
	return nil
}

// Processing reports whether one of the authorization's challenges is
// being validated: the authorization is pending and a challenge is
// processing (RFC 8555 §7.5.1).
func (a *Authorization) Processing() bool {
	if a.Status != StatusPending {
		return false
	}
	for i := range a.Challenges {
		if a.Challenges[i].Status == StatusProcessing {
			return true
		}
	}
	return false
}

// StatusAt is the authorization's status as seen at now: a pending or valid
// authorization past its expiry is expired (RFC 8555 §7.1.6). Storage TTLs can
// lag, so readers always ask this rather than trust the stored status.
func (a *Authorization) StatusAt(now time.Time) Status {
	if (a.Status == StatusPending || a.Status == StatusValid) && !now.Before(a.Expires) {
		return StatusExpired
	}
	return a.Status
}

// Order is a request for a certificate (RFC 8555 §7.1.3).
type Order struct {
	ID          string
	AccountID   string
	Profile     string
	Status      Status
	Expires     time.Time
	Identifiers []acme.Identifier
	// NotBefore and NotAfter are the validity the client asked for; zero
	// when it asked for none.
	NotBefore time.Time
	NotAfter  time.Time
	// Replaces is the ARI certID (RFC 9773 §5) the client named in
	// "replaces", as it sent it; ReplacesCertID is that certificate's ID.
	// Both are empty for an order that replaces nothing.
	Replaces, ReplacesCertID string
	// LifetimeCap, when positive, caps the lifetime of the certificate
	// when the order asked for no notAfter: the maximum of the EAB key
	// that bound the account, recorded at newOrder.
	LifetimeCap time.Duration
	// Backend names the CA backend the order's profile picked when it was
	// created (ca.Backends); empty for orders stored before backends had
	// names, which use the default.
	Backend string
	// AuthzIDs lists the authorizations of this order, one per identifier.
	AuthzIDs []string
	Error    *problem.Problem
	// CSR is the DER certificate request received at finalize; kept so that a
	// finalize retry can reissue with the same request ID, and possibly
	// dropped once the order is valid (store.Orders.CompleteFinalize).
	CSR []byte
	// CAResource is the CA's name for the certificate being issued, when
	// the CA names it before signing (AWS Private CA's CertificateArn),
	// recorded so a retry collects that certificate instead of a second.
	CAResource string
	// CertificateID names the issued certificate once the order is valid.
	CertificateID string
	CreatedAt     time.Time
	// UpdatedAt is when the order last changed status.
	UpdatedAt time.Time
}

// StatusAt is the order's status as seen at now: a pending or ready order
// past its expiry is invalid (RFC 8555 §7.1.6).
func (o *Order) StatusAt(now time.Time) Status {
	if (o.Status == StatusPending || o.Status == StatusReady) && !now.Before(o.Expires) {
		return StatusInvalid
	}
	return o.Status
}

// Certificate is an issued certificate. Its ID is the ID of the order that
// produced it, so an order can never record two certificates.
type Certificate struct {
	ID        string
	AccountID string
	OrderID   string
	Profile   string
	// Serial is the certificate's serial number, lower-case hex without
	// leading zeros (big.Int.Text(16)).
	Serial string
	// Chain is the PEM chain: leaf first, then the issuers.
	Chain     []byte
	NotBefore time.Time
	NotAfter  time.Time
	// CAResource is the CA backend's name for the certificate (the CAS
	// certificate resource name), empty for the local CA.
	CAResource string
	Status     Status
	// RevokedAt and RevocationReason (RFC 5280 §5.3.1 CRLReason) are set
	// once the certificate is revoked.
	RevokedAt        time.Time
	RevocationReason int
	CreatedAt        time.Time
	// ReplacedBy names the first order that replaced this certificate
	// (RFC 9773 §5) and was finalized; empty until then.
	ReplacedBy string
	// Backend names the CA backend that issued it (its order's).
	Backend string
}

// ValidationResult is the outcome of one challenge validation, recorded by
// store.Store.RecordValidation. A failed validation is a result, not an error.
type ValidationResult struct {
	AuthzID     string
	ChallengeID string
	// Error is nil when the validation succeeded.
	Error       *problem.Problem
	ValidatedAt time.Time
	// Expires, when non-zero, is the authorization's new expiry once it is
	// valid: the end of its reuse window (RFC 8555 §7.1.4 "expires").
	Expires time.Time
}
