package ra

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/acmera/acmera/pkg/acme"
	"github.com/acmera/acmera/pkg/core"
	"github.com/acmera/acmera/pkg/problem"
	"github.com/acmera/acmera/pkg/store"
)

// RenewalWindow is the ARI suggested renewal window of a certificate
// (RFC 9773 §4.2) and how soon to ask again.
type RenewalWindow struct {
	Start, End time.Time
	RetryAfter time.Duration
}

// RenewalInfo answers GET renewalInfo/{certID} (RFC 9773 §4.1): certID is
// base64url(authorityKeyIdentifier) "." base64url(serial number octets).
// The window of a valid certificate is centred on the start of its last
// third and spans a twelfth of its lifetime (15 h to 17 h into a 24 h
// certificate); a revoked certificate's window has already passed, so
// clients replace it at once; a certificate that a finalized order already
// replaced (RFC 9773 §5) has its window moved to its end, so clients that
// still hold it do not renew it twice. RetryAfter is an eighth of the lifetime,
// between a minute and six hours.
func (r *RA) RenewalInfo(ctx context.Context, certID string) (*RenewalWindow, error) {
	c, _, err := r.certByARIID(ctx, certID)
	if err != nil {
		return nil, err
	}
	return renewalWindow(c, r.now()), nil
}

// certByARIID finds the stored certificate an ARI certID names, and its
// parsed leaf: malformed for a certID that does not parse, not found for
// an unknown one or one whose key identifier is not the leaf's.
func (r *RA) certByARIID(ctx context.Context, certID string) (*core.Certificate, *x509.Certificate, error) {
	aki, serial, err := parseCertID(certID)
	if err != nil {
		return nil, nil, err
	}
	c, err := r.store.GetCertificateBySerial(ctx, SerialString(serial))
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil, problem.NotFound("certificate")
	}
	if err != nil {
		return nil, nil, fmt.Errorf("store.GetCertificateBySerial: %w", err)
	}
	b, _ := pem.Decode(c.Chain)
	if b == nil {
		return nil, nil, errors.New("ra: stored chain holds no PEM block")
	}
	leaf, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		return nil, nil, fmt.Errorf("x509.ParseCertificate: %w", err)
	}
	if !bytes.Equal(leaf.AuthorityKeyId, aki) {
		return nil, nil, problem.NotFound("certificate")
	}
	return c, leaf, nil
}

// renewalWindow computes the window of c at now.
func renewalWindow(c *core.Certificate, now time.Time) *RenewalWindow {
	life := c.NotAfter.Sub(c.NotBefore)
	retry := min(max(life/8, time.Minute), 6*time.Hour)
	switch {
	case c.Status == core.StatusRevoked:
		return &RenewalWindow{Start: now.Add(-time.Hour), End: now.Add(-time.Second), RetryAfter: retry}
	case c.ReplacedBy != "":
		// Replaced already: no reason to renew it again before it ends.
		return &RenewalWindow{Start: c.NotAfter, End: c.NotAfter.Add(life / 24), RetryAfter: 6 * time.Hour}
	}
	mid := c.NotBefore.Add(life * 2 / 3)
	return &RenewalWindow{Start: mid.Add(-life / 24), End: mid.Add(life / 24), RetryAfter: retry}
}

// parseCertID splits and decodes an ARI certID. Both parts are unpadded
// base64url; the serial is a positive DER INTEGER's content octets.
func parseCertID(id string) ([]byte, *big.Int, error) {
	a, s, ok := strings.Cut(id, ".")
	if !ok || a == "" || s == "" || strings.Contains(s, ".") {
		return nil, nil, problem.Malformedf("the renewalInfo certID must be base64url(key identifier) \".\" base64url(serial)")
	}
	enc := base64.RawURLEncoding.Strict()
	aki, err1 := enc.DecodeString(a)
	raw, err2 := enc.DecodeString(s)
	if err1 != nil || err2 != nil {
		return nil, nil, problem.Malformedf("the renewalInfo certID is not unpadded base64url")
	}
	if len(raw) > 20 || raw[0]&0x80 != 0 || (len(raw) > 1 && raw[0] == 0 && raw[1]&0x80 == 0) {
		return nil, nil, problem.Malformedf("the renewalInfo certID's serial is not a positive DER integer of at most 20 octets")
	}
	return aki, new(big.Int).SetBytes(raw), nil
}

// checkReplaces checks newOrder's "replaces" (RFC 9773 §5) and returns the
// ID of the certificate it names: the certificate must exist, belong to
// acct, share at least one identifier with the order, and not have been
// replaced by a finalized order yet (alreadyReplaced).
func (r *RA) checkReplaces(ctx context.Context, acct *core.Account, certID string, idents []acme.Identifier) (string, error) {
	c, leaf, err := r.certByARIID(ctx, certID)
	if p, ok := problem.Of(err); ok && p.Status == http.StatusNotFound {
		return "", problem.Malformedf("replaces: no certificate issued here has the certID %q", problem.Truncate(certID, 128))
	}
	if err != nil {
		return "", err
	}
	if c.AccountID != acct.ID {
		return "", problem.Unauthorizedf("replaces: certificate %s was not issued to this account", c.Serial)
	}
	if c.ReplacedBy != "" {
		return "", problem.New(problem.AlreadyReplaced, "replaces: certificate %s was already replaced by order %s", c.Serial, c.ReplacedBy)
	}
	if !sharesIdentifier(leaf, idents) {
		return "", problem.Malformedf("replaces: certificate %s shares no identifier with this order", c.Serial)
	}
	return c.ID, nil
}

// sharesIdentifier reports whether the leaf names any of idents.
func sharesIdentifier(leaf *x509.Certificate, idents []acme.Identifier) bool {
	for _, id := range idents {
		switch id.Type {
		case acme.IdentifierDNS:
			if slices.Contains(leaf.DNSNames, id.Value) {
				return true
			}
		case acme.IdentifierIP:
			for _, ip := range leaf.IPAddresses {
				if a, ok := netip.AddrFromSlice(ip); ok && a.Unmap().String() == id.Value {
					return true
				}
			}
		}
	}
	return false
}
