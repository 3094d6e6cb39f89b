package tasksfake

import (
	"crypto"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// Issuer is the "iss" claim of every OIDC token the fake mints, as Google's
// token service writes it.
const Issuer = "https://accounts.google.com"

// tokenLifetime is how long a minted OIDC token is valid (Google: one hour).
const tokenLifetime = time.Hour

// signer holds the fake's RS256 signing key and its published JWK.
type signer struct {
	key    *rsa.PrivateKey
	kid    string
	signer jose.Signer
	jwks   []byte
}

// newSigner wraps key: the key ID is the RFC 7638 JWK thumbprint of the
// public key, so it is stable for a given key.
func newSigner(key *rsa.PrivateKey) (*signer, error) {
	pub := jose.JSONWebKey{Key: &key.PublicKey, Algorithm: string(jose.RS256), Use: "sig"}
	tp, err := pub.Thumbprint(crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("jose.JSONWebKey.Thumbprint: %w", err)
	}
	pub.KeyID = base64.RawURLEncoding.EncodeToString(tp)
	jwks, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{pub}})
	if err != nil {
		return nil, fmt.Errorf("json.Marshal JWKS: %w", err)
	}
	sk := jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: key, KeyID: pub.KeyID}}
	js, err := jose.NewSigner(sk, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		return nil, fmt.Errorf("jose.NewSigner: %w", err)
	}
	return &signer{key: key, kid: pub.KeyID, signer: js, jwks: jwks}, nil
}

// mint signs claims as a compact JWS (RFC 7515 §7.1, RFC 7519).
func (s *signer) mint(claims map[string]any) (string, error) {
	tok, err := jwt.Signed(s.signer).Claims(claims).Serialize()
	if err != nil {
		return "", fmt.Errorf("jwt.Signed: %w", err)
	}
	return tok, nil
}

// oidcClaims are the claims Cloud Tasks' OIDC token carries for a service
// account: Google ID token shape (OpenID Connect Core 1.0 §2).
func oidcClaims(email, audience string, now time.Time) map[string]any {
	return map[string]any{
		"iss":            Issuer,
		"aud":            audience,
		"azp":            subjectOf(email),
		"sub":            subjectOf(email),
		"email":          email,
		"email_verified": true,
		"iat":            now.Unix(),
		"exp":            now.Add(tokenLifetime).Unix(),
	}
}

// subjectOf derives a stable numeric-looking subject from an email, as
// Google uses the service account's unique numeric ID.
func subjectOf(email string) string {
	var h uint64 = 1469598103934665603
	for i := 0; i < len(email); i++ {
		h = (h ^ uint64(email[i])) * 1099511628211
	}
	return fmt.Sprintf("1%019d", h%1e19)
}

// KeyID is the "kid" of the fake's signing key, as published by JWKSHandler.
func (s *Server) KeyID() string { return s.sign.kid }

// MintToken signs arbitrary claims with the fake's key and key ID, so tests
// can build tokens the verifier must refuse (wrong audience, expired...).
func (s *Server) MintToken(claims map[string]any) (string, error) {
	return s.sign.mint(claims)
}

// OIDCClaims returns the claims the fake would put in a token for email
// and audience at the fake's current time; tests edit them for MintToken.
func (s *Server) OIDCClaims(email, audience string) map[string]any {
	return oidcClaims(email, audience, s.now())
}

// JWKSHandler serves the public key set (RFC 7517 §5) used to verify the
// fake's tokens, for `GET /jwks`.
func (s *Server) JWKSHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "public, max-age=300")
		_, _ = w.Write(s.sign.jwks)
	})
}
