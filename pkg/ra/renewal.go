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
	"strings"
	"time"

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
// clients replace it at once. RetryAfter is an eighth of the lifetime,
// between a minute and six hours.
func (r *RA) RenewalInfo(ctx context.Context, certID string) (*RenewalWindow, error) {
	aki, serial, err := parseCertID(certID)
	if err != nil {
		return nil, err
	}
	c, err := r.store.GetCertificateBySerial(ctx, SerialString(serial))
	if errors.Is(err, store.ErrNotFound) {
		return nil, problem.NotFound("certificate")
	}
	if err != nil {
		return nil, fmt.Errorf("store.GetCertificateBySerial: %w", err)
	}
	b, _ := pem.Decode(c.Chain)
	if b == nil {
		return nil, errors.New("ra: stored chain holds no PEM block")
	}
	leaf, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		return nil, fmt.Errorf("x509.ParseCertificate: %w", err)
	}
	if !bytes.Equal(leaf.AuthorityKeyId, aki) {
		return nil, problem.NotFound("certificate")
	}
	return renewalWindow(c, r.now()), nil
}

// renewalWindow computes the window of c at now.
func renewalWindow(c *core.Certificate, now time.Time) *RenewalWindow {
	life := c.NotAfter.Sub(c.NotBefore)
	retry := min(max(life/8, time.Minute), 6*time.Hour)
	if c.Status == core.StatusRevoked {
		return &RenewalWindow{Start: now.Add(-time.Hour), End: now.Add(-time.Second), RetryAfter: retry}
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
