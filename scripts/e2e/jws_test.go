package e2e

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

// Problem type URNs (RFC 8555 §6.7).
const (
	probNS                  = "urn:ietf:params:acme:error:"
	probMalformed           = probNS + "malformed"
	probUnauthorized        = probNS + "unauthorized"
	probBadNonce            = probNS + "badNonce"
	probAccountDoesNotExist = probNS + "accountDoesNotExist"
	probBadSigAlg           = probNS + "badSignatureAlgorithm"
	probBadCSR              = probNS + "badCSR"
	probOrderNotReady       = probNS + "orderNotReady"
	probUnsupportedCont     = probNS + "unsupportedContact"
	probBadRevocation       = probNS + "badRevocationReason"
	probAlreadyRevoked      = probNS + "alreadyRevoked"
	probIncorrectResponse   = probNS + "incorrectResponse"
)

type ecdsaKey = *ecdsa.PrivateKey

var b64 = base64.RawURLEncoding

// signer says how a hand-made JWS is signed (RFC 8555 §6.2): by key, with
// kid if set and an embedded jwk otherwise. alg overrides the algorithm
// ("HS256" signs with an HMAC key, "none" leaves the signature empty).
type signer struct {
	key ecdsaKey
	kid string
	alg string
}

// jwk is the RFC 7517 form of an EC P-256 public key.
func jwk(k *ecdsa.PublicKey) map[string]string {
	b, err := k.Bytes() // uncompressed point: 0x04 || X || Y
	if err != nil {
		panic(err) // a generated P-256 key always encodes
	}
	return map[string]string{"kty": "EC", "crv": "P-256", "x": b64.EncodeToString(b[1:33]), "y": b64.EncodeToString(b[33:])}
}

// sign builds a flattened JWS (RFC 7515 §7.2.2) over payload; nil payload
// makes a POST-as-GET (empty payload, RFC 8555 §6.3).
func (s signer) sign(t *testing.T, url, nonce string, payload []byte) []byte {
	t.Helper()
	alg := s.alg
	if alg == "" {
		alg = "ES256"
	}
	hdr := map[string]any{"alg": alg, "nonce": nonce, "url": url}
	if s.kid != "" {
		hdr["kid"] = s.kid
	} else {
		hdr["jwk"] = jwk(&s.key.PublicKey)
	}
	hb, err := json.Marshal(hdr)
	if err != nil {
		t.Fatalf("json.Marshal: %v", err)
	}
	protected, body := b64.EncodeToString(hb), b64.EncodeToString(payload)
	input := []byte(protected + "." + body)
	var sig []byte
	switch alg {
	case "ES256":
		sum := sha256.Sum256(input)
		r, sv, err := ecdsa.Sign(rand.Reader, s.key, sum[:])
		if err != nil {
			t.Fatalf("ecdsa.Sign: %v", err)
		}
		sig = make([]byte, 64)
		r.FillBytes(sig[:32])
		sv.FillBytes(sig[32:])
	case "HS256":
		m := hmac.New(sha256.New, []byte("not-a-real-mac-key-0123456789abcdef"))
		m.Write(input)
		sig = m.Sum(nil)
	case "none":
	default:
		t.Fatalf("signer: unknown alg %s", alg)
	}
	out, err := json.Marshal(map[string]string{"protected": protected, "payload": body, "signature": b64.EncodeToString(sig)})
	if err != nil {
		t.Fatalf("json.Marshal: %v", err)
	}
	return out
}

// rawClient sends hand-made JWS requests, to exercise what a well-behaved
// client library never sends.
type rawClient struct {
	hc  *http.Client
	dir map[string]any
}

func newRawClient(ctx context.Context, t *testing.T, s *server) *rawClient {
	t.Helper()
	c := &rawClient{hc: s.HTTPClient()}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.DirURL, nil)
	res, err := c.hc.Do(req)
	if err != nil {
		t.Fatalf("GET directory: %v", err)
	}
	defer res.Body.Close()
	if err := json.NewDecoder(res.Body).Decode(&c.dir); err != nil {
		t.Fatalf("decode directory: %v", err)
	}
	return c
}

// url returns a directory entry (newNonce, newAccount, newOrder, revokeCert, keyChange).
func (c *rawClient) url(t *testing.T, name string) string {
	t.Helper()
	u, _ := c.dir[name].(string)
	if u == "" {
		t.Fatalf("directory has no %s", name)
	}
	return u
}

// nonce fetches a fresh nonce (RFC 8555 §7.2).
func (c *rawClient) nonce(ctx context.Context, t *testing.T) string {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, http.MethodHead, c.url(t, "newNonce"), nil)
	res, err := c.hc.Do(req)
	if err != nil {
		t.Fatalf("HEAD newNonce: %v", err)
	}
	res.Body.Close()
	n := res.Header.Get("Replay-Nonce")
	if n == "" {
		t.Fatalf("HEAD newNonce: no Replay-Nonce")
	}
	return n
}

// reply is a server response to a raw request.
type reply struct {
	Status int
	Header http.Header
	Body   []byte
	Prob   problemDoc
}

// problemDoc is an RFC 7807 problem document.
type problemDoc struct {
	Type       string `json:"type"`
	Detail     string `json:"detail"`
	Status     int    `json:"status"`
	Identifier *struct {
		Type  string `json:"type"`
		Value string `json:"value"`
	} `json:"identifier"`
}

// post sends body (already a JWS) to url.
func (c *rawClient) post(ctx context.Context, t *testing.T, url string, body []byte) reply {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/jose+json")
	res, err := c.hc.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if err != nil {
		t.Fatalf("POST %s: read body: %v", url, err)
	}
	r := reply{Status: res.StatusCode, Header: res.Header, Body: b}
	if strings.HasPrefix(res.Header.Get("Content-Type"), "application/problem+json") {
		if err := json.Unmarshal(b, &r.Prob); err != nil {
			t.Fatalf("POST %s: problem document: %v (%s)", url, err, b)
		}
	}
	return r
}

// signed signs payload for url with a fresh nonce and posts it.
func (c *rawClient) signed(ctx context.Context, t *testing.T, url string, s signer, payload []byte) reply {
	t.Helper()
	return c.post(ctx, t, url, s.sign(t, url, c.nonce(ctx, t), payload))
}

// revoke asks to revoke a certificate (RFC 8555 §7.6) with reason.
func (c *rawClient) revoke(ctx context.Context, t *testing.T, der []byte, reason int, s signer) reply {
	t.Helper()
	payload, _ := json.Marshal(map[string]any{"certificate": b64.EncodeToString(der), "reason": reason})
	return c.signed(ctx, t, c.url(t, "revokeCert"), s, payload)
}

// want checks the HTTP status, the problem type and that the detail names
// what was wrong (contains each of mention, case-insensitively).
func (r reply) want(t *testing.T, status int, typ string, mention ...string) {
	t.Helper()
	if r.Status != status || r.Prob.Type != typ {
		t.Errorf("got %d %s (%s), want %d %s", r.Status, r.Prob.Type, r.Body, status, typ)
		return
	}
	if r.Prob.Status != 0 && r.Prob.Status != status {
		t.Errorf("problem status %d differs from HTTP status %d", r.Prob.Status, status)
	}
	for _, m := range mention {
		if !strings.Contains(strings.ToLower(r.Prob.Detail), strings.ToLower(m)) {
			t.Errorf("detail %q does not mention %q", r.Prob.Detail, m)
		}
	}
	if r.Header.Get("Replay-Nonce") == "" {
		t.Errorf("error response carries no Replay-Nonce")
	}
}

// keyOf returns the ECDSA key behind a crypto.Signer.
func keyOf(t *testing.T, k crypto.Signer) ecdsaKey {
	t.Helper()
	ek, ok := k.(ecdsaKey)
	if !ok {
		t.Fatalf("key is %T, want *ecdsa.PrivateKey", k)
	}
	return ek
}
