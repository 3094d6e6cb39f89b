// Package ca defines the contract with the certificate authority that signs
// what acmera has authorised: Issue, Revoke and Chain. acmera is a
// registration authority; in production the CA is the customer's (Google
// CAS first, in ca/cas). ca/local is a software CA for the embedded default.
package ca

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/google/uuid"
)

// ErrTransient marks a failure worth retrying later with the same request
// ID (the CA was unavailable, over quota, or did not answer in time).
var ErrTransient = errors.New("ca: transient failure")

// ErrMisconfigured marks a refusal caused by acmera's own configuration
// (a CA pool or template that does not exist, a missing permission): the
// operator's fault, logged in full and never blamed on the ACME client.
var ErrMisconfigured = errors.New("ca: misconfigured")

// RejectedError is a permanent refusal by the CA whose Detail is safe to
// show the ACME client (for example "key type not allowed by the pool's
// issuance policy").
type RejectedError struct {
	Detail string
}

func (e *RejectedError) Error() string { return "ca: rejected: " + e.Detail }

// IssueRequest asks the CA to sign one certificate whose contents acmera
// decided from the validated order. A backend puts exactly these names,
// this key and these usages in the certificate; nothing else the client
// wrote in its CSR reaches the CA.
type IssueRequest struct {
	// CSR is the parsed, already-checked certificate request. Only backends
	// whose API takes nothing but a CSR may send it, and they must still
	// set the names and usages below explicitly; its contents beyond the
	// public key are not trusted.
	CSR *x509.CertificateRequest
	// PublicKey is the certificate's subject public key (the CSR's).
	PublicKey crypto.PublicKey
	// CommonName is the subject's only attribute; empty for no subject.
	CommonName string
	// DNSNames and IPAddresses are the subjectAltName entries: the order's
	// identifiers, nothing more.
	DNSNames    []string
	IPAddresses []net.IP
	// ExtKeyUsage is the certificate's extended key usage (serverAuth, and
	// clientAuth where the profile allows it).
	ExtKeyUsage []x509.ExtKeyUsage
	// NotBefore is the requested start of validity; zero means now.
	NotBefore time.Time
	// Lifetime is the requested validity period.
	Lifetime time.Duration
	// NotAfter, when set, is the requested end of validity, exactly (the
	// order's notAfter); a backend that takes a lifetime computes it from
	// NotAfter at the time of its call, so a retry does not overrun it.
	NotAfter time.Time
	// RequestedAt is when the order began finalizing: the same on every
	// retry of one request, so a CA that derives the validity from it
	// (ca/local) signs the same certificate again.
	RequestedAt time.Time
	// Template names the CA-side profile (a CAS certificate template);
	// empty for the CA's default.
	Template string
	// RequestID is the idempotency key derived from the order (RequestID()):
	// issuing twice with one RequestID yields one certificate.
	RequestID string
	// Submitted, when set, is called by a backend whose CA names a
	// certificate before it is signed (AWS Private CA's CertificateArn),
	// after the CA has accepted the request and before the backend waits
	// for the certificate. The caller persists resource so that, after an
	// instance death past the CA's idempotency window, it can collect the
	// same certificate (for example awspca.Issuer.Resume) instead of minting
	// a second one. An error from it is returned by Issue. Backends that
	// sign synchronously never call it.
	Submitted func(ctx context.Context, resource string) error
	// Resource is what an earlier attempt's Submitted recorded for this
	// request (empty if none did), for a backend's Find to collect.
	Resource string
}

// KeyUsage is the key usage of a leaf for pub: digitalSignature, plus
// keyEncipherment for RSA (TLS 1.2 RSA key transport encrypts to the key).
func KeyUsage(pub crypto.PublicKey) x509.KeyUsage {
	if _, ok := pub.(*rsa.PublicKey); ok {
		return x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment
	}
	return x509.KeyUsageDigitalSignature
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

// ErrNotIssued is Finder's answer when the CA holds no certificate for a
// request ID and never will for the attempts made so far.
var ErrNotIssued = errors.New("ca: no certificate was issued for the request")

// Finder is implemented by a CA that can say whether it issued for a
// request (CAS: by the certificate_id derived from its RequestID; Vault: by
// the request's key and names among the certificates it stored since
// RequestedAt). The RA ends an order the CA has not answered for only when
// Find says ErrNotIssued.
type Finder interface {
	Find(ctx context.Context, req IssueRequest) (*Issued, error)
}

// Issuer signs and revokes certificates.
type Issuer interface {
	Issue(ctx context.Context, req IssueRequest) (*Issued, error)
	Revoke(ctx context.Context, req RevokeRequest) error
	// Roots returns the DER root certificates clients should trust.
	Roots(ctx context.Context) ([][]byte, error)
}

// InProcess is implemented by an Issuer that may sign in this process and
// keep nothing outside it (the local CA); SignsInProcess reports whether
// it does. A certificate such an issuer returned that was never recorded
// was never seen by anyone, so the RA may sign before it marks the order
// and record the order valid in the same store write
// (store.AtOnceFinalizer): a crash in between leaves the order ready and
// nothing issued.
type InProcess interface {
	SignsInProcess() bool
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
