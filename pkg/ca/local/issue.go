package local

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"github.com/acmera/acmera/pkg/ca"
)

// Issue implements ca.Issuer: it signs req.PublicKey with the
// intermediate, for exactly req's common name, DNS names, IP addresses and
// extended key usages (RFC 8555 §7.4, RFC 8738); the CSR is not read.
//
// Idempotency: the serial is derived from req.RequestID (requestSerial),
// the validity from req.NotBefore or else req.RequestedAt, and the
// signature is deterministic (RFC 6979 for the ECDSA intermediate acmera
// generates), so a retried request yields the same certificate, byte for
// byte, with nothing to remember between the calls.
//
// Validity: it starts at req.NotBefore, or else at req.RequestedAt (else
// now) with NotBefore backdated one minute; NotAfter is the start plus
// req.Lifetime (zero means the maximum) exactly, so an order's notAfter
// is the certificate's; the lifetime is capped at Config.MaxLifetime and
// the validity at the intermediate's.
//
// Refusals the client should see (no names, unsupported key type, a
// validity outside the intermediate's) are *ca.RejectedError.
func (c *CA) Issue(ctx context.Context, req ca.IssueRequest) (*ca.Issued, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("local.Issue: %w", err)
	}
	if req.PublicKey == nil {
		return nil, errors.New("local.Issue: no public key")
	}
	if req.RequestID == "" {
		return nil, errors.New("local.Issue: no request ID")
	}
	if len(req.DNSNames) == 0 && len(req.IPAddresses) == 0 {
		return nil, &ca.RejectedError{Detail: "the request names no DNS names or IP addresses"}
	}
	start, back := req.NotBefore, false
	if start.IsZero() {
		start, back = req.RequestedAt, true
	}
	if start.IsZero() {
		start = c.now()
	}
	lifetime := req.Lifetime
	if !req.NotAfter.IsZero() {
		if lifetime = req.NotAfter.Sub(start); lifetime <= 0 {
			return nil, &ca.RejectedError{Detail: "the requested notAfter is not after the start of validity"}
		}
	}
	nb, na, err := c.validity(start, back, lifetime)
	if err != nil {
		return nil, err
	}
	der, err := c.sign(leafRequest{
		serial:     requestSerial(c.inter.SubjectKeyId, req.RequestID),
		notBefore:  nb,
		notAfter:   na,
		commonName: req.CommonName,
		dnsNames:   req.DNSNames,
		ips:        req.IPAddresses,
		pub:        req.PublicKey,
		extUsage:   req.ExtKeyUsage,
	}, true)
	if err != nil {
		return nil, err
	}
	return &ca.Issued{Chain: [][]byte{der, bytes.Clone(c.interDER)}}, nil
}

// sign creates a leaf certificate signed by the intermediate.
// With deterministic set and an intermediate key that signs
// deterministically given no randomness (ECDSA on a NIST curve per RFC
// 6979, Ed25519, RSA PKCS#1 v1.5), the same request gives the same bytes.
func (c *CA) sign(r leafRequest, deterministic bool) ([]byte, error) {
	switch r.pub.(type) {
	case *rsa.PublicKey, *ecdsa.PublicKey, ed25519.PublicKey:
	default:
		return nil, &ca.RejectedError{Detail: fmt.Sprintf("unsupported public key type %T", r.pub)}
	}
	var random io.Reader = rand.Reader
	if deterministic {
		random = nil
	}
	tmpl := leafTemplate(r, c.inter.SubjectKeyId)
	if c.crlURL != "" {
		tmpl.CRLDistributionPoints = []string{c.crlURL}
	}
	der, err := x509.CreateCertificate(random, tmpl, c.inter, r.pub, c.interKey)
	if err != nil {
		return nil, fmt.Errorf("x509.CreateCertificate: %w", err)
	}
	return der, nil
}

// validity computes a leaf's NotBefore and NotAfter: NotAfter is start
// (zero: now) plus lifetime (zero: the maximum), exactly; with backdate,
// NotBefore moves a minute earlier than start, never NotAfter (RFC 8555
// §7.4: the validity is what was requested). Both are capped at the
// intermediate's validity.
func (c *CA) validity(start time.Time, back bool, lifetime time.Duration) (time.Time, time.Time, error) {
	if lifetime < 0 {
		return time.Time{}, time.Time{}, fmt.Errorf("local: negative lifetime %s", lifetime)
	}
	if lifetime == 0 || lifetime > c.maxLifetime {
		lifetime = c.maxLifetime
	}
	if start.IsZero() {
		start = c.now()
	}
	notBefore := start
	if back {
		notBefore = start.Add(-backdate)
	}
	// Certificates carry whole seconds; truncating here makes the caps
	// below exact.
	nb := notBefore.UTC().Truncate(time.Second)
	if nb.Before(c.inter.NotBefore) {
		nb = c.inter.NotBefore
	}
	na := start.Add(lifetime).UTC().Truncate(time.Second)
	if na.After(c.inter.NotAfter) {
		na = c.inter.NotAfter
	}
	if !na.After(nb) {
		return time.Time{}, time.Time{}, &ca.RejectedError{Detail: fmt.Sprintf(
			"requested validity starting %s is outside the CA's validity (until %s)",
			nb.Format(time.RFC3339), c.inter.NotAfter.Format(time.RFC3339))}
	}
	return nb, na, nil
}

// ServerCertificate issues a TLS server certificate for the embedded HTTPS
// listener, with a freshly generated ECDSA P-256 key. names are DNS names
// or IP literals ("127.0.0.1", "::1"; brackets are accepted). lifetime is
// capped like Issue's. The chain is the leaf and the intermediate.
func (c *CA) ServerCertificate(names []string, lifetime time.Duration) (*tls.Certificate, error) {
	dnsNames, ips, err := splitNames(names)
	if err != nil {
		return nil, err
	}
	nb, na, err := c.validity(time.Time{}, true, lifetime)
	if err != nil {
		return nil, err
	}
	key, err := newP256Key()
	if err != nil {
		return nil, err
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, err
	}
	cn := ""
	if len(dnsNames) > 0 {
		cn = dnsNames[0]
	}
	der, err := c.sign(leafRequest{
		serial: serial, notBefore: nb, notAfter: na, commonName: cn,
		dnsNames: dnsNames, ips: ips, pub: &key.PublicKey,
		extUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}, false)
	if err != nil {
		return nil, err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("x509.ParseCertificate: %w", err)
	}
	return &tls.Certificate{
		Certificate: [][]byte{der, bytes.Clone(c.interDER)},
		PrivateKey:  key,
		Leaf:        leaf,
	}, nil
}

// splitNames sorts names into DNS names and IP addresses.
func splitNames(names []string) ([]string, []net.IP, error) {
	if len(names) == 0 {
		return nil, nil, errors.New("local.ServerCertificate: no names")
	}
	var dnsNames []string
	var ips []net.IP
	for _, n := range names {
		if ip := net.ParseIP(strings.TrimSuffix(strings.TrimPrefix(n, "["), "]")); ip != nil {
			ips = append(ips, ip)
			continue
		}
		if n == "" || strings.ContainsAny(n, " /:[]") {
			return nil, nil, fmt.Errorf("local.ServerCertificate: invalid name %q", n)
		}
		dnsNames = append(dnsNames, n)
	}
	return dnsNames, ips, nil
}
