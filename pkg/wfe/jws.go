package wfe

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/go-jose/go-jose/v4"

	"github.com/acmera/acmera/pkg/core"
	"github.com/acmera/acmera/pkg/goodkey"
	"github.com/acmera/acmera/pkg/nonce"
	"github.com/acmera/acmera/pkg/problem"
)

// algorithms are the JWS algorithms accepted on ACME requests (RFC 8555
// §6.2): asymmetric only; never "none" or a MAC.
var algorithms = []jose.SignatureAlgorithm{jose.ES256, jose.ES384, jose.ES512, jose.RS256, jose.PS256, jose.EdDSA}

func algAllowed(alg string) bool {
	for _, a := range algorithms {
		if string(a) == alg {
			return true
		}
	}
	return false
}

// keyMode says which key reference a request must carry.
type keyMode int

const (
	byKID    keyMode = iota // signed by an existing account (§6.2)
	byJWK                   // newAccount: the key itself
	byEither                // revokeCert: an account, or the certificate's key
)

// flattened is the RFC 7515 §7.2.2 flattened JSON serialization.
type flattened struct {
	// raw is the body as received, handed to go-jose as is.
	raw        []byte
	Protected  string          `json:"protected"`
	Payload    *string         `json:"payload"`
	Signature  string          `json:"signature"`
	Header     json.RawMessage `json:"header"`
	Signatures json.RawMessage `json:"signatures"`
}

type protectedHeader struct {
	Alg   string          `json:"alg"`
	KID   string          `json:"kid"`
	JWK   json.RawMessage `json:"jwk"`
	Nonce string          `json:"nonce"`
	URL   string          `json:"url"`
}

// signed is a verified ACME request.
type signed struct {
	payload []byte
	// account is set when the request was signed by an account (kid).
	account *core.Account
	// jwk is set when the request was signed by an embedded key.
	jwk *jose.JSONWebKey
}

// readJWS reads and checks a POST body's framing: media type, size, and the
// flattened serialization with exactly one signature and no unprotected
// header (RFC 8555 §6.2).
func (w *WFE) readJWS(r *http.Request) (*flattened, *protectedHeader, error) {
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/jose+json") {
		return nil, nil, problem.Malformedf("Content-Type must be application/jose+json").WithStatus(http.StatusUnsupportedMediaType)
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, w.maxBody+1))
	if err != nil {
		return nil, nil, problem.Malformedf("the request body could not be read")
	}
	if int64(len(body)) > w.maxBody {
		return nil, nil, problem.Malformedf("the request body is larger than %d bytes", w.maxBody).WithStatus(http.StatusRequestEntityTooLarge)
	}
	return parseFlattened(body)
}

func parseFlattened(body []byte) (*flattened, *protectedHeader, error) {
	f := flattened{raw: body}
	if err := json.Unmarshal(body, &f); err != nil {
		return nil, nil, problem.Malformedf("the body is not a JWS in flattened JSON serialization")
	}
	if len(f.Signatures) > 0 || len(f.Header) > 0 {
		return nil, nil, problem.Malformedf("the JWS must have exactly one signature and no unprotected header")
	}
	if f.Protected == "" || f.Payload == nil {
		return nil, nil, problem.Malformedf("the JWS must have protected, payload and signature members")
	}
	raw, err := base64.RawURLEncoding.DecodeString(f.Protected)
	if err != nil {
		return nil, nil, problem.Malformedf("the JWS protected header is not base64url")
	}
	var h protectedHeader
	if err := json.Unmarshal(raw, &h); err != nil {
		return nil, nil, problem.Malformedf("the JWS protected header is not a JSON object")
	}
	if !algAllowed(h.Alg) {
		p := problem.New(problem.BadSignatureAlgorithm, "JWS algorithm %q is not accepted; use one of ES256, ES384, ES512, RS256, PS256, EdDSA", truncate(h.Alg, 16))
		return nil, nil, p
	}
	// Checked after the algorithm, so that an unsecured JWS (alg "none",
	// empty signature, RFC 7518 §3.6) is named as such.
	if f.Signature == "" {
		return nil, nil, problem.Malformedf("the JWS must have protected, payload and signature members")
	}
	return &f, &h, nil
}

// verify authenticates a POST request (RFC 8555 §6.2-6.5): the url header
// must be this request's URL, the key reference must fit the resource, the
// signature must verify, and the nonce must be fresh. The nonce is redeemed
// last so that a request that fails earlier does not burn it.
func (w *WFE) verify(ctx context.Context, r *http.Request, mode keyMode) (*signed, error) {
	f, h, err := w.readJWS(r)
	if err != nil {
		return nil, err
	}
	if h.URL == "" {
		return nil, problem.Malformedf("the JWS protected header has no url")
	}
	if want := w.requestURL(r); h.URL != want {
		return nil, problem.Unauthorizedf("the JWS url %q does not match the request URL %q", truncate(h.URL, 200), want)
	}
	if h.Nonce == "" {
		return nil, problem.New(problem.BadNonce, "the JWS protected header has no nonce")
	}
	hasJWK, hasKID := len(h.JWK) > 0, h.KID != ""
	if hasJWK == hasKID {
		return nil, problem.Malformedf("the JWS must carry exactly one of jwk and kid")
	}
	if mode == byKID && hasJWK {
		return nil, problem.Malformedf("this resource requires a JWS signed by an account (kid), not an embedded jwk")
	}
	if mode == byJWK && hasKID {
		return nil, problem.Malformedf("newAccount requires a JWS with an embedded jwk, not a kid")
	}
	jws, err := jose.ParseSignedJSON(string(f.raw), algorithms)
	if err != nil {
		return nil, problem.Malformedf("the JWS could not be parsed")
	}
	out := &signed{}
	var key any
	if hasKID {
		if out.account, err = w.accountFromKID(ctx, r, h.KID); err != nil {
			return nil, err
		}
		if key, err = w.keys.get(out.account); err != nil {
			return nil, err
		}
	} else {
		jwk := jws.Signatures[0].Protected.JSONWebKey
		if jwk == nil || !jwk.Valid() || !jwk.IsPublic() {
			return nil, problem.Malformedf("the embedded jwk is not a valid public key")
		}
		if err := goodkey.Check(jwk.Key); err != nil {
			return nil, err
		}
		out.jwk, key = jwk, jwk
	}
	if err := checkKeyAlg(key, h.Alg); err != nil {
		return nil, err
	}
	if out.payload, err = jws.Verify(key); err != nil {
		return nil, problem.Malformedf("the JWS signature does not verify")
	}
	if err := w.nonces.Redeem(ctx, h.Nonce); err != nil {
		if errors.Is(err, nonce.ErrInvalid) {
			return nil, problem.New(problem.BadNonce, "the nonce is invalid, expired or already used; retry with a fresh one")
		}
		return nil, fmt.Errorf("nonce.Redeem: %w", err)
	}
	return out, nil
}

// checkKeyAlg refuses an algorithm that does not fit the key (for example
// RS256 with an EC key), as badSignatureAlgorithm.
func checkKeyAlg(key any, alg string) error {
	k, _ := key.(*jose.JSONWebKey)
	if k == nil {
		return nil
	}
	ok := false
	switch k.Key.(type) {
	case *ecdsa.PublicKey:
		ok = alg == "ES256" || alg == "ES384" || alg == "ES512"
	case *rsa.PublicKey:
		ok = alg == "RS256" || alg == "PS256"
	case ed25519.PublicKey:
		ok = alg == "EdDSA"
	}
	if !ok {
		return problem.New(problem.BadSignatureAlgorithm, "JWS algorithm %q does not fit the key type", alg)
	}
	return nil
}

// accountFromKID resolves a kid (an account URL of this server) to a valid
// account.
func (w *WFE) accountFromKID(ctx context.Context, r *http.Request, kid string) (*core.Account, error) {
	prefix := w.baseURL(r) + "/acme/"
	rest, ok := strings.CutPrefix(kid, prefix)
	parts := strings.Split(rest, "/")
	if !ok || len(parts) != 3 || parts[1] != "account" || parts[2] == "" {
		return nil, problem.Malformedf("kid %q is not an account URL of this server", truncate(kid, 200))
	}
	return w.ra.Account(ctx, parts[2])
}

// thumbprint returns the RFC 7638 SHA-256 thumbprint of a JWK, base64url.
func thumbprint(k *jose.JSONWebKey) (string, error) {
	t, err := k.Thumbprint(crypto.SHA256)
	if err != nil {
		return "", fmt.Errorf("jose.JSONWebKey.Thumbprint: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(t), nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
