package ra

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/http"
	"net/netip"
	"strings"
	"testing"

	"github.com/go-jose/go-jose/v4"

	"github.com/acmera/acmera/pkg/acme"
	"github.com/acmera/acmera/pkg/core"
	"github.com/acmera/acmera/pkg/policy"
	"github.com/acmera/acmera/pkg/problem"
)

// The CSR fuzz targets check checkCSR against an order built from a
// fuzzed identifier list, as newOrder builds it (checkIdentifiers under the
// development profile), for an account whose key is the fixed
// fuzzAccountScalar, so a corpus CSR signed with that key is refused on
// every run.
const (
	fuzzAccountScalar = "c9afa9d845ba75166b5c215767b1d6934e50c3db36e89b127b8a622b120f6721"
	fuzzCSRScalar     = "519b423d715f8b581f4fa8ee59f4771a5b44c8130b4e3eacca54a56dda72b464"
)

var oidSAN = asn1.ObjectIdentifier{2, 5, 29, 17}

func fuzzECKey(tb testing.TB, scalar string) *ecdsa.PrivateKey {
	d, err := hex.DecodeString(scalar)
	if err != nil {
		tb.Fatal(err)
	}
	k, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), d)
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

func fuzzAccount(tb testing.TB) *core.Account {
	jwk := &jose.JSONWebKey{Key: fuzzECKey(tb, fuzzAccountScalar).Public()}
	key, _ := jwk.MarshalJSON()
	tp, _ := jwk.Thumbprint(crypto.SHA256)
	return &core.Account{ID: "fuzz", Key: key, KeyThumbprint: base64.RawURLEncoding.EncodeToString(tp), Status: core.StatusValid}
}

// fuzzOrder builds an order from "type:value,type:value"; ok is false
// when newOrder would refuse the identifiers.
func fuzzOrder(list string) (*core.Order, bool) {
	var in []acme.Identifier
	for _, s := range strings.Split(list, ",") {
		typ, val, _ := strings.Cut(s, ":")
		in = append(in, acme.Identifier{Type: typ, Value: val})
	}
	ids, err := checkIdentifiers(policy.AllowAny().Profile(policy.DefaultProfile), nil, in)
	if err != nil {
		return nil, false
	}
	return &core.Order{ID: "o", AccountID: "fuzz", Status: core.StatusReady, Identifiers: ids}, true
}

// checkCSRContract runs checkCSR and checks its contract: a refusal is a
// 400 problem with a detail and no CSR; an accepted CSR parses, its
// signature verifies, its key is not the account's, it names no e-mail
// address or URI, its DNS names (ignoring case) and IP addresses are
// exactly the order's identifiers, and its common name is one of them.
func checkCSRContract(t *testing.T, der []byte, o *core.Order, acct *core.Account) {
	csr, err := checkCSR(der, o, acct)
	if err != nil {
		var p *problem.Problem
		if !errors.As(err, &p) || p.Status != http.StatusBadRequest || p.Detail == "" {
			t.Fatalf("checkCSR(%x): %v: want a 400 problem with a detail", der, err)
		}
		if csr != nil {
			t.Fatalf("checkCSR(%x) returned both %v and a CSR", der, err)
		}
		return
	}
	re, err := x509.ParseCertificateRequest(der)
	if err != nil || re.CheckSignature() != nil {
		t.Fatalf("checkCSR accepted %x, which does not parse or verify: %v", der, err)
	}
	if acctKey := fuzzECKey(t, fuzzAccountScalar).Public(); acctKey.(*ecdsa.PublicKey).Equal(re.PublicKey) {
		t.Fatalf("checkCSR accepted a CSR with the account key: %x", der)
	}
	if len(re.EmailAddresses)+len(re.URIs) > 0 {
		t.Fatalf("checkCSR accepted a CSR naming %q %v", re.EmailAddresses, re.URIs)
	}
	names := map[acme.Identifier]bool{}
	for _, n := range re.DNSNames {
		names[acme.Identifier{Type: acme.IdentifierDNS, Value: strings.ToLower(n)}] = true
	}
	for _, ip := range re.IPAddresses {
		a, ok := netip.AddrFromSlice(ip)
		if !ok {
			t.Fatalf("checkCSR accepted a CSR with the IP address %x", []byte(ip))
		}
		names[acme.Identifier{Type: acme.IdentifierIP, Value: a.Unmap().String()}] = true
	}
	// RFC 8555 §7.4: the commonName may name an identifier too.
	if cn := re.Subject.CommonName; cn != "" {
		if a, err := netip.ParseAddr(cn); err == nil {
			names[acme.Identifier{Type: acme.IdentifierIP, Value: a.Unmap().String()}] = true
		} else {
			names[acme.Identifier{Type: acme.IdentifierDNS, Value: strings.ToLower(cn)}] = true
		}
	}
	want := map[acme.Identifier]bool{}
	for _, id := range o.Identifiers {
		want[id] = true
		if !names[id] {
			t.Fatalf("checkCSR accepted a CSR without %v: %q %v", id, re.DNSNames, re.IPAddresses)
		}
	}
	for id := range names {
		if !want[id] {
			t.Fatalf("checkCSR accepted a CSR naming %v, which the order %v does not", id, o.Identifiers)
		}
	}
	if cn := re.Subject.CommonName; cn != "" {
		ip, err := netip.ParseAddr(cn)
		if !names[acme.Identifier{Type: acme.IdentifierDNS, Value: strings.ToLower(cn)}] &&
			!(err == nil && names[acme.Identifier{Type: acme.IdentifierIP, Value: ip.Unmap().String()}]) {
			t.Fatalf("checkCSR accepted the common name %q, not among %v", cn, o.Identifiers)
		}
	}
}

// FuzzCheckCSR checks checkCSR on any DER input and order (see
// checkCSRContract). order is a list "dns:a.example,ip:192.0.2.1"; inputs
// whose order newOrder would refuse are skipped. Seeds:
// testdata/fuzz/FuzzCheckCSR (valid EC, RSA and Ed25519 CSRs, otherName,
// e-mail and URI SANs, basicConstraints CA:TRUE, the account key, a wrong
// signature, truncated DER).
func FuzzCheckCSR(f *testing.F) {
	acct := fuzzAccount(f)
	key := fuzzECKey(f, fuzzCSRScalar)
	for _, tc := range []struct {
		tmpl  x509.CertificateRequest
		order string
	}{
		{x509.CertificateRequest{DNSNames: []string{"a.example"}}, "dns:a.example"},
		{x509.CertificateRequest{Subject: pkix.Name{CommonName: "A.example"}, DNSNames: []string{"a.EXAMPLE", "*.a.example"}}, "dns:*.a.example,dns:a.example"},
		{x509.CertificateRequest{DNSNames: []string{"a.example"}, EmailAddresses: []string{"a@a.example"}}, "dns:a.example"},
	} {
		der, err := x509.CreateCertificateRequest(rand.Reader, &tc.tmpl, key)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(der, tc.order)
		f.Add(der[:len(der)/2], tc.order)
	}
	f.Fuzz(func(t *testing.T, der []byte, order string) {
		o, ok := fuzzOrder(order)
		if !ok {
			return
		}
		checkCSRContract(t, der, o, acct)
	})
}

// FuzzCheckCSRSignedSAN checks checkCSR on CSRs that the target builds and
// signs (with a key that is not the account's) from a fuzzed
// subjectAltName extension value (raw DER; empty for none) and common
// name, so that the checks after the signature are reached: see
// checkCSRContract. Seeds: testdata/fuzz/FuzzCheckCSRSignedSAN.
func FuzzCheckCSRSignedSAN(f *testing.F) {
	acct := fuzzAccount(f)
	key := fuzzECKey(f, fuzzCSRScalar)
	dns := func(names ...string) []byte {
		var gn []asn1.RawValue
		for _, n := range names {
			gn = append(gn, asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 2, Bytes: []byte(n)})
		}
		b, _ := asn1.Marshal(gn)
		return b
	}
	f.Add(dns("a.example"), "", "dns:a.example")
	f.Add(dns("a.example", "b.example"), "b.example", "dns:a.example,dns:b.example")
	f.Add(dns("A.Example"), "a.example", "dns:a.example")
	f.Add(dns("a.example\x00.evil.test"), "", "dns:a.example")
	f.Add([]byte{}, "a.example", "dns:a.example")
	f.Fuzz(func(t *testing.T, san []byte, cn string, order string) {
		o, ok := fuzzOrder(order)
		if !ok {
			return
		}
		tmpl := &x509.CertificateRequest{Subject: pkix.Name{CommonName: cn}}
		if len(san) > 0 {
			tmpl.ExtraExtensions = []pkix.Extension{{Id: oidSAN, Value: san}}
		}
		der, err := x509.CreateCertificateRequest(rand.Reader, tmpl, key)
		if err != nil {
			return
		}
		checkCSRContract(t, der, o, acct)
	})
}
