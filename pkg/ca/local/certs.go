package local

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"fmt"
	"math/big"
	"net"
	"time"

	"github.com/acmera/acmera/pkg/ca"
)

// Validity of the generated CA certificates.
const (
	rootValidity  = 10 * 365 * 24 * time.Hour
	interValidity = 5 * 365 * 24 * time.Hour
	// backdate moves NotBefore into the past to tolerate relying parties
	// whose clocks run a little behind ours.
	backdate = time.Minute
	// maxCNLength is the RFC 5280 Appendix A upper bound (ub-common-name).
	maxCNLength = 64
)

// newP256Key generates an ECDSA P-256 key, used for the CA keys and the
// listener's key: small, fast to sign with, and accepted everywhere.
func newP256Key() (*ecdsa.PrivateKey, error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("ecdsa.GenerateKey: %w", err)
	}
	return k, nil
}

// subjectKeyID computes a key identifier by RFC 7093 §2 method 1: the
// leftmost 160 bits of the SHA-256 of the subjectPublicKey bits (for ECDSA,
// the uncompressed point).
func subjectKeyID(pub *ecdsa.PublicKey) ([]byte, error) {
	b, err := pub.Bytes()
	if err != nil {
		return nil, fmt.Errorf("ecdsa.PublicKey.Bytes: %w", err)
	}
	sum := sha256.Sum256(b)
	return sum[:20], nil
}

// serialFrom turns 16 bytes into a positive, non-zero serial number of at
// most 127 bits, as RFC 5280 §4.1.2.2 requires (positive, at most 20
// octets) and CA/B BR §7.1 asks (at least 64 bits of entropy).
func serialFrom(b []byte) *big.Int {
	b[0] &= 0x7f
	n := new(big.Int).SetBytes(b)
	if n.Sign() == 0 {
		n.SetInt64(1)
	}
	return n
}

// randomSerial returns a fresh random serial.
func randomSerial() (*big.Int, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return nil, fmt.Errorf("rand.Read: %w", err)
	}
	return serialFrom(b), nil
}

// requestSerial derives the serial of a certificate from its request ID
// and the issuing intermediate's key identifier: the first 16 bytes of
// SHA-256(issuerSKID || requestID), high bit cleared, never zero. Request
// IDs are UUIDv5 of 128-bit order IDs, so the serial is still
// unpredictable to clients. With a validity derived from the request and a
// deterministic signature (see CA.Issue), a retried request yields the
// very same certificate, not a second one with the same serial.
func requestSerial(issuerSKID []byte, requestID string) *big.Int {
	h := sha256.New()
	h.Write(issuerSKID)
	h.Write([]byte(requestID))
	return serialFrom(h.Sum(nil)[:16])
}

// caName builds a CA subject. The short hex suffix of the key ID tells
// apart the roots of different installations in a trust store.
func caName(org, cn, role string, skid []byte) pkix.Name {
	n := pkix.Name{CommonName: fmt.Sprintf("%s %s %s", cn, role, hex.EncodeToString(skid[:3]))}
	if org != "" {
		n.Organization = []string{org}
	}
	return n
}

// caTemplate is the template shared by the root and the intermediate
// (RFC 5280 §4.2.1.9 basicConstraints, §4.2.1.3 keyUsage).
func caTemplate(name pkix.Name, skid []byte, notBefore time.Time, validity time.Duration, pathLen int) (*x509.Certificate, error) {
	serial, err := randomSerial()
	if err != nil {
		return nil, err
	}
	return &x509.Certificate{
		SerialNumber:          serial,
		Subject:               name,
		NotBefore:             notBefore,
		NotAfter:              notBefore.Add(validity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLen:            pathLen,
		MaxPathLenZero:        pathLen == 0,
		SubjectKeyId:          skid,
	}, nil
}

// generate creates a new root and an intermediate signed by it.
func generate(org, cn string, now time.Time) (*material, error) {
	rootKey, err := newP256Key()
	if err != nil {
		return nil, err
	}
	interKey, err := newP256Key()
	if err != nil {
		return nil, err
	}
	rootSKID, err := subjectKeyID(&rootKey.PublicKey)
	if err != nil {
		return nil, err
	}
	interSKID, err := subjectKeyID(&interKey.PublicKey)
	if err != nil {
		return nil, err
	}
	nb := now.Add(-backdate).UTC().Truncate(time.Second)
	rootTmpl, err := caTemplate(caName(org, cn, "Root CA", rootSKID), rootSKID, nb, rootValidity, 1)
	if err != nil {
		return nil, err
	}
	rootDER, err := x509.CreateCertificate(rand.Reader, rootTmpl, rootTmpl, &rootKey.PublicKey, rootKey)
	if err != nil {
		return nil, fmt.Errorf("x509.CreateCertificate root: %w", err)
	}
	interTmpl, err := caTemplate(caName(org, cn, "Intermediate CA", interSKID), interSKID, nb, interValidity, 0)
	if err != nil {
		return nil, err
	}
	// Restrict the intermediate to TLS use (CA/B BR §7.1.2.10.6).
	interTmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
	interTmpl.AuthorityKeyId = rootSKID
	interDER, err := x509.CreateCertificate(rand.Reader, interTmpl, rootTmpl, &interKey.PublicKey, rootKey)
	if err != nil {
		return nil, fmt.Errorf("x509.CreateCertificate intermediate: %w", err)
	}
	return &material{rootDER: rootDER, interDER: interDER, rootKey: rootKey, interKey: interKey}, nil
}

// leafRequest is what a leaf certificate is built from.
type leafRequest struct {
	serial     *big.Int
	notBefore  time.Time
	notAfter   time.Time
	commonName string
	dnsNames   []string
	ips        []net.IP
	pub        crypto.PublicKey
	extUsage   []x509.ExtKeyUsage
}

// leafTemplate builds an end-entity TLS certificate template (RFC 5280
// §4.2.1.6 subjectAltName; §4.2.1.12 extKeyUsage) of exactly what r says.
// With no common name the subject is empty and Go marks the SAN extension
// critical, as §4.2.1.6 requires.
func leafTemplate(r leafRequest, issuerSKID []byte) *x509.Certificate {
	t := &x509.Certificate{
		SerialNumber:          r.serial,
		NotBefore:             r.notBefore,
		NotAfter:              r.notAfter,
		DNSNames:              r.dnsNames,
		IPAddresses:           r.ips,
		KeyUsage:              ca.KeyUsage(r.pub),
		ExtKeyUsage:           r.extUsage,
		BasicConstraintsValid: true,
		IsCA:                  false,
		AuthorityKeyId:        issuerSKID,
	}
	if len(r.commonName) <= maxCNLength {
		t.Subject.CommonName = r.commonName
	}
	return t
}
