package wfe

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"

	"github.com/go-jose/go-jose/v4"

	"github.com/acmera/acmera/pkg/goodkey"
	"github.com/acmera/acmera/pkg/problem"
)

// embeddedKey parses the jwk of a protected header (RFC 8555 §6.2:
// newAccount and revokeCert; §7.3.5: the inner JWS of keyChange): it must
// be a valid public key that goodkey accepts as an account key (RFC 7515
// §4.1.3 allows only public keys there). A key of a type or curve this
// server does not take, whether go-jose can parse it (RSA 1024) or not
// (P-224), is badPublicKey (RFC 8555 §6.7); anything else that is not a
// public key is malformed. what names the jwk in the problem detail.
func embeddedKey(raw []byte, what string) (*jose.JSONWebKey, error) {
	jwk, err := parseJWK(raw)
	if err != nil {
		if p := unsupportedKey(raw, what); p != nil {
			return nil, p
		}
		return nil, problem.Malformedf("the %s is not a valid public key", what)
	}
	if err := goodkey.CheckAccountKey(jwk.Key); err != nil {
		if p, ok := problem.Of(err); ok {
			return nil, problem.New(p.Type, "the %s is refused: %s", what, p.Detail)
		}
		return nil, err
	}
	return jwk, nil
}

// unsupportedKey names the key type or curve of a jwk that go-jose could
// not parse because this server does not support it (RFC 7518 §6.1 and
// RFC 8037 §2 list the values), or returns nil.
func unsupportedKey(raw []byte, what string) *problem.Problem {
	var k struct {
		Kty string `json:"kty"`
		Crv string `json:"crv"`
		N   string `json:"n"`
		D   string `json:"d"`
	}
	if json.Unmarshal(raw, &k) != nil {
		return nil
	}
	bad := func(format string, args ...any) *problem.Problem {
		return problem.New(problem.BadPublicKey, "the %s is refused: "+format, append([]any{what}, args...)...)
	}
	switch k.Kty {
	case "RSA":
		// go-jose refuses moduli above 4096 bits before goodkey sees them.
		if n, err := base64.RawURLEncoding.DecodeString(k.N); err == nil && k.D == "" {
			if bits := new(big.Int).SetBytes(n).BitLen(); bits > 4096 {
				return bad("an RSA key of %d bits is larger than the 4096 bits accepted", bits)
			}
		}
		return nil
	case "EC":
		if k.Crv != "P-256" && k.Crv != "P-384" && k.Crv != "P-521" {
			return bad("ECDSA curve %q is not allowed; use P-256, P-384 or P-521", problem.Truncate(k.Crv, 16))
		}
		if k.D == "" {
			return bad("its x and y are not a point on curve %s", k.Crv)
		}
	case "OKP":
		if k.Crv != "Ed25519" {
			return bad("OKP curve %q is not allowed; use Ed25519", problem.Truncate(k.Crv, 16))
		}
	case "oct":
		return bad("a symmetric key (kty \"oct\") cannot sign ACME requests; use RSA, ECDSA or Ed25519")
	case "":
		return nil
	default:
		return bad("key type %q is not supported; use RSA, ECDSA or Ed25519", problem.Truncate(k.Kty, 16))
	}
	return nil
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
