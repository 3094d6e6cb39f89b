package ra

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/acmera/acmera/pkg/acme"
	"github.com/acmera/acmera/pkg/ca"
	"github.com/acmera/acmera/pkg/core"
	"github.com/acmera/acmera/pkg/metrics"
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
	if err := r.authorizeRevocation(ctx, req, c, leaf); err != nil {
		return err
	}
	if c.Status == core.StatusRevoked {
		return problem.New(problem.AlreadyRevoked, "the certificate was already revoked")
	}
	if _, err := r.revokeAtCA(ctx, c, leaf, reason); err != nil {
		return err
	}
	by := "certificate key"
	if req.Account != nil {
		by = "account " + req.Account.ID
	}
	r.log.InfoContext(ctx, "certificate revoked", "event", "certificate.revoke", "account", c.AccountID, "by", by,
		"serial", c.Serial, "reason", reason, "caResource", c.CAResource)
	return nil
}

// revokeAtCA revokes c (whose leaf is leaf) at its CA backend, then
// records it in the store; the caller has authorized it and logs it.
func (r *RA) revokeAtCA(ctx context.Context, c *core.Certificate, leaf *x509.Certificate, reason int) (*core.Certificate, error) {
	iss, err := r.issuer(c.Backend)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	err = iss.Revoke(ctx, ca.RevokeRequest{Cert: leaf, Resource: c.CAResource, Reason: reason})
	r.countCA(ctx, c.Backend, metrics.CARevoke, start, err)
	var rejected *ca.RejectedError
	if errors.As(err, &rejected) {
		return nil, problem.Unauthorizedf("the CA refused to revoke: %s", rejected.Detail)
	}
	if err != nil {
		return nil, fmt.Errorf("ca.Revoke: %w", err)
	}
	out, err := r.store.RevokeCertificate(ctx, c.ID, reason, r.now())
	if err != nil {
		if errors.Is(err, store.ErrConflict) {
			return nil, problem.New(problem.AlreadyRevoked, "the certificate was already revoked")
		}
		return nil, fmt.Errorf("store.RevokeCertificate: %w", err)
	}
	return out, nil
}

// authorizeRevocation applies RFC 8555 §7.6: the issuing account, an
// account holding valid authorizations for every identifier of the
// certificate, or a request signed by the certificate's own key.
func (r *RA) authorizeRevocation(ctx context.Context, req RevokeRequest, c *core.Certificate, leaf *x509.Certificate) error {
	if req.Account != nil {
		if req.Account.ID == c.AccountID {
			return nil
		}
		ok, err := r.holdsAuthorizations(ctx, req.Account, c.Profile, leaf)
		if err != nil {
			return err
		}
		if !ok {
			return problem.Unauthorizedf("the requesting account neither issued this certificate nor holds valid authorizations for all of its identifiers")
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

// holdsAuthorizations reports whether acct has a valid authorization, in
// the certificate's profile, for every name of leaf. A wildcard name needs
// a wildcard authorization of its base name (proven by dns-01): an apex
// authorization, perhaps proven by http-01, never stands in for one.
func (r *RA) holdsAuthorizations(ctx context.Context, acct *core.Account, profile string, leaf *x509.Certificate) (bool, error) {
	var idents []acme.Identifier
	wildcard := map[acme.Identifier]bool{}
	seen := map[acme.Identifier]bool{}
	for _, n := range leaf.DNSNames {
		base, wild := strings.CutPrefix(strings.ToLower(n), "*.")
		id := acme.Identifier{Type: acme.IdentifierDNS, Value: base}
		if wild {
			if seen[id] && !wildcard[id] {
				return false, nil // the apex and the wildcard: one lookup cannot prove both
			}
			wildcard[id] = true
		} else if wildcard[id] {
			return false, nil
		}
		if !seen[id] {
			seen[id] = true
			idents = append(idents, id)
		}
	}
	for _, ip := range leaf.IPAddresses {
		if id := ipIdent(ip); !seen[id] {
			seen[id] = true
			idents = append(idents, id)
		}
	}
	if len(idents) == 0 {
		return false, nil
	}
	now := r.now()
	found, err := r.store.FindValidAuthorizations(ctx, acct.ID, profile, idents, now)
	if err != nil {
		return false, fmt.Errorf("store.FindValidAuthorizations: %w", err)
	}
	for _, id := range idents {
		az := found[id]
		if az == nil || az.AccountID != acct.ID || az.StatusAt(now) != core.StatusValid || az.Wildcard != wildcard[id] {
			return false, nil
		}
	}
	return true, nil
}

// sameLeaf reports whether der is the leaf of a stored PEM chain.
func sameLeaf(chain, der []byte) bool {
	b, _ := pem.Decode(chain)
	return b != nil && bytes.Equal(b.Bytes, der)
}
