package wfe_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"golang.org/x/crypto/acme"
)

// An ES512 account on P-521 works end to end: newAccount, kid-signed
// requests and a rollover to and from P-521 (RFC 7518 §3.4); an algorithm
// of another curve than the key's is badSignatureAlgorithm.
func TestES512Accounts(t *testing.T) {
	e := newEnv(t)
	c := newRawClientOn(t, e, elliptic.P521())
	na, no := c.base+"/new-account", c.base+"/new-order"
	order := map[string]any{"identifiers": []map[string]string{{"type": "dns", "value": "p521.example"}}}

	h := c.header(na)
	h["alg"] = "ES256"
	expect(t, c.post(na, h, []byte(`{}`)), 400, "badSignatureAlgorithm", "signs with ES512")
	c.register()
	if r := c.do(no, order); r.status != http.StatusCreated {
		t.Fatalf("new-order signed ES512: %d %s", r.status, r.body)
	}
	h = c.header(no)
	h["alg"] = "ES384"
	expect(t, c.post(no, h, []byte(`{}`)), 400, "badSignatureAlgorithm", "signs with ES512")

	p256 := newRawClient(t, e)
	h = p256.header(na)
	h["alg"] = "ES512"
	expect(t, p256.post(na, h, []byte(`{}`)), 400, "badSignatureAlgorithm", "signs with ES256")

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl := e.client(t)
	if _, err := cl.Register(ctx, &acme.Account{}, acme.AcceptTOS); err != nil {
		t.Fatalf("Register: %v", err)
	}
	for _, curve := range []elliptic.Curve{elliptic.P521(), elliptic.P384()} {
		k, _ := ecdsa.GenerateKey(curve, rand.Reader)
		if err := cl.AccountKeyRollover(ctx, k); err != nil {
			t.Fatalf("AccountKeyRollover to %s: %v", curve.Params().Name, err)
		}
		if _, err := cl.AuthorizeOrder(ctx, acme.DomainIDs("rolled.example")); err != nil {
			t.Fatalf("AuthorizeOrder with the %s key: %v", curve.Params().Name, err)
		}
	}
}

// An account key of a curve or size this server refuses is badPublicKey
// naming the key, whether go-jose parses it (RSA 1024) or not (P-224).
func TestWeakAccountKeys(t *testing.T) {
	e := newEnv(t)
	c := newRawClient(t, e)
	na := c.base + "/new-account"
	p224, _ := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	rsa1024, _ := rsa.GenerateKey(rand.Reader, 1024)
	rsaJWK, _ := (&jose.JSONWebKey{Key: rsa1024.Public()}).MarshalJSON()
	for _, tc := range []struct {
		name string
		jwk  any
		has  string
	}{
		{"P-224", map[string]string{"kty": "EC", "crv": "P-224",
			"x": b64(p224.X.FillBytes(make([]byte, 28))), "y": b64(p224.Y.FillBytes(make([]byte, 28)))},
			`embedded jwk is refused: ECDSA curve "P-224" is not allowed`},
		{"RSA 1024", json.RawMessage(rsaJWK), "embedded jwk is refused: RSA key of 1024 bits is too small"},
		{"Ed448", map[string]string{"kty": "OKP", "crv": "Ed448", "x": b64(make([]byte, 57))}, `OKP curve "Ed448"`},
		{"symmetric", map[string]string{"kty": "oct", "k": b64([]byte("secret"))}, "symmetric key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := c.header(na)
			h["jwk"] = tc.jwk
			expect(t, c.post(na, h, []byte(`{}`)), 400, "badPublicKey", tc.has)
		})
	}
	t.Run("keyChange to RSA 1024", func(t *testing.T) {
		c.register()
		kc := c.base + "/key-change"
		inner := c.sign(map[string]any{"alg": "RS256", "jwk": json.RawMessage(rsaJWK), "url": kc},
			[]byte(`{"account":"`+c.kid+`","oldKey":{}}`))
		expect(t, c.do(kc, inner), 400, "badPublicKey", "inner jwk is refused: RSA key of 1024 bits")
	})
}
