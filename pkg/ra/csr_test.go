package ra

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/go-jose/go-jose/v4"

	"github.com/acmera/acmera/pkg/acme"
	"github.com/acmera/acmera/pkg/core"
	"github.com/acmera/acmera/pkg/problem"
)

// sameKey finds the account key in a CSR by thumbprint, and by comparing
// keys when the account carries no thumbprint.
func TestSameKey(t *testing.T) {
	ec1, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ec2, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	rsa1, _ := rsa.GenerateKey(rand.Reader, 2048)
	account := func(k crypto.Signer, withThumbprint bool) *core.Account {
		jwk := &jose.JSONWebKey{Key: k.Public()}
		b, _ := jwk.MarshalJSON()
		a := &core.Account{ID: "a", Key: b}
		if withThumbprint {
			tp, _ := jwk.Thumbprint(crypto.SHA256)
			a.KeyThumbprint = base64.RawURLEncoding.EncodeToString(tp)
		}
		return a
	}
	csr := func(k crypto.Signer) *x509.CertificateRequest {
		der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{DNSNames: []string{"a.example"}}, k)
		if err != nil {
			t.Fatal(err)
		}
		c, _ := x509.ParseCertificateRequest(der)
		return c
	}
	tests := []struct {
		name string
		csr  crypto.Signer
		acct *core.Account
		want bool
	}{
		{"EC account key", ec1, account(ec1, true), true},
		{"another EC key", ec2, account(ec1, true), false},
		{"RSA account key", rsa1, account(rsa1, true), true},
		{"RSA CSR, EC account", rsa1, account(ec1, true), false},
		{"no thumbprint: same key", ec1, account(ec1, false), true},
		{"no thumbprint: another key", ec2, account(ec1, false), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := sameKey(csr(tc.csr), tc.acct); got != tc.want {
				t.Fatalf("sameKey = %v, want %v", got, tc.want)
			}
		})
	}
}

// smuggle builds a CSR for the order's names plus whatever mutate adds.
func smuggle(t *testing.T, key crypto.Signer, mutate func(*x509.CertificateRequest)) []byte {
	t.Helper()
	tmpl := &x509.CertificateRequest{Subject: pkix.Name{CommonName: "app.internal"}, DNSNames: []string{"app.internal"}}
	mutate(tmpl)
	der, err := x509.CreateCertificateRequest(rand.Reader, tmpl, key)
	if err != nil {
		t.Fatalf("x509.CreateCertificateRequest: %v", err)
	}
	return der
}

// rawSAN encodes a subjectAltName extension from raw GeneralName TLVs.
func rawSAN(t *testing.T, names ...asn1.RawValue) pkix.Extension {
	t.Helper()
	b, err := asn1.Marshal(names)
	if err != nil {
		t.Fatal(err)
	}
	return pkix.Extension{Id: asn1.ObjectIdentifier{2, 5, 29, 17}, Value: b}
}

func ext(t *testing.T, oid asn1.ObjectIdentifier, critical bool, v any) pkix.Extension {
	t.Helper()
	b, err := asn1.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return pkix.Extension{Id: oid, Critical: critical, Value: b}
}

// Every way of asking the CA for more than the order's names is refused
// with badCSR naming what was found; what clients commonly send and asks
// for nothing more is accepted.
func TestCheckCSRRefusesSmuggling(t *testing.T) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	acctKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	jwk, _ := (&jose.JSONWebKey{Key: acctKey.Public()}).MarshalJSON()
	acct := &core.Account{ID: "a", Key: jwk}
	order := &core.Order{Identifiers: []acme.Identifier{{Type: acme.IdentifierDNS, Value: "app.internal"}}}
	dnsName := asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 2, Bytes: []byte("app.internal")}
	upn, _ := asn1.Marshal(struct {
		ID    asn1.ObjectIdentifier
		Value asn1.RawValue `asn1:"tag:0,explicit"`
	}{asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 311, 20, 2, 3}, asn1.RawValue{Tag: asn1.TagUTF8String, Bytes: []byte("administrator@corp.example")}})
	otherName := asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: upn[2:]}
	dirName, _ := asn1.Marshal(pkix.Name{CommonName: "Domain Admins"}.ToRDNSequence())
	rsa1024, _ := rsa.GenerateKey(rand.Reader, 1024)
	type basicConstraints struct {
		IsCA bool `asn1:"optional"`
	}
	tests := []struct {
		name   string
		key    crypto.Signer
		mutate func(*x509.CertificateRequest)
		want   string // "" for accepted
	}{
		{"plain", key, func(*x509.CertificateRequest) {}, ""},
		{"no subject", key, func(c *x509.CertificateRequest) { c.Subject = pkix.Name{} }, ""},
		{"the name in the common name only", key, func(c *x509.CertificateRequest) { c.DNSNames = nil }, ""},
		{"cert-manager usages", key, func(c *x509.CertificateRequest) {
			c.ExtraExtensions = []pkix.Extension{
				ext(t, asn1.ObjectIdentifier{2, 5, 29, 15}, true, asn1.BitString{Bytes: []byte{0xa0}, BitLength: 3}),
				ext(t, asn1.ObjectIdentifier{2, 5, 29, 37}, false, []asn1.ObjectIdentifier{oidEKUServerAuth, oidEKUClientAuth}),
				ext(t, asn1.ObjectIdentifier{2, 5, 29, 19}, true, basicConstraints{}),
			}
		}, ""},
		{"critical basicConstraints CA:TRUE", key, func(c *x509.CertificateRequest) {
			c.ExtraExtensions = []pkix.Extension{ext(t, asn1.ObjectIdentifier{2, 5, 29, 19}, true, basicConstraints{IsCA: true})}
		}, "CA certificate"},
		{"codeSigning EKU", key, func(c *x509.CertificateRequest) {
			c.ExtraExtensions = []pkix.Extension{ext(t, asn1.ObjectIdentifier{2, 5, 29, 37}, false, []asn1.ObjectIdentifier{{1, 3, 6, 1, 5, 5, 7, 3, 3}})}
		}, "extended key usage 1.3.6.1.5.5.7.3.3"},
		{"keyCertSign usage", key, func(c *x509.CertificateRequest) {
			c.ExtraExtensions = []pkix.Extension{ext(t, asn1.ObjectIdentifier{2, 5, 29, 15}, true, asn1.BitString{Bytes: []byte{0x04}, BitLength: 6})}
		}, "key usage (bit 5)"},
		{"otherName UPN", key, func(c *x509.CertificateRequest) {
			c.DNSNames = nil
			c.ExtraExtensions = []pkix.Extension{rawSAN(t, dnsName, otherName)}
		}, "otherName"},
		{"directoryName", key, func(c *x509.CertificateRequest) {
			c.DNSNames = nil
			c.ExtraExtensions = []pkix.Extension{rawSAN(t, dnsName, asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 4, IsCompound: true, Bytes: dirName})}
		}, "directoryName"},
		{"registeredID", key, func(c *x509.CertificateRequest) {
			c.DNSNames = nil
			c.ExtraExtensions = []pkix.Extension{rawSAN(t, dnsName, asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 8, Bytes: []byte{0x2a, 0x03}})}
		}, "registeredID"},
		{"e-mail SAN", key, func(c *x509.CertificateRequest) { c.EmailAddresses = []string{"admin@corp.example"} }, "rfc822Name"},
		{"URI SAN", key, func(c *x509.CertificateRequest) {
			c.URIs = []*url.URL{{Scheme: "spiffe", Host: "corp.example", Path: "/admin"}}
		}, "URI"},
		{"organization", key, func(c *x509.CertificateRequest) {
			c.Subject.Organization = []string{"Evil Corp"}
		}, "organizationName"},
		{"organizational unit", key, func(c *x509.CertificateRequest) {
			c.Subject.OrganizationalUnit = []string{"Domain Admins"}
		}, "organizationalUnitName"},
		{"common name not in the order", key, func(c *x509.CertificateRequest) {
			c.Subject.CommonName = "administrator"
		}, "common name \"administrator\""},
		{"extra DNS name", key, func(c *x509.CertificateRequest) {
			c.DNSNames = append(c.DNSNames, "evil.internal")
		}, "not in the order [\"evil.internal\"]"},
		{"missing name", key, func(c *x509.CertificateRequest) {
			c.DNSNames = []string{"other.internal"}
			c.Subject.CommonName = ""
		}, "missing [app.internal]"},
		{"must-staple", key, func(c *x509.CertificateRequest) {
			c.ExtraExtensions = []pkix.Extension{ext(t, asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 1, 24}, false, []int{5})}
		}, "OCSP must-staple"},
		{"unknown critical extension", key, func(c *x509.CertificateRequest) {
			c.ExtraExtensions = []pkix.Extension{ext(t, asn1.ObjectIdentifier{1, 2, 3, 4}, true, 1)}
		}, "extension 1.2.3.4"},
		{"Microsoft template extension", key, func(c *x509.CertificateRequest) {
			c.ExtraExtensions = []pkix.Extension{ext(t, asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 311, 20, 2}, false, "DomainController")}
		}, "Microsoft certificate template name"},
		{"challengePassword attribute", key, func(c *x509.CertificateRequest) {
			c.Attributes = []pkix.AttributeTypeAndValueSET{{
				Type:  asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 7},
				Value: [][]pkix.AttributeTypeAndValue{{{Type: asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 7}, Value: "secret"}}},
			}}
		}, "only an extensionRequest attribute"},
		{"RSA 1024 key", rsa1024, func(*x509.CertificateRequest) {}, "public key is not acceptable"},
		{"the account key", acctKey, func(*x509.CertificateRequest) {}, "must not be the account key"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := checkCSR(smuggle(t, tc.key, tc.mutate), order, acct)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("checkCSR = %v, want accepted", err)
				}
				return
			}
			var p *problem.Problem
			if !errors.As(err, &p) || p.Type != problem.BadCSR || p.Status != 400 || !strings.Contains(p.Detail, tc.want) {
				t.Fatalf("checkCSR = %v, want badCSR naming %q", err, tc.want)
			}
		})
	}
}
