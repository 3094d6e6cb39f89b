package wfe

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"errors"
	"fmt"
	"math/big"

	"github.com/go-jose/go-jose/v4"

	"github.com/acmera/acmera/pkg/goodkey"
	"github.com/acmera/acmera/pkg/problem"
)

// embeddedKey parses the jwk of a protected header (RFC 8555 §6.2:
// newAccount and revokeCert; §7.3.5: the inner JWS of keyChange): it must
// be a valid public key that goodkey accepts (RFC 7515 §4.1.3 allows only
// public keys there). what names the jwk in the problem detail.
func embeddedKey(raw []byte, what string) (*jose.JSONWebKey, error) {
	jwk, err := parseJWK(raw)
	if err != nil {
		return nil, problem.Malformedf("the %s is not a valid public key", what)
	}
	if err := goodkey.Check(jwk.Key); err != nil {
		return nil, err
	}
	return jwk, nil
}

// parseJWK parses a JWK that must be a valid public key.
func parseJWK(raw []byte) (*jose.JSONWebKey, error) {
	jwk := new(jose.JSONWebKey)
	if err := jwk.UnmarshalJSON(raw); err != nil {
		return nil, fmt.Errorf("jose.JSONWebKey.UnmarshalJSON: %w", err)
	}
	if !jwk.Valid() || !jwk.IsPublic() {
		return nil, errors.New("wfe: the jwk is not a valid public key")
	}
	return jwk, nil
}

// verifySignature checks a JWS signature (RFC 7515 §5.2 step 8) over the
// signing input protected || '.' || payload, as received, for the
// algorithms of RFC 7518 §3.3 (RS256), §3.4 (ES256/384/512: r || s, each
// the curve's size, and the key on that curve), §3.5 (PS256) and RFC 8037
// §3.1 (EdDSA with Ed25519). checkKeyAlg has already matched alg to the
// key type; any other combination fails.
func verifySignature(key crypto.PublicKey, alg string, f *flattened) bool {
	sig := f.signature
	switch k := key.(type) {
	case *ecdsa.PublicKey:
		curve, hash, size := ecParams(alg)
		if curve == nil || k.Curve != curve || len(sig) != 2*size {
			return false
		}
		r := new(big.Int).SetBytes(sig[:size])
		s := new(big.Int).SetBytes(sig[size:])
		return ecdsa.Verify(k, signingDigest(hash, f), r, s)
	case *rsa.PublicKey:
		switch alg {
		case "RS256":
			return rsa.VerifyPKCS1v15(k, crypto.SHA256, signingDigest(crypto.SHA256, f), sig) == nil
		case "PS256":
			return rsa.VerifyPSS(k, crypto.SHA256, signingDigest(crypto.SHA256, f), sig, nil) == nil
		}
	case ed25519.PublicKey:
		if alg != "EdDSA" || len(k) != ed25519.PublicKeySize {
			return false
		}
		input := make([]byte, 0, len(f.protected)+1+len(f.payload))
		input = append(append(append(input, f.protected...), '.'), f.payload...)
		return ed25519.Verify(k, input, sig)
	}
	return false
}

// ecParams returns the curve, hash and scalar size of an ECDSA JWS
// algorithm (RFC 7518 §3.4), or a nil curve.
func ecParams(alg string) (elliptic.Curve, crypto.Hash, int) {
	switch alg {
	case "ES256":
		return elliptic.P256(), crypto.SHA256, 32
	case "ES384":
		return elliptic.P384(), crypto.SHA384, 48
	case "ES512":
		return elliptic.P521(), crypto.SHA512, 66
	}
	return nil, 0, 0
}

// signingDigest hashes the JWS signing input, protected || '.' ||
// payload, without joining them.
func signingDigest(h crypto.Hash, f *flattened) []byte {
	m := h.New()
	m.Write(f.protected)
	m.Write([]byte{'.'})
	m.Write(f.payload)
	return m.Sum(nil)
}
