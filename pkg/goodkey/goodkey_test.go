package goodkey

import (
	"crypto"
	"crypto/dsa" //nolint:staticcheck // only to prove DSA keys are refused
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"math/big"
	"strings"
	"testing"

	"github.com/acmera/acmera/pkg/problem"
)

// oddModulus returns an odd number of exactly bits bits with no prime
// factor below 1000 (found by stepping from 2^(bits-1)+1), standing in for
// an RSA modulus without the cost of generating primes of that size.
func oddModulus(t *testing.T, bits int) *big.Int {
	t.Helper()
	n := new(big.Int).Lsh(big.NewInt(1), uint(bits-1))
	n.Add(n, big.NewInt(1))
	for range 100000 {
		if noSmallFactor(n) {
			return n
		}
		n.Add(n, big.NewInt(2))
	}
	t.Fatalf("no %d-bit candidate without small factors found", bits)
	return nil
}

// noSmallFactor reports whether n has no odd factor in [3, 1000) (trial
// division, independent of the implementation's GCD).
func noSmallFactor(n *big.Int) bool {
	m := new(big.Int)
	for d := int64(3); d < 1000; d += 2 {
		if m.Mod(n, big.NewInt(d)).Sign() == 0 {
			return false
		}
	}
	return true
}

func mustECDSA(t *testing.T, c elliptic.Curve) *ecdsa.PublicKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(c, rand.Reader)
	if err != nil {
		t.Fatalf("ecdsa.GenerateKey: %v", err)
	}
	return &k.PublicKey
}

func TestCheck(t *testing.T) {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatalf("rsa.GenerateKey: %v", err)
	}
	p256 := mustECDSA(t, elliptic.P256())
	offCurve := &ecdsa.PublicKey{Curve: elliptic.P256(), X: new(big.Int).Add(p256.X, big.NewInt(1)), Y: p256.Y}
	infinity := &ecdsa.PublicKey{Curve: elliptic.P256(), X: new(big.Int), Y: new(big.Int)}
	edPub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatalf("ed25519.GenerateKey: %v", err)
	}
	x25519, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatalf("ecdh.GenerateKey: %v", err)
	}
	n2048 := oddModulus(t, 2048)
	smallFactor := new(big.Int).Mul(oddModulus(t, 2046), big.NewInt(7))

	tests := []struct {
		name   string
		key    crypto.PublicKey
		detail string // "" means accepted; otherwise the expected detail substring
	}{
		{"rsa 2048 generated", &rsaKey.PublicKey, ""},
		{"rsa 2048 synthetic", &rsa.PublicKey{N: n2048, E: 65537}, ""},
		{"rsa 8192", &rsa.PublicKey{N: oddModulus(t, 8192), E: 65537}, ""},
		{"rsa large exponent", &rsa.PublicKey{N: n2048, E: 1<<31 - 1}, ""},
		{"rsa 1024", &rsa.PublicKey{N: oddModulus(t, 1024), E: 65537}, "RSA key of 1024 bits is too small; at least 2048 required"},
		{"rsa 2047", &rsa.PublicKey{N: oddModulus(t, 2047), E: 65537}, "RSA key of 2047 bits is too small"},
		{"rsa 8200", &rsa.PublicKey{N: oddModulus(t, 8200), E: 65537}, "RSA key of 8200 bits is too large; at most 8192 allowed"},
		{"rsa even modulus", &rsa.PublicKey{N: new(big.Int).Add(n2048, big.NewInt(1)), E: 65537}, "RSA modulus is even"},
		{"rsa exponent 3", &rsa.PublicKey{N: n2048, E: 3}, "RSA public exponent 3 is too small; at least 65537 required"},
		{"rsa even exponent", &rsa.PublicKey{N: n2048, E: 65538}, "RSA public exponent 65538 is even"},
		{"rsa small prime factor", &rsa.PublicKey{N: smallFactor, E: 65537}, "RSA modulus has a small prime factor"},
		{"rsa no modulus", &rsa.PublicKey{E: 65537}, "RSA key has no modulus"},
		{"rsa nil pointer", (*rsa.PublicKey)(nil), "RSA key has no modulus"},
		{"rsa value not pointer", rsaKey.PublicKey, "unsupported key type rsa.PublicKey"},
		{"ecdsa p256", p256, ""},
		{"ecdsa p384", mustECDSA(t, elliptic.P384()), ""},
		{"ecdsa p224", mustECDSA(t, elliptic.P224()), "ECDSA curve P-224 is not allowed; use P-256 or P-384"},
		{"ecdsa p521", mustECDSA(t, elliptic.P521()), "ECDSA curve P-521 is not allowed; use P-256 or P-384"},
		{"ecdsa off curve", offCurve, "ECDSA public key is not a valid point on P-256"},
		{"ecdsa point at infinity", infinity, "ECDSA public key is not a valid point on P-256"},
		{"ecdsa no curve", &ecdsa.PublicKey{}, "ECDSA key has no curve"},
		{"ed25519", edPub, ""},
		{"ed25519 short", edPub[:31], "Ed25519 key is 31 bytes; 32 required"},
		{"dsa", &dsa.PublicKey{}, "unsupported key type *dsa.PublicKey"},
		{"x25519", x25519.PublicKey(), "unsupported key type *ecdh.PublicKey"},
		{"nil", nil, "no public key"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			checkResult(t, Check(tc.key), tc.detail)
		})
	}
}

// Account keys are checked as certificate keys are, except that P-521
// (ES512) is accepted.
func TestCheckAccountKey(t *testing.T) {
	tests := []struct {
		name   string
		key    crypto.PublicKey
		detail string
	}{
		{"ecdsa p256", mustECDSA(t, elliptic.P256()), ""},
		{"ecdsa p521", mustECDSA(t, elliptic.P521()), ""},
		{"ecdsa p224", mustECDSA(t, elliptic.P224()), "ECDSA curve P-224 is not allowed; use P-256, P-384 or P-521"},
		{"rsa 1024", &rsa.PublicKey{N: oddModulus(t, 1024), E: 65537}, "RSA key of 1024 bits is too small; at least 2048 required"},
		{"dsa", &dsa.PublicKey{}, "unsupported key type *dsa.PublicKey; use RSA (2048 to 8192 bits), ECDSA P-256, P-384 or P-521, or Ed25519"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			checkResult(t, CheckAccountKey(tc.key), tc.detail)
		})
	}
}

// checkResult checks a Check result: nil when detail is empty, else a
// badPublicKey problem whose detail contains detail.
func checkResult(t *testing.T, err error, detail string) {
	t.Helper()
	if detail == "" {
		if err != nil {
			t.Fatalf("Check = %v, want nil", err)
		}
		return
	}
	p, ok := problem.Of(err)
	if !ok {
		t.Fatalf("Check = %v, want a *problem.Problem", err)
	}
	if p.Type != problem.BadPublicKey {
		t.Errorf("type = %s, want %s", p.Type, problem.BadPublicKey)
	}
	if !strings.Contains(p.Detail, detail) {
		t.Errorf("detail = %q, want it to contain %q", p.Detail, detail)
	}
}

func TestSmallPrimesProduct(t *testing.T) {
	// The product must contain exactly the odd primes below 1000 (167 of
	// them): divisible by each, and by no odd composite's square-free
	// complement beyond them. Check divisibility by every odd prime and
	// non-divisibility by 2 and by the square of a prime.
	p := smallPrimesProduct()
	m := new(big.Int)
	count := 0
	for d := int64(3); d < 1000; d += 2 {
		if !big.NewInt(d).ProbablyPrime(10) {
			continue
		}
		count++
		if m.Mod(p, big.NewInt(d)).Sign() != 0 {
			t.Errorf("product not divisible by prime %d", d)
		}
		if m.Mod(p, big.NewInt(d*d)).Sign() == 0 {
			t.Errorf("product divisible by %d², so a composite was multiplied in", d)
		}
	}
	if count != 167 {
		t.Errorf("found %d odd primes below 1000, want 167", count)
	}
	if p.Bit(0) == 0 {
		t.Error("product is even")
	}
}

func TestCheckSignatureAlgorithm(t *testing.T) {
	tests := []struct {
		alg    x509.SignatureAlgorithm
		detail string // "" means accepted
	}{
		{x509.SHA256WithRSA, ""},
		{x509.SHA384WithRSA, ""},
		{x509.SHA512WithRSA, ""},
		{x509.SHA256WithRSAPSS, ""},
		{x509.SHA512WithRSAPSS, ""},
		{x509.ECDSAWithSHA256, ""},
		{x509.ECDSAWithSHA384, ""},
		{x509.ECDSAWithSHA512, ""},
		{x509.PureEd25519, ""},
		{x509.MD2WithRSA, "is not allowed"},
		{x509.MD5WithRSA, "CSR signature algorithm MD5-RSA is not allowed"},
		{x509.SHA1WithRSA, "CSR signature algorithm SHA1-RSA is not allowed"},
		{x509.ECDSAWithSHA1, "CSR signature algorithm ECDSA-SHA1 is not allowed"},
		{x509.DSAWithSHA256, "CSR signature algorithm DSA-SHA256 is not allowed"},
		{x509.UnknownSignatureAlgorithm, "CSR signature algorithm is unknown"},
	}
	for _, tc := range tests {
		t.Run(tc.alg.String(), func(t *testing.T) {
			err := CheckSignatureAlgorithm(tc.alg)
			if tc.detail == "" {
				if err != nil {
					t.Fatalf("CheckSignatureAlgorithm = %v, want nil", err)
				}
				return
			}
			p, ok := problem.Of(err)
			if !ok {
				t.Fatalf("CheckSignatureAlgorithm = %v, want a *problem.Problem", err)
			}
			if p.Type != problem.BadCSR {
				t.Errorf("type = %s, want %s", p.Type, problem.BadCSR)
			}
			if !strings.Contains(p.Detail, tc.detail) {
				t.Errorf("detail = %q, want it to contain %q", p.Detail, tc.detail)
			}
		})
	}
}
