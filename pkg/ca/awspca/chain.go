package awspca

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
)

// pemCerts parses every CERTIFICATE block of s; it fails if there is none.
func pemCerts(s string) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	rest := []byte(s)
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("x509.ParseCertificate: %w", err)
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		return nil, errors.New("no CERTIFICATE block")
	}
	return certs, nil
}

// chainOf is the leaf (Certificate) followed by CertificateChain (issuer
// first, up to the root) without a trailing self-signed root, after
// checking each certificate is signed by the next.
func chainOf(leafPEM, chainPEM string) ([][]byte, error) {
	leafs, err := pemCerts(leafPEM)
	if err != nil {
		return nil, fmt.Errorf("Certificate: %w", err)
	}
	if len(leafs) != 1 {
		return nil, fmt.Errorf("Certificate holds %d certificates, want 1", len(leafs))
	}
	certs := leafs
	if chainPEM != "" {
		issuers, err := pemCerts(chainPEM)
		if err != nil {
			return nil, fmt.Errorf("CertificateChain: %w", err)
		}
		certs = append(certs, issuers...)
	}
	for k := 0; k+1 < len(certs); k++ {
		if err := certs[k].CheckSignatureFrom(certs[k+1]); err != nil {
			return nil, fmt.Errorf("chain certificate %d is not signed by the next: %w", k, err)
		}
	}
	if n := len(certs); n > 1 && selfSigned(certs[n-1]) {
		certs = certs[:n-1]
	}
	ders := make([][]byte, len(certs))
	for k, c := range certs {
		ders[k] = c.Raw
	}
	return ders, nil
}

// selfSigned reports whether c is self-issued and verifies with its own key.
func selfSigned(c *x509.Certificate) bool {
	return bytes.Equal(c.RawIssuer, c.RawSubject) && c.CheckSignatureFrom(c) == nil
}
