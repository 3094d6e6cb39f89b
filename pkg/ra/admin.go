package ra

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/acmera/acmera/pkg/core"
	"github.com/acmera/acmera/pkg/problem"
	"github.com/acmera/acmera/pkg/store"
)

// reasonNames are the RFC 5280 §5.3.1 CRLReason names of allowedReasons.
var reasonNames = map[string]int{"unspecified": 0, "keyCompromise": 1, "affiliationChanged": 3,
	"superseded": 4, "cessationOfOperation": 5, "privilegeWithdrawn": 9}

// ReasonCode returns the RFC 5280 §5.3.1 code of a CRLReason name an
// operator may give (the reasons RFC 8555 §7.6 allows a subscriber).
func ReasonCode(name string) (int, error) {
	if c, ok := reasonNames[name]; ok {
		return c, nil
	}
	names := make([]string, 0, len(reasonNames))
	for n := range reasonNames {
		names = append(names, n)
	}
	slices.Sort(names)
	return 0, fmt.Errorf("revocation reason %q: want one of %s", name, strings.Join(names, ", "))
}

// AdminRevokeRequest is an operator's revocation of a certificate.
type AdminRevokeRequest struct {
	// Serial is the certificate's (see core.Certificate.Serial).
	Serial string
	// Reason is an RFC 5280 CRLReason code (ReasonCode).
	Reason int
	// Actor names the operator, for the audit event.
	Actor string
}

// AdminRevoke revokes a certificate at its CA backend and records it, as
// Revoke does for a subscriber, on an operator's authority; the audit
// event names the actor. Errors are problems: NotFound for an unknown
// serial, AlreadyRevoked, BadRevocationReason.
func (r *RA) AdminRevoke(ctx context.Context, req AdminRevokeRequest) (*core.Certificate, error) {
	if !allowedReasons[req.Reason] {
		return nil, problem.New(problem.BadRevocationReason, "reason %d is not allowed; use 0, 1, 3, 4, 5 or 9", req.Reason)
	}
	if req.Actor == "" {
		return nil, errors.New("ra: an admin revocation needs an actor")
	}
	c, err := r.store.GetCertificateBySerial(ctx, strings.ToLower(strings.TrimLeft(req.Serial, "0")))
	if errors.Is(err, store.ErrNotFound) {
		return nil, problem.NotFound("certificate")
	}
	if err != nil {
		return nil, fmt.Errorf("store.GetCertificateBySerial: %w", err)
	}
	if c.Status == core.StatusRevoked {
		return nil, problem.New(problem.AlreadyRevoked, "the certificate was already revoked")
	}
	b, _ := pem.Decode(c.Chain)
	if b == nil {
		return nil, fmt.Errorf("certificate %s: its stored chain has no PEM block", c.ID)
	}
	leaf, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		return nil, fmt.Errorf("certificate %s: x509.ParseCertificate: %w", c.ID, err)
	}
	out, err := r.revokeAtCA(ctx, c, leaf, req.Reason)
	if err != nil {
		return nil, err
	}
	r.log.InfoContext(ctx, "certificate revoked", "event", "certificate.revoke", "account", c.AccountID,
		"by", "admin "+req.Actor, "admin", true, "actor", req.Actor, "serial", c.Serial, "reason", req.Reason,
		"caResource", c.CAResource)
	return out, nil
}

// AdminDeactivateAccount deactivates an account (RFC 8555 §7.3.6) on an
// operator's authority: its key can do nothing more. NotFound for an
// unknown account, Conflict when it is not valid.
func (r *RA) AdminDeactivateAccount(ctx context.Context, id, actor string) (*core.Account, error) {
	if actor == "" {
		return nil, errors.New("ra: an admin deactivation needs an actor")
	}
	a, err := r.store.DeactivateAccount(ctx, id)
	r.accounts.evict(id) // after the write, whatever its outcome
	if err != nil {
		return nil, fmt.Errorf("store.DeactivateAccount: %w", err)
	}
	r.log.InfoContext(ctx, "account deactivated", "event", "account.deactivate", "account", a.ID,
		"by", "admin "+actor, "admin", true, "actor", actor)
	return a, nil
}
