package ra

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"

	"github.com/acmera/acmera/pkg/ca"
	"github.com/acmera/acmera/pkg/core"
	"github.com/acmera/acmera/pkg/problem"
	"github.com/acmera/acmera/pkg/store"
)

// allowedReasons are the RFC 5280 §5.3.1 CRLReason codes a subscriber may
// give (RFC 8555 §7.6): unspecified, keyCompromise, affiliationChanged,
// superseded, cessationOfOperation, privilegeWithdrawn.
var allowedReasons = map[int]bool{0: true, 1: true, 3: true, 4: true, 5: true, 9: true}

// RevokeRequest is a verified revokeCert request (RFC 8555 §7.6), signed
// either by an account (Account set) or by the certificate's key (Key set).
type RevokeRequest struct {
	CertDER []byte
	Reason  *int
	Account *core.Account
	Key     crypto.PublicKey
}

// Revoke revokes a certificate at the CA and records it.
func (r *RA) Revoke(ctx context.Context, req RevokeRequest) error {
	leaf, err := x509.ParseCertificate(req.CertDER)
	if err != nil {
		return problem.Malformedf("the certificate could not be parsed as DER")
	}
	reason := 0
	if req.Reason != nil {
		reason = *req.Reason
	}
	if !allowedReasons[reason] {
		return problem.New(problem.BadRevocationReason, "reason %d is not allowed; use 0, 1, 3, 4, 5 or 9", reason)
	}
	c, err := r.store.GetCertificateBySerial(ctx, SerialString(leaf.SerialNumber))
	if errors.Is(err, store.ErrNotFound) || (err == nil && !sameLeaf(c.Chain, req.CertDER)) {
		return problem.NotFound("certificate")
	}
	if err != nil {
		return fmt.Errorf("store.GetCertificateBySerial: %w", err)
	}
	if err := authorizeRevocation(req, c, leaf); err != nil {
		return err
	}
	if c.Status == core.StatusRevoked {
		return problem.New(problem.AlreadyRevoked, "the certificate was already revoked")
	}
	err = r.ca.Revoke(ctx, ca.RevokeRequest{Cert: leaf, Resource: c.CAResource, Reason: reason})
	var rejected *ca.RejectedError
	if errors.As(err, &rejected) {
		return problem.Unauthorizedf("the CA refused to revoke: %s", rejected.Detail)
	}
	if err != nil {
		return fmt.Errorf("ca.Revoke: %w", err)
	}
	if _, err := r.store.RevokeCertificate(ctx, c.ID, reason, r.now()); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return problem.New(problem.AlreadyRevoked, "the certificate was already revoked")
		}
		return fmt.Errorf("store.RevokeCertificate: %w", err)
	}
	by := "certificate key"
	if req.Account != nil {
		by = "account " + req.Account.ID
	}
	r.log.InfoContext(ctx, "certificate revoked", "event", "certificate.revoke", "account", c.AccountID, "by", by,
		"serial", c.Serial, "reason", reason, "caResource", c.CAResource)
	return nil
}

func authorizeRevocation(req RevokeRequest, c *core.Certificate, leaf *x509.Certificate) error {
	if req.Account != nil {
		if req.Account.ID != c.AccountID {
			return problem.Unauthorizedf("the requesting account did not issue this certificate")
		}
		return nil
	}
	a, err1 := x509.MarshalPKIXPublicKey(req.Key)
	b, err2 := x509.MarshalPKIXPublicKey(leaf.PublicKey)
	if err1 != nil || err2 != nil || !bytes.Equal(a, b) {
		return problem.Unauthorizedf("the request is not signed by the certificate's key")
	}
	return nil
}

// sameLeaf reports whether der is the leaf of a stored PEM chain.
func sameLeaf(chain, der []byte) bool {
	b, _ := pem.Decode(chain)
	return b != nil && bytes.Equal(b.Bytes, der)
}
