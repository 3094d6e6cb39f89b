package wfe_test

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	_ "crypto/sha256" // the hashes of ES256, ES384 and ES512
	_ "crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"testing"

	"github.com/go-jose/go-jose/v4"
)

// rawClient builds JWS requests by hand, so tests can break any part of them.
type rawClient struct {
	t    *testing.T
	base string // https://host/acme/acme
	key  *ecdsa.PrivateKey
	kid  string
	// extra headers sent with every POST
	extra http.Header
}

func newRawClient(t *testing.T, e *env) *rawClient {
	return newRawClientOn(t, e, elliptic.P256())
}

// newRawClientOn returns a client whose key is on curve; it signs with
// the curve's algorithm (RFC 7518 §3.4).
func newRawClientOn(t *testing.T, e *env, curve elliptic.Curve) *rawClient {
	key, _ := ecdsa.GenerateKey(curve, rand.Reader)
	return &rawClient{t: t, base: e.srv.URL + "/acme/acme", key: key}
}

// alg returns the JWS algorithm of the client's key, with its hash and
// scalar size.
func (c *rawClient) alg() (string, crypto.Hash, int) {
	switch c.key.Curve {
	case elliptic.P384():
		return "ES384", crypto.SHA384, 48
	case elliptic.P521():
		return "ES512", crypto.SHA512, 66
	}
	return "ES256", crypto.SHA256, 32
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func (c *rawClient) jwk() map[string]any {
	var k jose.JSONWebKey
	k.Key = c.key.Public()
	b, _ := k.MarshalJSON()
	var m map[string]any
	json.Unmarshal(b, &m)
	return m
}

func (c *rawClient) thumbprint() string {
	k := jose.JSONWebKey{Key: c.key.Public()}
	tp, _ := k.Thumbprint(crypto.SHA256)
	return b64(tp)
}

func (c *rawClient) nonce() string {
	res, err := http.Head(c.base + "/new-nonce")
	if err != nil {
		c.t.Fatal(err)
	}
	res.Body.Close()
	return res.Header.Get("Replay-Nonce")
}

// sign returns a flattened JWS over payload with the given protected header.
func (c *rawClient) sign(hdr map[string]any, payload []byte) []byte {
	ph, _ := json.Marshal(hdr)
	input := b64(ph) + "." + b64(payload)
	_, hash, size := c.alg()
	m := hash.New()
	m.Write([]byte(input))
	r, s, err := ecdsa.Sign(rand.Reader, c.key, m.Sum(nil))
	if err != nil {
		c.t.Fatal(err)
	}
	sig := make([]byte, 2*size)
	r.FillBytes(sig[:size])
	s.FillBytes(sig[size:])
	body, _ := json.Marshal(map[string]string{"protected": b64(ph), "payload": b64(payload), "signature": b64(sig)})
	return body
}

// header returns the normal protected header for url: kid when the client
// has an account, jwk otherwise.
func (c *rawClient) header(url string) map[string]any {
	alg, _, _ := c.alg()
	h := map[string]any{"alg": alg, "nonce": c.nonce(), "url": url}
	if c.kid != "" {
		h["kid"] = c.kid
	} else {
		h["jwk"] = c.jwk()
	}
	return h
}

type response struct {
	status  int
	header  http.Header
	body    []byte
	problem struct {
		Type        string `json:"type"`
		Detail      string `json:"detail"`
		Status      int    `json:"status"`
		Subproblems []struct {
			Type       string            `json:"type"`
			Detail     string            `json:"detail"`
			Identifier map[string]string `json:"identifier"`
		} `json:"subproblems"`
	}
}

func (c *rawClient) postRaw(url, contentType string, body []byte) *response {
	c.t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header = c.extra.Clone()
	if req.Header == nil {
		req.Header = http.Header{}
	}
	req.Header.Set("Content-Type", contentType)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer res.Body.Close()
	out := &response{status: res.StatusCode, header: res.Header}
	out.body, _ = io.ReadAll(res.Body)
	if res.Header.Get("Content-Type") == "application/problem+json" {
		if err := json.Unmarshal(out.body, &out.problem); err != nil {
			c.t.Fatalf("problem body %q: %v", out.body, err)
		}
	}
	return out
}

func (c *rawClient) post(url string, hdr map[string]any, payload []byte) *response {
	c.t.Helper()
	return c.postRaw(url, "application/jose+json", c.sign(hdr, payload))
}

// do posts payload to url with a correct header.
func (c *rawClient) do(url string, payload any) *response {
	c.t.Helper()
	var p []byte
	switch v := payload.(type) {
	case nil:
	case []byte:
		p = v
	default:
		p, _ = json.Marshal(v)
	}
	return c.post(url, c.header(url), p)
}

// register creates the client's account.
func (c *rawClient) register() {
	c.t.Helper()
	r := c.do(c.base+"/new-account", map[string]any{"termsOfServiceAgreed": true})
	if r.status != http.StatusCreated {
		c.t.Fatalf("new-account: %d %s", r.status, r.body)
	}
	c.kid = r.header.Get("Location")
}
