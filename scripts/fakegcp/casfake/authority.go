package casfake

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"time"
)

// authority is the fake's in-memory root and issuing intermediate.
type authority struct {
	rootPEM  string
	interPEM string
	inter    *x509.Certificate
	interKey *ecdsa.PrivateKey
}

// newAuthority generates a P-256 root valid ten times caLifetime and a
// P-256 intermediate valid caLifetime from now.
func newAuthority(rnd io.Reader, now time.Time, caLifetime time.Duration) (*authority, error) {
	rootKey, err := ecdsa.GenerateKey(elliptic.P256(), rnd)
	if err != nil {
		return nil, fmt.Errorf("ecdsa.GenerateKey: %w", err)
	}
	interKey, err := ecdsa.GenerateKey(elliptic.P256(), rnd)
	if err != nil {
		return nil, fmt.Errorf("ecdsa.GenerateKey: %w", err)
	}
	start := now.Add(-time.Hour).Truncate(time.Second)
	rootTmpl := caTemplate("casfake root", start, now.Add(10*caLifetime), 1)
	rootDER, err := x509.CreateCertificate(rnd, rootTmpl, rootTmpl, rootKey.Public(), rootKey)
	if err != nil {
		return nil, fmt.Errorf("x509.CreateCertificate(root): %w", err)
	}
	root, err := x509.ParseCertificate(rootDER)
	if err != nil {
		return nil, fmt.Errorf("x509.ParseCertificate(root): %w", err)
	}
	interTmpl := caTemplate("casfake intermediate", start, now.Add(caLifetime), 0)
	interDER, err := x509.CreateCertificate(rnd, interTmpl, root, interKey.Public(), rootKey)
	if err != nil {
		return nil, fmt.Errorf("x509.CreateCertificate(intermediate): %w", err)
	}
	inter, err := x509.ParseCertificate(interDER)
	if err != nil {
		return nil, fmt.Errorf("x509.ParseCertificate(intermediate): %w", err)
	}
	return &authority{
		rootPEM: pemCert(rootDER), interPEM: pemCert(interDER),
		inter: inter, interKey: interKey,
	}, nil
}

func caTemplate(cn string, notBefore, notAfter time.Time, maxPath int) *x509.Certificate {
	return &x509.Certificate{
		SerialNumber:          big.NewInt(notBefore.UnixNano() + int64(maxPath)),
		Subject:               pkix.Name{CommonName: cn, Organization: []string{"acmera test"}},
		NotBefore:             notBefore,
		NotAfter:              notAfter.Truncate(time.Second),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLen:            maxPath,
		MaxPathLenZero:        maxPath == 0,
	}
}

// chain is the issuer-to-root chain CAS returns in pem_certificate_chain.
func (a *authority) chain() []string { return []string{a.interPEM, a.rootPEM} }

// sign issues a leaf holding exactly what spec says, signed by the
// intermediate.
func (a *authority) sign(rnd io.Reader, spec *leafSpec, notBefore, notAfter time.Time) ([]byte, error) {
	serial, err := randSerial(rnd)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               spec.subject,
		DNSNames:              spec.dnsNames,
		IPAddresses:           spec.ips,
		URIs:                  spec.uris,
		EmailAddresses:        spec.emails,
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		KeyUsage:              spec.usage,
		ExtKeyUsage:           spec.extUsage,
		BasicConstraintsValid: true,
		IsCA:                  spec.isCA,
	}
	der, err := x509.CreateCertificate(rnd, tmpl, a.inter, spec.pub, crypto.Signer(a.interKey))
	if err != nil {
		return nil, fmt.Errorf("x509.CreateCertificate(leaf): %w", err)
	}
	return der, nil
}

// randSerial draws a positive 159-bit serial (RFC 5280 §4.1.2.2: at most
// 20 octets).
func randSerial(rnd io.Reader) (*big.Int, error) {
	b := make([]byte, 20)
	if _, err := io.ReadFull(rnd, b); err != nil {
		return nil, fmt.Errorf("read serial: %w", err)
	}
	b[0] &= 0x7f
	b[0] |= 0x01
	return new(big.Int).SetBytes(b), nil
}

func pemCert(der []byte) string {
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}
