package cas

import (
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"

	"cloud.google.com/go/security/privateca/apiv1/privatecapb"

	"github.com/acmera/acmera/pkg/ca"
)

// errNoCert reports a PEM field without a certificate.
var errNoCert = errors.New("no CERTIFICATE block")

// pemCerts decodes every CERTIFICATE block of s, checking each parses; it
// fails if there is none.
func pemCerts(s string) ([][]byte, error) {
	var ders [][]byte
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
		if _, err := x509.ParseCertificate(block.Bytes); err != nil {
			return nil, fmt.Errorf("x509.ParseCertificate: %w", err)
		}
		ders = append(ders, block.Bytes)
	}
	if len(ders) == 0 {
		return nil, errNoCert
	}
	return ders, nil
}

// chainOf returns the leaf (pem_certificate) then pem_certificate_chain
// (issuer-to-root) without a trailing self-signed root, after checking the
// leaf certifies want, the CSR's public key.
func chainOf(c *privatecapb.Certificate, want crypto.PublicKey) ([][]byte, error) {
	leafs, err := pemCerts(c.GetPemCertificate())
	if err != nil {
		return nil, fmt.Errorf("pem_certificate: %w", err)
	}
	if len(leafs) != 1 {
		return nil, fmt.Errorf("pem_certificate holds %d certificates, want 1", len(leafs))
	}
	leaf, _ := x509.ParseCertificate(leafs[0])
	if leaf == nil {
		return nil, errors.New("pem_certificate does not parse")
	}
	if want != nil {
		if k, ok := want.(interface{ Equal(crypto.PublicKey) bool }); !ok || !k.Equal(leaf.PublicKey) {
			return nil, errors.New("the issued certificate does not certify the CSR's public key")
		}
	}
	chain := leafs
	for _, p := range c.GetPemCertificateChain() {
		ders, err := pemCerts(p)
		if err != nil {
			return nil, fmt.Errorf("pem_certificate_chain: %w", err)
		}
		chain = append(chain, ders...)
	}
	if top, err := x509.ParseCertificate(chain[len(chain)-1]); len(chain) > 1 && err == nil && ca.SelfSigned(top) {
		chain = chain[:len(chain)-1]
	}
	return chain, nil
}
