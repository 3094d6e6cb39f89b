package ra

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"encoding/base64"
	"net"
	"slices"
	"strings"

	"github.com/go-jose/go-jose/v4"

	"github.com/acmera/acmera/pkg/acme"
	"github.com/acmera/acmera/pkg/core"
	"github.com/acmera/acmera/pkg/goodkey"
	"github.com/acmera/acmera/pkg/problem"
)

// checkCSR parses a finalize CSR and checks it against the order
// (RFC 8555 §7.4): a valid self-signature, an acceptable key that is not the
// account's, and exactly the order's identifiers as names, no more, no fewer.
func checkCSR(der []byte, o *core.Order, acct *core.Account) (*x509.CertificateRequest, error) {
	csr, err := x509.ParseCertificateRequest(der)
	if err != nil {
		return nil, problem.BadCSRf("the CSR could not be parsed as PKCS#10 DER")
	}
	if err := goodkey.CheckSignatureAlgorithm(csr.SignatureAlgorithm); err != nil {
		return nil, err
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, problem.BadCSRf("the CSR's signature does not verify")
	}
	if err := goodkey.Check(csr.PublicKey); err != nil {
		return nil, err
	}
	if sameKey(csr, acct) {
		return nil, problem.BadCSRf("the CSR's public key must not be the account key")
	}
	if len(csr.EmailAddresses) > 0 || len(csr.URIs) > 0 {
		return nil, problem.BadCSRf("the CSR may name only DNS names and IP addresses")
	}
	got := map[acme.Identifier]bool{}
	for _, n := range csr.DNSNames {
		got[acme.Identifier{Type: acme.IdentifierDNS, Value: strings.ToLower(n)}] = true
	}
	for _, ip := range csr.IPAddresses {
		got[ipIdent(ip)] = true
	}
	if cn := strings.ToLower(csr.Subject.CommonName); cn != "" {
		id := acme.Identifier{Type: acme.IdentifierDNS, Value: cn}
		if ip := net.ParseIP(cn); ip != nil {
			id = ipIdent(ip)
		}
		if !got[id] {
			return nil, problem.BadCSRf("the CSR's common name %q is not among its subject alternative names", truncate(cn, 64))
		}
	}
	var missing, extra []string
	want := map[acme.Identifier]bool{}
	for _, id := range o.Identifiers {
		want[id] = true
		if !got[id] {
			missing = append(missing, id.Value)
		}
	}
	for id := range got {
		if !want[id] {
			extra = append(extra, id.Value)
		}
	}
	if len(missing)+len(extra) > 0 {
		slices.Sort(extra)
		return nil, problem.BadCSRf("the CSR's names must be exactly the order's identifiers; missing %v, not in the order %v", missing, extra)
	}
	return csr, nil
}

func ipIdent(ip net.IP) acme.Identifier {
	if v4 := ip.To4(); v4 != nil {
		ip = v4
	}
	return acme.Identifier{Type: acme.IdentifierIP, Value: ip.String()}
}

// sameKey reports whether the CSR's key is the account key. It compares
// RFC 7638 thumbprints (SHA-256), which the account already carries, so
// the stored JWK need not be parsed; if the CSR key has no thumbprint it
// compares the keys themselves.
func sameKey(csr *x509.CertificateRequest, acct *core.Account) bool {
	if acct.KeyThumbprint != "" {
		if tp, err := (&jose.JSONWebKey{Key: csr.PublicKey}).Thumbprint(crypto.SHA256); err == nil {
			return base64.RawURLEncoding.EncodeToString(tp) == acct.KeyThumbprint
		}
	}
	k, err := parseJWK(acct.Key)
	if err != nil {
		return false
	}
	a, err1 := x509.MarshalPKIXPublicKey(k)
	b, err2 := x509.MarshalPKIXPublicKey(csr.PublicKey)
	return err1 == nil && err2 == nil && bytes.Equal(a, b)
}
