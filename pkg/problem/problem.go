// Package problem implements RFC 8555 §6.7 problem documents (RFC 7807), the
// only failure shape ACME clients see. A *Problem is also an error, so the RA
// can return one for a client-facing failure; pkg/wfe converts any other error
// to serverInternal without leaking its text.
package problem

import (
	"errors"
	"fmt"
	"net/http"
	"time"
	"unicode/utf8"

	"github.com/acmera/acmera/pkg/acme"
)

// ContentType is the media type of a problem document.
const ContentType = "application/problem+json"

const ns = "urn:ietf:params:acme:error:"

// Type is an ACME error type URN (RFC 8555 §6.7).
type Type string

// ACME error types.
const (
	AccountDoesNotExist     Type = ns + "accountDoesNotExist"
	AlreadyReplaced         Type = ns + "alreadyReplaced" // RFC 9773 §5
	AlreadyRevoked          Type = ns + "alreadyRevoked"
	BadCSR                  Type = ns + "badCSR"
	BadNonce                Type = ns + "badNonce"
	BadPublicKey            Type = ns + "badPublicKey"
	BadRevocationReason     Type = ns + "badRevocationReason"
	BadSignatureAlgorithm   Type = ns + "badSignatureAlgorithm"
	CAA                     Type = ns + "caa"
	Compound                Type = ns + "compound"
	Connection              Type = ns + "connection"
	DNS                     Type = ns + "dns"
	ExternalAccountRequired Type = ns + "externalAccountRequired"
	IncorrectResponse       Type = ns + "incorrectResponse"
	InvalidContact          Type = ns + "invalidContact"
	Malformed               Type = ns + "malformed"
	OrderNotReady           Type = ns + "orderNotReady"
	RateLimited             Type = ns + "rateLimited"
	RejectedIdentifier      Type = ns + "rejectedIdentifier"
	ServerInternal          Type = ns + "serverInternal"
	TLS                     Type = ns + "tls"
	Unauthorized            Type = ns + "unauthorized"
	UnsupportedContact      Type = ns + "unsupportedContact"
	UnsupportedIdentifier   Type = ns + "unsupportedIdentifier"
	UserActionRequired      Type = ns + "userActionRequired"
	InvalidProfile          Type = ns + "invalidProfile"
	// CAMisissued is acmera's own type (RFC 8555 §6.7 allows other URIs):
	// the CA returned a certificate that is not the one acmera asked for,
	// so acmera revoked it. The fault is the CA's configuration, neither
	// the client's nor a generic serverInternal.
	CAMisissued Type = "urn:acmera:error:caMisissued"
)

// Problem is an RFC 7807 problem document with the ACME extensions for
// subproblems (RFC 8555 §6.7.1).
type Problem struct {
	Type        Type             `json:"type"`
	Detail      string           `json:"detail,omitempty"`
	Status      int              `json:"status,omitempty"`
	Identifier  *acme.Identifier `json:"identifier,omitempty"`
	Subproblems []Problem        `json:"subproblems,omitempty"`
	// Algorithms lists the accepted JWS algorithms in a
	// badSignatureAlgorithm problem (RFC 8555 §6.2: MUST).
	Algorithms []string `json:"algorithms,omitempty"`
	// RetryAfter, when positive, is sent as the Retry-After header, not in
	// the document (RFC 8555 §6.6).
	RetryAfter time.Duration `json:"-"`
}

// Truncate shortens a client-supplied value for a detail to at most n
// bytes and an ellipsis, cutting at a character boundary so that a
// non-ASCII value is never split inside a character.
func Truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// Error implements error.
func (p *Problem) Error() string {
	return fmt.Sprintf("%s: %s", p.Type, p.Detail)
}

// defaultStatus is the HTTP status each type is sent with unless a
// constructor says otherwise.
var defaultStatus = map[Type]int{
	AccountDoesNotExist:     http.StatusBadRequest,
	AlreadyReplaced:         http.StatusConflict,
	AlreadyRevoked:          http.StatusBadRequest,
	BadCSR:                  http.StatusBadRequest,
	BadNonce:                http.StatusBadRequest,
	BadPublicKey:            http.StatusBadRequest,
	BadRevocationReason:     http.StatusBadRequest,
	BadSignatureAlgorithm:   http.StatusBadRequest,
	CAA:                     http.StatusForbidden,
	Compound:                http.StatusBadRequest,
	Connection:              http.StatusBadRequest,
	DNS:                     http.StatusBadRequest,
	ExternalAccountRequired: http.StatusUnauthorized,
	IncorrectResponse:       http.StatusForbidden,
	InvalidContact:          http.StatusBadRequest,
	Malformed:               http.StatusBadRequest,
	OrderNotReady:           http.StatusForbidden,
	RateLimited:             http.StatusTooManyRequests,
	RejectedIdentifier:      http.StatusBadRequest,
	ServerInternal:          http.StatusInternalServerError,
	TLS:                     http.StatusBadRequest,
	Unauthorized:            http.StatusForbidden,
	UnsupportedContact:      http.StatusBadRequest,
	UnsupportedIdentifier:   http.StatusBadRequest,
	UserActionRequired:      http.StatusForbidden,
	InvalidProfile:          http.StatusBadRequest,
}

// New returns a problem of type t with a formatted detail and the type's
// default HTTP status.
func New(t Type, format string, args ...any) *Problem {
	st, ok := defaultStatus[t]
	if !ok {
		st = http.StatusBadRequest
	}
	return &Problem{Type: t, Detail: fmt.Sprintf(format, args...), Status: st}
}

// WithStatus returns a copy of p sent with HTTP status st.
func (p *Problem) WithStatus(st int) *Problem {
	c := *p
	c.Status = st
	return &c
}

// WithIdentifier returns a copy of p that names the identifier it concerns.
func (p *Problem) WithIdentifier(id acme.Identifier) *Problem {
	c := *p
	c.Identifier = &id
	return &c
}

// Internal returns the serverInternal problem sent for any failure whose
// detail must not reach the client.
func Internal() *Problem {
	return New(ServerInternal, "the server could not complete the request; try again later")
}

// NotFound returns a malformed problem with status 404 for an unknown resource.
func NotFound(what string) *Problem {
	return New(Malformed, "%s not found", what).WithStatus(http.StatusNotFound)
}

// Of returns the problem carried by err, and false when err carries none (in
// which case the caller must treat it as internal).
func Of(err error) (*Problem, bool) {
	var p *Problem
	if errors.As(err, &p) {
		return p, true
	}
	return nil, false
}

// RateLimitedf returns a rateLimited problem (429) telling the client to
// retry after retryAfter (RFC 8555 §6.6).
func RateLimitedf(retryAfter time.Duration, format string, args ...any) *Problem {
	p := New(RateLimited, format, args...)
	p.RetryAfter = retryAfter
	return p
}

// Shorthand constructors for the common types.

// Malformedf returns a malformed problem.
func Malformedf(format string, args ...any) *Problem { return New(Malformed, format, args...) }

// Unauthorizedf returns an unauthorized problem, sent with 403: the client
// is authenticated but may not do this (another account's order, for one).
func Unauthorizedf(format string, args ...any) *Problem { return New(Unauthorized, format, args...) }

// AccountDeactivatedf returns the unauthorized problem for a request by a
// deactivated account, sent with 401 as RFC 8555 §7.3.6 requires.
func AccountDeactivatedf(format string, args ...any) *Problem {
	return New(Unauthorized, format, args...).WithStatus(http.StatusUnauthorized)
}

// BadCSRf returns a badCSR problem.
func BadCSRf(format string, args ...any) *Problem { return New(BadCSR, format, args...) }
