// Package ca defines the contract with the certificate authority that signs
// what acmera has authorised: Issue, Revoke and Chain. acmera is a
// registration authority; in production the CA is the customer's (Google
// CAS first, in ca/cas). ca/local is a software CA for the embedded default.
package ca

import (
	"context"
	"crypto/sha1"
	"crypto/x509"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
)

// ErrTransient marks a failure worth retrying later with the same request
// ID (the CA was unavailable, over quota, or did not answer in time).
var ErrTransient = errors.New("ca: transient failure")

// RejectedError is a permanent refusal by the CA whose Detail is safe to
// show the ACME client (for example "key type not allowed by the pool's
// issuance policy").
type RejectedError struct {
	Detail string
}

func (e *RejectedError) Error() string { return "ca: rejected: " + e.Detail }

// IssueRequest asks the CA to sign one certificate.
type IssueRequest struct {
	// CSR is the parsed, already-checked certificate request.
	CSR *x509.CertificateRequest
	// NotBefore is the requested start of validity; zero means now.
	NotBefore time.Time
	// Lifetime is the requested validity period.
	Lifetime time.Duration
	// Template names the CA-side profile (a CAS certificate template);
	// empty for the CA's default.
	Template string
	// RequestID is the idempotency key derived from the order (RequestID()):
	// issuing twice with one RequestID yields one certificate.
	RequestID string
}

// Issued is a signed certificate.
type Issued struct {
	// Chain holds DER certificates, leaf first, then the issuers.
	Chain [][]byte
	// Resource is the CA's name for the certificate (CAS resource name);
	// empty where the CA has none.
	Resource string
}

// RevokeRequest asks the CA to revoke one certificate.
type RevokeRequest struct {
	Cert *x509.Certificate
	// Resource is the CA's name for the certificate, as Issued.Resource.
	Resource string
	// Reason is an RFC 5280 §5.3.1 CRLReason code.
	Reason int
}

// Issuer signs and revokes certificates.
type Issuer interface {
	Issue(ctx context.Context, req IssueRequest) (*Issued, error)
	Revoke(ctx context.Context, req RevokeRequest) error
	// Roots returns the DER root certificates clients should trust.
	Roots(ctx context.Context) ([][]byte, error)
}

// namespace is the UUIDv5 namespace of acmera request IDs.
var namespace = uuid.MustParse("0b6c7c8e-3c7a-5d2e-9a41-61636d657261")

// RequestID derives the CA idempotency key of an order: the UUIDv5 of its ID.
// A retried finalize of one order always carries the same key.
func RequestID(orderID string) string {
	return uuid.NewSHA1(namespace, []byte("order:"+orderID)).String()
}

// CertificateID derives a CA-side certificate ID from a request ID, usable
// as a CAS certificate_id ([a-z0-9-], at most 63 characters).
func CertificateID(requestID string) string {
	return fmt.Sprintf("acmera-%x", sha1.Sum([]byte(requestID)))[:39]
}
