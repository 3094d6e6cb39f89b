package pcafake

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

// authority is the CA's key material: an EC P-256 root and, unless the
// fake plays a root CA, an intermediate that signs the leaves.
type authority struct {
	root    *x509.Certificate
	signer  *x509.Certificate // the CA the ARN names: intermediate, or root
	key     crypto.Signer     // signer's key
	rootPEM []byte
	// chainPEM is what GetCertificate adds after the leaf: the signer,
	// then its issuers up to the root.
	chainPEM []byte
}

func newAuthority(rnd io.Reader, now time.Time, life time.Duration, rootOnly bool) (*authority, error) {
	rootKey, err := ecdsa.GenerateKey(elliptic.P256(), rnd)
	if err != nil {
		return nil, fmt.Errorf("ecdsa.GenerateKey: %w", err)
	}
	root, err := caCert(rnd, "pcafake root", now, life+24*time.Hour, nil, rootKey, rootKey)
	if err != nil {
		return nil, err
	}
	a := &authority{root: root, signer: root, key: rootKey, rootPEM: pemOf(root.Raw)}
	a.chainPEM = a.rootPEM
	if rootOnly {
		return a, nil
	}
	interKey, err := ecdsa.GenerateKey(elliptic.P256(), rnd)
	if err != nil {
		return nil, fmt.Errorf("ecdsa.GenerateKey: %w", err)
	}
	inter, err := caCert(rnd, "pcafake subordinate", now, life, root, interKey, rootKey)
	if err != nil {
		return nil, err
	}
	a.signer, a.key = inter, interKey
	a.chainPEM = append(pemOf(inter.Raw), a.rootPEM...)
	return a, nil
}

func caCert(rnd io.Reader, cn string, now time.Time, life time.Duration, parent *x509.Certificate, key, parentKey *ecdsa.PrivateKey) (*x509.Certificate, error) {
	serial, err := randomSerial(rnd)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: cn, Organization: []string{"acmera tests"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(life),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	if parent == nil {
		parent = tmpl
	}
	der, err := x509.CreateCertificate(rnd, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		return nil, fmt.Errorf("x509.CreateCertificate %s: %w", cn, err)
	}
	return x509.ParseCertificate(der)
}

// randomSerial is a positive 159-bit serial, as RFC 5280 §4.1.2.2 allows.
func randomSerial(rnd io.Reader) (*big.Int, error) {
	b := make([]byte, 20)
	if _, err := io.ReadFull(rnd, b); err != nil {
		return nil, fmt.Errorf("serial: %w", err)
	}
	b[0] &= 0x7f
	b[0] |= 0x01 // keep 20 bytes, so serials are never short
	return new(big.Int).SetBytes(b), nil
}

func pemOf(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}
