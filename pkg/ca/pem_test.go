package ca_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"testing"
	"time"

	"github.com/acmera/acmera/pkg/ca"
)

func TestBackoffDoublesUpToMax(t *testing.T) {
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 5 * time.Second, 5 * time.Second}
	for n, w := range want {
		if got := ca.Backoff(time.Second, 5*time.Second, n+1); got != w {
			t.Errorf("Backoff(%d) = %v, want %v", n+1, got, w)
		}
	}
}

// ParsePEMCertificates keeps the order, skips other blocks and refuses
// text without a certificate; SelfSigned tells a root from a leaf.
func TestParsePEMCertificatesAndSelfSigned(t *testing.T) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	rootT := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "root"}, IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign, NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour)}
	rootDER, _ := x509.CreateCertificate(rand.Reader, rootT, rootT, key.Public(), key)
	root, _ := x509.ParseCertificate(rootDER)
	leafT := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "leaf"}, NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour)}
	leafDER, _ := x509.CreateCertificate(rand.Reader, leafT, root, key.Public(), key)
	text := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leafDER})) +
		string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: []byte{1}})) +
		string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: rootDER}))
	certs, err := ca.ParsePEMCertificates(text)
	if err != nil || len(certs) != 2 || certs[0].Subject.CommonName != "leaf" || certs[1].Subject.CommonName != "root" {
		t.Fatalf("ParsePEMCertificates: %d certificates, %v", len(certs), err)
	}
	if ca.SelfSigned(certs[0]) || !ca.SelfSigned(certs[1]) {
		t.Error("SelfSigned does not tell the root from the leaf")
	}
	if _, err := ca.ParsePEMCertificates("no pem here"); !errors.Is(err, ca.ErrNoCertificate) {
		t.Errorf("text without a certificate: %v", err)
	}
}
