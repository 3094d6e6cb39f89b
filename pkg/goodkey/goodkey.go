// Package goodkey decides which public keys acmera accepts, both as ACME
// account keys (the JWK of newAccount and key-change, RFC 8555 §7.3 and
// §7.3.5) and as certificate keys in a finalize CSR (RFC 8555 §7.4), and
// which CSR signature algorithms it accepts.
//
// Every refusal is a *problem.Problem, so the RA can hand it to the client
// unchanged: badPublicKey (RFC 8555 §6.7) for a key, badCSR for a CSR
// signature algorithm. The detail says what is wrong and what would be
// accepted.
package goodkey

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"math/big"

	"github.com/acmera/acmera/pkg/problem"
)

// RSA modulus bounds, in bits. Below 2048 is factorable in reach of a
// motivated attacker; above 8192 only costs signature verification time
// (a cheap denial-of-service lever) without adding meaningful security.
const (
	MinRSABits = 2048
	MaxRSABits = 8192
)

// minRSAExponent is the smallest accepted RSA public exponent (F4).
// Small exponents (3, 17) are legal but have a history of attacks on
// padding; every mainstream key generator uses 65537.
const minRSAExponent = 65537

// Check reports whether pub is acceptable as a certificate key in a
// finalize CSR. It returns nil, or a *problem.Problem of type badPublicKey
// (RFC 8555 §6.7) naming what is wrong.
//
// Accepted: RSA with a 2048..8192-bit odd modulus and an odd public
// exponent of at least 65537; ECDSA on P-256 or P-384 with the point on the
// curve; Ed25519. Everything else (DSA, P-224, P-521, ECDH keys, value
// rather than pointer forms of RSA/ECDSA keys, ...) is refused.
func Check(pub crypto.PublicKey) error { return check(pub, false) }

// CheckAccountKey reports whether pub is acceptable as an ACME account key
// (the jwk of newAccount, of keyChange's inner JWS and of a revocation
// signed by the certificate's key), like Check but also accepting ECDSA
// P-521, the curve of the JWS algorithm ES512 (RFC 7518 §3.4), which the
// WFE offers. An account key only signs requests to acmera, so any curve
// with a JWS algorithm costs nothing elsewhere; certificate keys stay
// with what every CA backend signs.
func CheckAccountKey(pub crypto.PublicKey) error { return check(pub, true) }

func check(pub crypto.PublicKey, p521 bool) error {
	ec := "ECDSA P-256 or P-384"
	if p521 {
		ec = "ECDSA P-256, P-384 or P-521"
	}
	switch k := pub.(type) {
	case nil:
		return badKey("no public key")
	case *rsa.PublicKey:
		return checkRSA(k)
	case *ecdsa.PublicKey:
		return checkECDSA(k, p521)
	case ed25519.PublicKey:
		return checkEd25519(k)
	default:
		return badKey("unsupported key type %T; use RSA (2048 to 8192 bits), %s, or Ed25519", pub, ec)
	}
}

func checkRSA(k *rsa.PublicKey) error {
	if k == nil || k.N == nil {
		return badKey("RSA key has no modulus")
	}
	bits := k.N.BitLen()
	switch {
	case bits < MinRSABits:
		return badKey("RSA key of %d bits is too small; at least %d required", bits, MinRSABits)
	case bits > MaxRSABits:
		return badKey("RSA key of %d bits is too large; at most %d allowed", bits, MaxRSABits)
	case k.N.Bit(0) == 0:
		// An even modulus has the factor 2: trivially factored.
		return badKey("RSA modulus is even, so it is not a product of two large primes")
	case k.E < minRSAExponent:
		return badKey("RSA public exponent %d is too small; at least %d required", k.E, minRSAExponent)
	case k.E%2 == 0:
		return badKey("RSA public exponent %d is even; it must be odd", k.E)
	}
	// A modulus with a small prime factor is as weak as an even one. Checking
	// against the primes below 1000 is cheap (a single GCD) and catches
	// fabricated or corrupted keys.
	if new(big.Int).GCD(nil, nil, k.N, smallPrimesProduct()).Cmp(big.NewInt(1)) != 0 {
		return badKey("RSA modulus has a small prime factor")
	}
	return nil
}

// smallPrimeLimit bounds the primes smallPrimesProduct multiplies.
const smallPrimeLimit = 1000

// smallPrimesProduct returns the product of the odd primes below
// smallPrimeLimit, found with a sieve. It is recomputed per call (a few
// microseconds) rather than kept in a package variable, which would be
// shared mutable state.
func smallPrimesProduct() *big.Int {
	var composite [smallPrimeLimit]bool
	p := big.NewInt(1)
	for n := 3; n < smallPrimeLimit; n += 2 {
		if composite[n] {
			continue
		}
		p.Mul(p, big.NewInt(int64(n)))
		for m := n * n; m < smallPrimeLimit; m += 2 * n {
			composite[m] = true
		}
	}
	return p
}

func checkECDSA(k *ecdsa.PublicKey, p521 bool) error {
	if k == nil || k.Curve == nil {
		return badKey("ECDSA key has no curve")
	}
	name := k.Curve.Params().Name
	switch {
	case name == "P-256" || name == "P-384":
	case name == "P-521" && p521:
	default:
		if name == "" {
			name = "(unnamed)"
		}
		if p521 {
			return badKey("ECDSA curve %s is not allowed; use P-256, P-384 or P-521", name)
		}
		return badKey("ECDSA curve %s is not allowed; use P-256 or P-384", name)
	}
	// ECDH() validates the point: it fails for the point at infinity and
	// for coordinates that are not on the curve or not reduced.
	if _, err := k.ECDH(); err != nil {
		return badKey("ECDSA public key is not a valid point on %s", name)
	}
	return nil
}

func checkEd25519(k ed25519.PublicKey) error {
	if len(k) != ed25519.PublicKeySize {
		return badKey("Ed25519 key is %d bytes; %d required", len(k), ed25519.PublicKeySize)
	}
	return nil
}

func badKey(format string, args ...any) *problem.Problem {
	return problem.New(problem.BadPublicKey, format, args...)
}

// CheckSignatureAlgorithm reports whether a CSR signed with alg is
// acceptable at finalize (RFC 8555 §7.4). MD2/MD5/SHA-1 based algorithms
// (collision attacks are practical), DSA, and unknown algorithms are
// refused with a badCSR problem.
func CheckSignatureAlgorithm(alg x509.SignatureAlgorithm) error {
	switch alg {
	case x509.SHA256WithRSA, x509.SHA384WithRSA, x509.SHA512WithRSA,
		x509.SHA256WithRSAPSS, x509.SHA384WithRSAPSS, x509.SHA512WithRSAPSS,
		x509.ECDSAWithSHA256, x509.ECDSAWithSHA384, x509.ECDSAWithSHA512,
		x509.PureEd25519:
		return nil
	case x509.UnknownSignatureAlgorithm:
		return problem.BadCSRf("CSR signature algorithm is unknown; use SHA-256 or stronger with RSA or ECDSA, or Ed25519")
	default:
		return problem.BadCSRf("CSR signature algorithm %s is not allowed; use SHA-256 or stronger with RSA or ECDSA, or Ed25519", alg)
	}
}
