package ca_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"math/big"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/acmera/acmera/pkg/ca"
)

func TestCheckIssued(t *testing.T) {
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	leafKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	otherKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	req := ca.IssueRequest{
		PublicKey: leafKey.Public(), CommonName: "app.example.com",
		DNSNames: []string{"app.example.com", "www.example.com"}, IPAddresses: []net.IP{net.ParseIP("10.1.2.3")},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, Lifetime: 24 * time.Hour,
	}
	good := func() *x509.Certificate {
		return &x509.Certificate{
			SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "app.example.com"},
			DNSNames: []string{"www.example.com", "app.example.com"}, IPAddresses: []net.IP{net.ParseIP("10.1.2.3").To4()},
			NotBefore: now.Add(-time.Minute), NotAfter: now.Add(24*time.Hour - time.Minute),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
			BasicConstraintsValid: true,
		}
	}
	tests := []struct {
		name   string
		mutate func(*x509.Certificate)
		key    *ecdsa.PrivateKey
		want   string // "" for a match
	}{
		{"exactly what was asked", func(*x509.Certificate) {}, leafKey, ""},
		{"an extra DNS name", func(c *x509.Certificate) { c.DNSNames = append(c.DNSNames, "evil.example.com") }, leafKey, "DNS names"},
		{"a missing DNS name", func(c *x509.Certificate) { c.DNSNames = c.DNSNames[:1] }, leafKey, "DNS names"},
		{"another IP", func(c *x509.Certificate) { c.IPAddresses = []net.IP{net.ParseIP("10.9.9.9")} }, leafKey, "IP addresses"},
		{"an e-mail SAN", func(c *x509.Certificate) { c.EmailAddresses = []string{"admin@corp.example"} }, leafKey, "something other"},
		{"a URI SAN", func(c *x509.Certificate) { c.URIs = []*url.URL{{Scheme: "spiffe", Host: "corp"}} }, leafKey, "something other"},
		{"a CA", func(c *x509.Certificate) { c.IsCA = true; c.KeyUsage |= x509.KeyUsageCertSign }, leafKey, "CA certificate"},
		{"codeSigning added", func(c *x509.Certificate) {
			c.ExtKeyUsage = append(c.ExtKeyUsage, x509.ExtKeyUsageCodeSigning)
		}, leafKey, "extended key usages"},
		{"clientAuth not asked", func(c *x509.Certificate) {
			c.ExtKeyUsage = append(c.ExtKeyUsage, x509.ExtKeyUsageClientAuth)
		}, leafKey, "extended key usages"},
		{"unknown EKU", func(c *x509.Certificate) {
			c.UnknownExtKeyUsage = []asn1.ObjectIdentifier{{1, 3, 6, 1, 4, 1, 311, 20, 2, 2}}
		}, leafKey, "extended key usages"},
		{"another common name", func(c *x509.Certificate) { c.Subject.CommonName = "administrator" }, leafKey, "common name"},
		{"an organization", func(c *x509.Certificate) { c.Subject.Organization = []string{"Evil Corp"} }, leafKey, "subject holds 2.5.4.10"},
		{"an otherName UPN", func(c *x509.Certificate) {
			// The SAN extension written raw: the DNS names plus an otherName.
			san, _ := asn1.Marshal([]asn1.RawValue{
				{Class: asn1.ClassContextSpecific, Tag: 2, Bytes: []byte("app.example.com")},
				{Class: asn1.ClassContextSpecific, Tag: 2, Bytes: []byte("www.example.com")},
				{Class: asn1.ClassContextSpecific, Tag: 7, Bytes: []byte{10, 1, 2, 3}},
				{FullBytes: []byte{0xa0, 0x0a, 0x06, 0x03, 0x2b, 0x06, 0x01, 0xa0, 0x03, 0x0c, 0x01, 0x61}},
			})
			c.DNSNames, c.IPAddresses = nil, nil
			c.ExtraExtensions = []pkix.Extension{{Id: asn1.ObjectIdentifier{2, 5, 29, 17}, Value: san}}
		}, leafKey, "something other than DNS names"},
		{"another key", func(*x509.Certificate) {}, otherKey, "public key"},
		{"valid too long", func(c *x509.Certificate) { c.NotAfter = now.Add(48 * time.Hour) }, leafKey, "valid until"},
		{"starts tomorrow", func(c *x509.Certificate) { c.NotBefore = now.Add(24 * time.Hour) }, leafKey, "does not start"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tmpl := good()
			tc.mutate(tmpl)
			der, err := x509.CreateCertificate(rand.Reader, tmpl, &x509.Certificate{Subject: pkix.Name{CommonName: "ca"}}, tc.key.Public(), caKey)
			if err != nil {
				t.Fatal(err)
			}
			leaf, err := x509.ParseCertificate(der)
			if err != nil {
				t.Fatal(err)
			}
			err = ca.CheckIssued(req, leaf, now)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("CheckIssued = %v, want a match", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("CheckIssued = %v, want a mismatch naming %q", err, tc.want)
			}
		})
	}
}

func TestCheckIssuedNotAfter(t *testing.T) {
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	req := ca.IssueRequest{PublicKey: key.Public(), DNSNames: []string{"a.example"}, Lifetime: 24 * time.Hour,
		NotAfter: now.Add(3 * time.Hour), ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	for _, tc := range []struct {
		end  time.Time
		want bool
	}{
		{now.Add(3 * time.Hour), true},
		{now.Add(3*time.Hour - time.Second), true}, // CAS truncates its lifetime to whole seconds
		{now.Add(4 * time.Hour), false},
		{now.Add(2 * time.Hour), false}, // truncated: the CA's own certificate ends first
	} {
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), DNSNames: req.DNSNames, NotBefore: now, NotAfter: tc.end,
			ExtKeyUsage: req.ExtKeyUsage, BasicConstraintsValid: true}
		der, _ := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
		leaf, _ := x509.ParseCertificate(der)
		if err := ca.CheckIssued(req, leaf, now); (err == nil) != tc.want {
			t.Errorf("ending %s: %v, want match %v", tc.end, err, tc.want)
		}
	}
}

// With no notAfter asked, the certificate must live the lifetime from the
// start of the request: a retry that mints it later may end later, but a
// CA that ends it early is caught.
func TestCheckIssuedDefaultLifetimeTruncated(t *testing.T) {
	requested := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	now := requested.Add(5 * time.Minute) // a retry, after the outbox delay
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	req := ca.IssueRequest{PublicKey: key.Public(), DNSNames: []string{"a.example"}, Lifetime: 24 * time.Hour,
		RequestedAt: requested, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	for _, tc := range []struct {
		start, end time.Time
		want       string // "" for a match
	}{
		{requested, requested.Add(24 * time.Hour), ""},
		{now, now.Add(24 * time.Hour), ""},
		{requested, requested.Add(20 * time.Hour), "shortened"},
	} {
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), DNSNames: req.DNSNames, NotBefore: tc.start, NotAfter: tc.end,
			ExtKeyUsage: req.ExtKeyUsage, BasicConstraintsValid: true}
		der, _ := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
		leaf, _ := x509.ParseCertificate(der)
		err := ca.CheckIssued(req, leaf, now)
		var m *ca.MismatchError
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s to %s: %v, want a match", tc.start, tc.end, err)
		case tc.want != "" && (!errors.As(err, &m) || !strings.Contains(m.Detail, tc.want)):
			t.Errorf("%s to %s: %v, want a mismatch saying %q", tc.start, tc.end, err, tc.want)
		}
	}
}
