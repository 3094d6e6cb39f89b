package ra

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"testing"

	"github.com/acmera/acmera/pkg/acme"
	"github.com/acmera/acmera/pkg/core"
)

// BenchmarkCheckCSR measures the finalize CSR check (parse, signature,
// key, names against the order) for a P-256 CSR with two names.
func BenchmarkCheckCSR(b *testing.B) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	names := []string{"bench.example.com", "www.bench.example.com"}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{DNSNames: names}, key)
	if err != nil {
		b.Fatal(err)
	}
	o := &core.Order{Identifiers: []acme.Identifier{{Type: acme.IdentifierDNS, Value: names[0]}, {Type: acme.IdentifierDNS, Value: names[1]}}}
	acct := fuzzAccount(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := checkCSR(der, o, acct); err != nil {
			b.Fatal(err)
		}
	}
}
