package wfe_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/go-jose/go-jose/v4"
)

// signRaw signs protected || '.' || payload (both already base64url) with
// key for alg and returns the signature bytes (RFC 7518 §3).
func signRaw(t *testing.T, key crypto.Signer, alg, protected, payload string) []byte {
	t.Helper()
	input := []byte(protected + "." + payload)
	h := sha256.Sum256(input)
	switch k := key.(type) {
	case *ecdsa.PrivateKey:
		d := h[:]
		if alg == "ES384" {
			h384 := sha512.Sum384(input)
			d = h384[:]
		}
		r, s, err := ecdsa.Sign(rand.Reader, k, d)
		if err != nil {
			t.Fatal(err)
		}
		size := (k.Curve.Params().BitSize + 7) / 8
		sig := make([]byte, 2*size)
		r.FillBytes(sig[:size])
		s.FillBytes(sig[size:])
		return sig
	case *rsa.PrivateKey:
		if alg == "PS256" {
			sig, _ := rsa.SignPSS(rand.Reader, k, crypto.SHA256, h[:], nil)
			return sig
		}
		sig, _ := rsa.SignPKCS1v15(rand.Reader, k, crypto.SHA256, h[:])
		return sig
	case ed25519.PrivateKey:
		return ed25519.Sign(k, input)
	}
	t.Fatalf("unsupported key %T", key)
	return nil
}

// rawBody builds a flattened JWS body by hand: protected header members
// and outer members are given as raw JSON text, so tests can repeat or
// mistype them.
func rawBody(t *testing.T, key crypto.Signer, alg, hdrJSON, payload string, extra string) []byte {
	prot := b64([]byte(hdrJSON))
	sig := b64(signRaw(t, key, alg, prot, payload))
	return []byte(`{"protected":"` + prot + `","payload":"` + payload + `","signature":"` + sig + `"` + extra + `}`)
}

func jwkJSON(pub crypto.PublicKey) string {
	b, _ := (&jose.JSONWebKey{Key: pub}).MarshalJSON()
	return string(b)
}

// The JWS reader keeps go-jose's strictness (exact member names, no
// repeated members) and RFC 7515's (unknown critical extensions refused,
// canonical base64url), and checks each algorithm against its key.
func TestJWSStrictness(t *testing.T) {
	e := newEnv(t)
	c := newRawClient(t, e)
	c.register()
	url := c.base + "/new-order"
	order := b64([]byte(`{"identifiers":[{"type":"dns","value":"a.example"}]}`))
	hdr := func(extra string) string {
		h, _ := json.Marshal(map[string]string{"alg": "ES256", "kid": c.kid, "nonce": c.nonce(), "url": url})
		return string(h[:len(h)-1]) + extra + "}"
	}
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	cases := []struct {
		name     string
		body     func() []byte
		status   int
		typ, has string
	}{
		{"control: a correct JWS", func() []byte { return rawBody(t, c.key, "ES256", hdr(""), order, "") }, 201, "", ""},
		{"repeated outer member", func() []byte {
			return rawBody(t, c.key, "ES256", hdr(""), order, `,"payload":"`+order+`"`)
		}, 400, "malformed", "repeats a member name"},
		{"member name in another case", func() []byte {
			b := rawBody(t, c.key, "ES256", hdr(""), order, "")
			return append([]byte(`{"Protected":"x",`), b[1:]...)
		}, 201, "", ""},
		{"repeated header parameter", func() []byte {
			return rawBody(t, c.key, "ES256", hdr(`,"url":"`+url+`"`), order, "")
		}, 400, "malformed", "repeats a member name"},
		{"critical extension", func() []byte {
			return rawBody(t, c.key, "ES256", hdr(`,"crit":["b64"],"b64":false`), order, "")
		}, 400, "malformed", "not supported"},
		{"header parameter of the wrong type", func() []byte {
			return rawBody(t, c.key, "ES256", `{"alg":"ES256","kid":"`+c.kid+`","nonce":"`+c.nonce()+`","url":5}`, order, "")
		}, 400, "malformed", "wrong type"},
		{"payload not a string", func() []byte {
			return []byte(`{"protected":"` + b64([]byte(hdr(""))) + `","payload":5,"signature":"AAAA"}`)
		}, 400, "malformed", "flattened"},
		{"non-canonical base64url payload", func() []byte { return rawBody(t, c.key, "ES256", hdr(""), "e31", "") }, 400, "malformed", "base64url"},
		{"padded payload", func() []byte { return rawBody(t, c.key, "ES256", hdr(""), order+"==", "") }, 400, "malformed", "base64url"},
		{"short ES256 signature", func() []byte {
			b := rawBody(t, c.key, "ES256", hdr(""), order, "")
			var m map[string]string
			json.Unmarshal(b, &m)
			m["signature"] = m["signature"][:84]
			b, _ = json.Marshal(m)
			return b
		}, 400, "malformed", "signature"},
		{"ES384 with a P-256 key", func() []byte {
			h := `{"alg":"ES384","kid":"` + c.kid + `","nonce":"` + c.nonce() + `","url":"` + url + `"}`
			return rawBody(t, p384, "ES384", h, order, "")
		}, 400, "badSignatureAlgorithm", "signs with ES256"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := c.postRaw(url, "application/jose+json", tc.body())
			if tc.status == 201 {
				if r.status != 201 {
					t.Fatalf("got %d %s, want 201", r.status, r.body)
				}
				return
			}
			expect(t, r, tc.status, tc.typ, tc.has)
		})
	}
}

// newAccount accepts each algorithm with a fitting embedded key, and
// refuses a private key in the jwk.
func TestJWSAlgorithms(t *testing.T) {
	e := newEnv(t)
	c := newRawClient(t, e)
	url := c.base + "/new-account"
	payload := b64([]byte(`{"termsOfServiceAgreed":true}`))
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	_, edKey, _ := ed25519.GenerateKey(rand.Reader)
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	privJWK, _ := (&jose.JSONWebKey{Key: ecKey}).MarshalJSON()
	cases := []struct {
		name   string
		key    crypto.Signer
		alg    string
		jwk    string
		status int
	}{
		{"RS256", rsaKey, "RS256", jwkJSON(rsaKey.Public()), http.StatusCreated},
		{"PS256 with the same key finds its account", rsaKey, "PS256", jwkJSON(rsaKey.Public()), http.StatusOK},
		{"EdDSA", edKey, "EdDSA", jwkJSON(edKey.Public()), http.StatusCreated},
		{"ES256", ecKey, "ES256", jwkJSON(ecKey.Public()), http.StatusCreated},
		{"private key in the jwk", ecKey, "ES256", string(privJWK), http.StatusBadRequest},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := `{"alg":"` + tc.alg + `","jwk":` + tc.jwk + `,"nonce":"` + c.nonce() + `","url":"` + url + `"}`
			r := c.postRaw(url, "application/jose+json", rawBody(t, tc.key, tc.alg, h, payload, ""))
			if r.status != tc.status {
				t.Fatalf("got %d %s, want %d", r.status, r.body, tc.status)
			}
			if tc.status == http.StatusBadRequest {
				expect(t, r, 400, "malformed", "public key")
			}
		})
	}
}
