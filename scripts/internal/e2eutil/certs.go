package e2eutil

import (
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"strings"

	"golang.org/x/crypto/acme"
)

// LoadRoots reads a PEM bundle of trusted roots.
func LoadRoots(path string) (*x509.CertPool, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("os.ReadFile: %w", err)
	}
	p := x509.NewCertPool()
	if !p.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("%s holds no PEM certificate", path)
	}
	return p, nil
}

// readCertAndKey reads a chain (every CERTIFICATE block of the PEM file
// certPath, leaf first, as RFC 8555 §7.4.2 serves it) and its private key
// (the PEM file keyPath: PKCS#8, SEC 1 or PKCS#1).
func readCertAndKey(certPath, keyPath string) ([][]byte, crypto.Signer, error) {
	b, err := os.ReadFile(certPath)
	if err != nil {
		return nil, nil, fmt.Errorf("os.ReadFile: %w", err)
	}
	var chain [][]byte
	for {
		var blk *pem.Block
		if blk, b = pem.Decode(b); blk == nil {
			break
		}
		if blk.Type == "CERTIFICATE" {
			chain = append(chain, blk.Bytes)
		}
	}
	if b, err = os.ReadFile(keyPath); err != nil {
		return nil, nil, fmt.Errorf("os.ReadFile: %w", err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, nil, fmt.Errorf("%s: no PEM block", keyPath)
	}
	key, err := parseKey(blk.Bytes)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", keyPath, err)
	}
	return chain, key, nil
}

func parseKey(der []byte) (crypto.Signer, error) {
	if k, err := x509.ParsePKCS8PrivateKey(der); err == nil {
		if s, ok := k.(crypto.Signer); ok {
			return s, nil
		}
		return nil, fmt.Errorf("PKCS#8 key %T is not a signer", k)
	}
	if k, err := x509.ParseECPrivateKey(der); err == nil {
		return k, nil
	}
	if k, err := x509.ParsePKCS1PrivateKey(der); err == nil {
		return k, nil
	}
	return nil, errors.New("not a PKCS#8, SEC 1 or PKCS#1 private key")
}

// VerifyChain checks a downloaded chain (RFC 8555 §7.4.2): it verifies to
// roots for TLS server auth, the leaf's SANs are exactly the identifiers
// (DNS names and, RFC 8738, IP addresses), and the leaf holds pub, the
// CSR's key. It returns the leaf.
func VerifyChain(roots *x509.CertPool, chain [][]byte, ids []acme.AuthzID, pub crypto.PublicKey) (*x509.Certificate, error) {
	if len(chain) < 2 {
		return nil, fmt.Errorf("chain has %d certificates, want leaf + intermediate", len(chain))
	}
	certs := make([]*x509.Certificate, len(chain))
	for i, der := range chain {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, fmt.Errorf("chain[%d]: x509.ParseCertificate: %w", i, err)
		}
		certs[i] = c
	}
	leaf, inter := certs[0], x509.NewCertPool()
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
		return nil, fmt.Errorf("leaf does not verify to the root: %w", err)
	}
	var wantDNS, wantIP, gotIP []string
	for _, id := range ids {
		if id.Type == "ip" {
			wantIP = append(wantIP, net.ParseIP(id.Value).String())
		} else {
			wantDNS = append(wantDNS, strings.ToLower(id.Value))
		}
	}
	for _, ip := range leaf.IPAddresses {
		gotIP = append(gotIP, ip.String())
	}
	gotDNS := slices.Clone(leaf.DNSNames)
	for _, s := range [][]string{wantDNS, gotDNS, wantIP, gotIP} {
		slices.Sort(s)
	}
	if !slices.Equal(gotDNS, wantDNS) || !slices.Equal(gotIP, wantIP) {
		return nil, fmt.Errorf("leaf SANs: DNS %q IP %q, want DNS %q IP %q", gotDNS, gotIP, wantDNS, wantIP)
	}
	if k, ok := pub.(interface{ Equal(crypto.PublicKey) bool }); !ok || !k.Equal(leaf.PublicKey) {
		return nil, errors.New("leaf public key is not the CSR's key")
	}
	return leaf, nil
}
