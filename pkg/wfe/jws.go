package wfe

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/go-jose/go-jose/v4"

	"github.com/acmera/acmera/pkg/core"
	"github.com/acmera/acmera/pkg/metrics"
	"github.com/acmera/acmera/pkg/nonce"
	"github.com/acmera/acmera/pkg/problem"
)

// algorithms are the JWS algorithms accepted on ACME requests (RFC 8555
// §6.2): asymmetric only; never "none" or a MAC.
var algorithms = []jose.SignatureAlgorithm{jose.ES256, jose.ES384, jose.ES512, jose.RS256, jose.PS256, jose.EdDSA}

// badAlgorithm is a badSignatureAlgorithm problem listing the accepted
// algorithms, as RFC 8555 §6.2 requires.
func badAlgorithm(format string, args ...any) *problem.Problem {
	p := problem.New(problem.BadSignatureAlgorithm, format, args...)
	for _, a := range algorithms {
		p.Algorithms = append(p.Algorithms, string(a))
	}
	return p
}

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

// flattened is a JWS in the RFC 7515 §7.2.2 flattened JSON serialization,
// as RFC 8555 §6.2 requires: one signature, no unprotected header.
type flattened struct {
	// protected and payload are the base64url members as received: the
	// signing input is protected || '.' || payload (RFC 7515 §5.2).
	protected, payload []byte
	// body and signature are the decoded payload and signature.
	body, signature []byte
}

type protectedHeader struct {
	Alg   string
	KID   string
	JWK   []byte // the raw JSON object, or nil
	Nonce string
	URL   string
}

// b64 is base64url without padding, refusing non-canonical trailing bits
// so that the received text is the only encoding of what it decodes to.
var b64 = base64.RawURLEncoding.Strict()

// signed is a verified ACME request.
type signed struct {
	payload []byte
	// account is set when the request was signed by an account (kid).
	account *core.Account
	// kid is the account URL the request was signed with, as the client
	// sent it (a URL of this server naming account).
	kid string
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
	body, err := readBody(r, w.maxBody)
	if err != nil {
		return nil, nil, problem.Malformedf("the request body could not be read")
	}
	if int64(len(body)) > w.maxBody {
		return nil, nil, problem.Malformedf("the request body is larger than %d bytes", w.maxBody).WithStatus(http.StatusRequestEntityTooLarge)
	}
	return parseFlattened(body)
}

// readBody reads at most limit+1 bytes of the body, in one allocation
// when the request states its length.
func readBody(r *http.Request, limit int64) ([]byte, error) {
	if n := r.ContentLength; n > 0 && n <= limit {
		body := make([]byte, n)
		if _, err := io.ReadFull(r.Body, body); err != nil {
			return nil, fmt.Errorf("io.ReadFull: %w", err)
		}
		return body, nil
	}
	return io.ReadAll(io.LimitReader(r.Body, limit+1))
}

func errNotFlattened() error {
	return problem.Malformedf("the body is not a JWS in flattened JSON serialization")
}

func errMembersMissing() error {
	return problem.Malformedf("the JWS must have protected, payload and signature members")
}

// parseFlattened parses a flattened JWS and its protected header (RFC 7515
// §5.2 steps 1-5); the signature is checked later, by verifySignature.
func parseFlattened(body []byte) (*flattened, *protectedHeader, error) {
	return parseFlattenedAlg(body, func(alg string) error {
		if algAllowed(alg) {
			return nil
		}
		return badAlgorithm("JWS algorithm %q is not accepted; use one of ES256, ES384, ES512, RS256, PS256, EdDSA", problem.Truncate(alg, 16))
	})
}

// parseFlattenedAlg is parseFlattened with checkAlg deciding which "alg"
// values are accepted (the EAB binding's JWS takes MACs only).
func parseFlattenedAlg(body []byte, checkAlg func(alg string) error) (*flattened, *protectedHeader, error) {
	var f flattened
	var hasProtected, hasPayload, multi bool
	var sig []byte
	err := members(body, func(name string, val []byte) error {
		var ok bool
		switch name {
		case "protected":
			f.protected, ok = jsonBytes(val)
			hasProtected = ok
		case "payload":
			f.payload, ok = jsonBytes(val)
			hasPayload = ok
		case "signature":
			sig, ok = jsonBytes(val)
		case "header", "signatures":
			multi, ok = true, true
		default:
			ok = true
		}
		if !ok {
			return errWrongType
		}
		return nil
	})
	switch {
	case errors.Is(err, errDuplicate):
		return nil, nil, problem.Malformedf("the JWS repeats a member name (RFC 7515 §7.2.1)")
	case err != nil:
		return nil, nil, errNotFlattened()
	case multi:
		return nil, nil, problem.Malformedf("the JWS must have exactly one signature and no unprotected header")
	case !hasProtected || len(f.protected) == 0 || !hasPayload:
		return nil, nil, errMembersMissing()
	}
	h, err := parseProtected(f.protected)
	if err != nil {
		return nil, nil, err
	}
	if err := checkAlg(h.Alg); err != nil {
		return nil, nil, err
	}
	// Checked after the algorithm, so that an unsecured JWS (alg "none",
	// empty signature, RFC 7518 §3.6) is named as such.
	if len(sig) == 0 {
		return nil, nil, errMembersMissing()
	}
	if f.signature, err = b64.AppendDecode(nil, sig); err != nil {
		return nil, nil, problem.Malformedf("the JWS signature is not base64url")
	}
	if f.body, err = b64.AppendDecode(nil, f.payload); err != nil {
		return nil, nil, problem.Malformedf("the JWS payload is not base64url")
	}
	return &f, h, nil
}

// parseProtected decodes the protected header. "crit" (RFC 7515 §4.1.11)
// is refused: this server understands no extension, and RFC 7797's "b64"
// is refused with it, so the payload is always base64url-encoded.
func parseProtected(enc []byte) (*protectedHeader, error) {
	raw, err := b64.AppendDecode(nil, enc)
	if err != nil {
		return nil, problem.Malformedf("the JWS protected header is not base64url")
	}
	var h protectedHeader
	err = members(raw, func(name string, val []byte) error {
		ok := true
		switch name {
		case "alg":
			h.Alg, ok = jsonString(val)
		case "kid":
			h.KID, ok = jsonString(val)
		case "nonce":
			h.Nonce, ok = jsonString(val)
		case "url":
			h.URL, ok = jsonString(val)
		case "jwk":
			h.JWK, ok = val, val[0] == '{'
		case "crit", "b64":
			return problem.Malformedf("the JWS protected header parameter %q is not supported", name)
		}
		if !ok {
			return problem.Malformedf("the JWS protected header member %q has the wrong type", name)
		}
		return nil
	})
	if p, ok := problem.Of(err); ok {
		return nil, p
	}
	if errors.Is(err, errDuplicate) {
		return nil, problem.Malformedf("the JWS protected header repeats a member name (RFC 7515 §4)")
	}
	if err != nil {
		return nil, problem.Malformedf("the JWS protected header is not a JSON object")
	}
	return &h, nil
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
		return nil, problem.Unauthorizedf("the JWS url %q does not match the request URL %q", problem.Truncate(h.URL, 200), want)
	}
	if h.Nonce == "" {
		w.metrics.NonceRejected(ctx, metrics.NonceMissing)
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
	out := &signed{}
	var key *jose.JSONWebKey
	if hasKID {
		if out.account, err = w.accountFromKID(ctx, r, h.KID); err != nil {
			return nil, err
		}
		out.kid = h.KID
		if key, err = w.keys.get(out.account); err != nil {
			return nil, err
		}
	} else {
		if key, err = embeddedKey(h.JWK, "embedded jwk"); err != nil {
			return nil, err
		}
		out.jwk = key
	}
	if err := checkKeyAlg(key, h.Alg); err != nil {
		return nil, err
	}
	if !verifySignature(key.Key, h.Alg, f) {
		if out.account != nil {
			// Also what a key replaced by keyChange gets (RFC 8555 §7.3.5),
			// on every instance: the account, read for this request, names
			// its current key only.
			return nil, problem.Malformedf("the JWS signature does not verify with the current key of account %s", out.account.ID)
		}
		return nil, problem.Malformedf("the JWS signature does not verify")
	}
	out.payload = f.body
	if err := w.nonces.Redeem(ctx, h.Nonce); err != nil {
		if errors.Is(err, nonce.ErrInvalid) {
			return nil, problem.New(problem.BadNonce, "the nonce is invalid, expired or already used; retry with a fresh one")
		}
		return nil, fmt.Errorf("nonce.Redeem: %w", err)
	}
	return out, nil
}

// checkKeyAlg refuses an algorithm that does not fit the key, as
// badSignatureAlgorithm: RS256 with an EC key, or an ECDSA algorithm of
// another curve than the key's (RFC 7518 §3.4 ties ES256 to P-256, ES384
// to P-384 and ES512 to P-521).
func checkKeyAlg(k *jose.JSONWebKey, alg string) error {
	var want string
	switch key := k.Key.(type) {
	case *ecdsa.PublicKey:
		for _, a := range []string{"ES256", "ES384", "ES512"} {
			if curve, _, _ := ecParams(a); curve == key.Curve {
				want = a
			}
		}
	case *rsa.PublicKey:
		if alg == "PS256" {
			return nil
		}
		want = "RS256"
	case ed25519.PublicKey:
		want = "EdDSA"
	}
	if alg != want {
		return badAlgorithm("JWS algorithm %q does not fit the key type; this key signs with %s", alg, want)
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
		return nil, problem.Malformedf("kid %q is not an account URL of this server", problem.Truncate(kid, 200))
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
