package awspca

import (
	"fmt"

	"github.com/acmera/acmera/pkg/ca"
)

// chainOf is the leaf (Certificate) followed by CertificateChain (issuer
// first, up to the root) without a trailing self-signed root, after
// checking each certificate is signed by the next.
func chainOf(leafPEM, chainPEM string) ([][]byte, error) {
	leafs, err := ca.ParsePEMCertificates(leafPEM)
	if err != nil {
		return nil, fmt.Errorf("Certificate: %w", err)
	}
	if len(leafs) != 1 {
		return nil, fmt.Errorf("Certificate holds %d certificates, want 1", len(leafs))
	}
	certs := leafs
	if chainPEM != "" {
		issuers, err := ca.ParsePEMCertificates(chainPEM)
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
	if n := len(certs); n > 1 && ca.SelfSigned(certs[n-1]) {
		certs = certs[:n-1]
	}
	ders := make([][]byte, len(certs))
	for k, c := range certs {
		ders[k] = c.Raw
	}
	return ders, nil
}
