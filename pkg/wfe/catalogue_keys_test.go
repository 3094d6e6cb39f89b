package wfe_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"math/big"
	"net/http"
	"slices"
	"strings"
	"sync"
)

var terms = map[string]any{"termsOfServiceAgreed": true}

// rsa2048 is one 2048-bit key shared by the cases that only need its shape.
var rsa2048 = sync.OnceValue(func() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
})

func rsaKey(f *fixture, bits int) *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		f.t.Fatalf("rsa.GenerateKey(%d): %v", bits, err)
	}
	return k
}

func ecKey(c elliptic.Curve) *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(c, rand.Reader)
	if err != nil {
		panic(err)
	}
	return k
}

// es512Advertised reports whether the server names ES512 among its
// algorithms, in the "algorithms" member of a badSignatureAlgorithm
// problem (RFC 8555 §6.2) or in its detail.
func (f *fixture) es512Advertised() bool {
	r := f.orderSignedAs("HS256")
	var p struct{ Algorithms []string }
	json.Unmarshal(r.body, &p)
	return slices.Contains(p.Algorithms, "ES512") || strings.Contains(r.problem.Detail, "ES512")
}

// weakRSA sends newAccount with an RSA JWK of modulus n and exponent e,
// signed by an unrelated key: the key must be refused before the
// signature is looked at.
func weakRSA(f *fixture, n *big.Int, e int) *response {
	return f.newAccountWith(rsa2048(), "RS256", rsaJWK(n, e), terms)
}

func accountKeyCases() []hostile {
	var es512 bool
	return []hostile{
		{name: "account key/RSA 1024", firestore: true, want: bad(400, "badPublicKey", "1024"),
			send: func(f *fixture) *response {
				k := rsaKey(f, 1024)
				return f.newAccountWith(k, "RS256", jwkOf(f.t, k.Public()), terms)
			}},
		{name: "account key/RSA 2047", want: bad(400, "badPublicKey", "2047"),
			send: func(f *fixture) *response {
				k := rsaKey(f, 2047)
				return f.newAccountWith(k, "RS256", jwkOf(f.t, k.Public()), terms)
			}},
		{name: "account key/P-224", firestore: true, want: bad(400, "badPublicKey", "P-224"),
			send: func(f *fixture) *response {
				k := ecKey(elliptic.P224())
				return f.newAccountWith(k, "ES256", ecJWK("P-224", &k.PublicKey), terms)
			}},
		// ES512 is either accepted with a P-521 key or not advertised.
		{name: "account key/P-521 with ES512",
			send: func(f *fixture) *response {
				es512 = f.es512Advertised()
				k := ecKey(elliptic.P521())
				return f.newAccountWith(k, "ES512", jwkOf(f.t, k.Public()), terms)
			},
			wantFn: func(f *fixture) want {
				if es512 {
					return want{status: http.StatusCreated}
				}
				return bad(400, "badSignatureAlgorithm", "ES512")
			}},
		{name: "account key/RSA exponent 3", want: bad(400, "badPublicKey", "exponent"),
			send: func(f *fixture) *response { return weakRSA(f, rsa2048().N, 3) }},
		{name: "account key/RSA 8200 bits", want: bad(400, "badPublicKey", "8200"),
			send: func(f *fixture) *response { return weakRSA(f, oddRandom(8200), 65537) }},
		{name: "account key/RSA even modulus", want: bad(400, "badPublicKey", "even"),
			send: func(f *fixture) *response {
				n := oddRandom(2048)
				return weakRSA(f, n.SetBit(n, 0, 0), 65537)
			}},
		{name: "account key/RSA modulus with a small factor", want: bad(400, "badPublicKey", "small prime"),
			send: func(f *fixture) *response {
				return weakRSA(f, new(big.Int).Mul(big.NewInt(3), oddRandom(2047)), 65537)
			}},
		{name: "account key/private key in jwk", want: bad(400, "malformed", "public key"),
			send: func(f *fixture) *response {
				k := ecKey(elliptic.P256())
				return f.newAccountWith(k, "ES256", jwkOf(f.t, k), terms)
			}},
		// RFC 8555 §6.2: a server that supports "alg" but "does not support
		// or chooses to reject the public key" answers badPublicKey.
		{name: "account key/symmetric jwk", want: bad(400, "badPublicKey", "oct"),
			send: func(f *fixture) *response {
				return f.newAccountWith(ecKey(elliptic.P256()), "ES256", map[string]any{"kty": "oct", "k": b64([]byte("secret"))}, terms)
			}},
		{name: "account key/EC point not on the curve", want: bad(400, "badPublicKey", "P-256"),
			send: func(f *fixture) *response {
				k := ecKey(elliptic.P256())
				jwk := ecJWK("P-256", &k.PublicKey)
				y := new(big.Int).Add(k.Y, big.NewInt(1))
				jwk["y"] = b64(y.FillBytes(make([]byte, 32)))
				return f.newAccountWith(k, "ES256", jwk, terms)
			}},
		{name: "account key/jwk of another key than the signer", want: bad(400, "malformed", "signature"),
			send: func(f *fixture) *response {
				return f.newAccountWith(ecKey(elliptic.P256()), "ES256", jwkOf(f.t, ecKey(elliptic.P256()).Public()), terms)
			}},
		{name: "account key/of a deactivated account", want: bad(401, "unauthorized", "deactivated"),
			send: func(f *fixture) *response {
				return f.newAccountWith(f.c.key, "ES256", f.c.jwk(), terms)
			}},
		{name: "account key/onlyReturnExisting unknown key", want: bad(400, "accountDoesNotExist", "key"),
			send: func(f *fixture) *response {
				return f.client().do(f.a.base+"/new-account", map[string]any{"onlyReturnExisting": true})
			}},
		{name: "account key/payload not an object", want: bad(400, "malformed", "newAccount"),
			send: func(f *fixture) *response { return f.client().do(f.a.base+"/new-account", []byte("[1,2]")) }},
	}
}

// register sends newAccount for a new key with contacts.
func (f *fixture) registerWith(contact ...any) *response {
	return f.client().do(f.a.base+"/new-account", map[string]any{"termsOfServiceAgreed": true, "contact": contact})
}

func contactCases() []hostile {
	long := "mailto:" + strings.Repeat("a", 250) + "@example.com"
	many := make([]any, 11)
	for i := range many {
		many[i] = "mailto:a" + string(rune('a'+i)) + "@example.com"
	}
	return []hostile{
		{name: "contact/tel: scheme", want: bad(400, "unsupportedContact", "tel:"),
			send: func(f *fixture) *response { return f.registerWith("tel:+15555550100") }},
		{name: "contact/https scheme", want: bad(400, "unsupportedContact", "https:"),
			send: func(f *fixture) *response { return f.registerWith("https://example.com/contact") }},
		{name: "contact/two addresses", want: bad(400, "invalidContact", "a@example.com"),
			send: func(f *fixture) *response { return f.registerWith("mailto:a@example.com,b@example.com") }},
		{name: "contact/header field", firestore: true, want: bad(400, "invalidContact", "header"),
			send: func(f *fixture) *response { return f.registerWith("mailto:a@example.com?bcc=evil@example.com") }},
		{name: "contact/CRLF header injection",
			want: want{status: 400, typ: "invalidContact", has: []string{"a@example.com"}, hasNot: []string{"\r", "\n"}},
			send: func(f *fixture) *response { return f.registerWith("mailto:a@example.com\r\nBcc: evil@example.com") }},
		{name: "contact/NUL", want: bad(400, "invalidContact", "example.com"),
			send: func(f *fixture) *response { return f.registerWith("mailto:a\x00b@example.com") }},
		{name: "contact/too long", want: bad(400, "invalidContact", "long"),
			send: func(f *fixture) *response { return f.registerWith(long) }},
		{name: "contact/empty address", want: bad(400, "invalidContact", "mailto:"),
			send: func(f *fixture) *response { return f.registerWith("mailto:") }},
		{name: "contact/no dot in the domain", want: bad(400, "invalidContact", "root@localhost"),
			send: func(f *fixture) *response { return f.registerWith("mailto:root@localhost") }},
		{name: "contact/display name", want: bad(400, "invalidContact", "Alice"),
			send: func(f *fixture) *response { return f.registerWith("mailto:Alice <a@example.com>") }},
		{name: "contact/more than ten", want: bad(400, "invalidContact", "10"),
			send: func(f *fixture) *response { return f.registerWith(many...) }},
		{name: "contact/not a string", want: bad(400, "malformed", "newAccount"),
			send: func(f *fixture) *response { return f.registerWith(42) }},
		// The spec: a space after the colon is normalised away, not refused.
		{name: "contact/space after mailto: is accepted", want: want{status: http.StatusCreated},
			send: func(f *fixture) *response { return f.registerWith("mailto: user@example.com") },
			check: func(f *fixture, r *response) {
				var a struct{ Contact []string }
				json.Unmarshal(r.body, &a)
				if !slices.Equal(a.Contact, []string{"mailto:user@example.com"}) {
					f.t.Errorf("contact %q, want it normalised to mailto:user@example.com", a.Contact)
				}
			}},
		{name: "contact/update with a header field", want: bad(400, "invalidContact", "header"),
			send: func(f *fixture) *response {
				return f.a.do(f.a.kid, map[string]any{"contact": []string{"mailto:x@example.com?subject=hi"}})
			}},
		{name: "account/update to status valid", want: bad(400, "malformed", "deactivated"),
			send: func(f *fixture) *response { return f.a.do(f.a.kid, map[string]any{"status": "valid"}) }},
	}
}

// keyChange is one key-change request by A: an inner JWS signed by
// signer for alg with header hdr over payload.
type keyChange struct {
	signer  crypto.Signer
	alg     string
	hdr     map[string]any
	payload map[string]any
}

// newKeyChange is A's correct rollover to a new P-256 key.
func (f *fixture) newKeyChange() *keyChange {
	k := ecKey(elliptic.P256())
	url := f.a.base + "/key-change"
	return &keyChange{signer: k, alg: "ES256",
		hdr:     map[string]any{"alg": "ES256", "jwk": jwkOf(f.t, k.Public()), "url": url},
		payload: map[string]any{"account": f.a.kid, "oldKey": f.a.jwk()}}
}

func (f *fixture) sendKeyChange(kc *keyChange, mod func(kc *keyChange)) *response {
	if mod != nil {
		mod(kc)
	}
	inner := signJWS(f.t, kc.signer, kc.alg, kc.hdr, mustJSON(kc.payload))
	url := f.a.base + "/key-change"
	return f.a.post(url, f.kidHeader(url), inner)
}

func (f *fixture) keyChangeWith(mod func(kc *keyChange)) *response {
	return f.sendKeyChange(f.newKeyChange(), mod)
}

func keyChangeCases() []hostile {
	return []hostile{
		{name: "key change/inner url of another resource", want: bad(403, "unauthorized", "url"),
			send: func(f *fixture) *response {
				return f.keyChangeWith(func(kc *keyChange) { kc.hdr["url"] = f.a.base + "/new-account" })
			}},
		{name: "key change/inner account is another", firestore: true, want: bad(403, "unauthorized", "account"),
			send: func(f *fixture) *response {
				return f.keyChangeWith(func(kc *keyChange) { kc.payload["account"] = f.b.kid })
			}},
		{name: "key change/oldKey is not the account key", want: bad(403, "unauthorized", "oldKey"),
			send: func(f *fixture) *response {
				return f.keyChangeWith(func(kc *keyChange) { kc.payload["oldKey"] = f.b.jwk() })
			}},
		{name: "key change/new key is the old key", want: bad(400, "malformed", "current key"),
			send: func(f *fixture) *response {
				return f.keyChangeWith(func(kc *keyChange) { kc.signer = f.a.key; kc.hdr["jwk"] = f.a.jwk() })
			}},
		{name: "key change/inner signed by another key", want: bad(400, "malformed", "signature"),
			send: func(f *fixture) *response {
				return f.keyChangeWith(func(kc *keyChange) { kc.signer = ecKey(elliptic.P256()) })
			}},
		{name: "key change/inner signed by the old key", want: bad(400, "malformed", "signature"),
			send: func(f *fixture) *response {
				return f.keyChangeWith(func(kc *keyChange) { kc.signer = f.a.key })
			}},
		{name: "key change/inner carries a nonce", want: bad(400, "malformed", "nonce"),
			send: func(f *fixture) *response {
				return f.keyChangeWith(func(kc *keyChange) { kc.hdr["nonce"] = f.a.nonce() })
			}},
		{name: "key change/inner kid instead of jwk", want: bad(400, "malformed", "jwk"),
			send: func(f *fixture) *response {
				return f.keyChangeWith(func(kc *keyChange) { delete(kc.hdr, "jwk"); kc.hdr["kid"] = f.a.kid })
			}},
		{name: "key change/inner is not a JWS", want: bad(400, "malformed", "JWS"),
			send: func(f *fixture) *response {
				url := f.a.base + "/key-change"
				return f.a.post(url, f.kidHeader(url), mustJSON(map[string]any{"account": f.a.kid, "oldKey": f.a.jwk()}))
			}},
		{name: "key change/inner alg none", want: bad(400, "badSignatureAlgorithm", "none"),
			send: func(f *fixture) *response {
				return f.keyChangeWith(func(kc *keyChange) { kc.hdr["alg"] = "none" })
			}},
		{name: "key change/new key RSA 1024", want: bad(400, "badPublicKey", "1024"),
			send: func(f *fixture) *response {
				k := rsaKey(f, 1024)
				return f.keyChangeWith(func(kc *keyChange) {
					kc.signer, kc.alg, kc.hdr["alg"], kc.hdr["jwk"] = k, "RS256", "RS256", jwkOf(f.t, k.Public())
				})
			}},
		{name: "key change/new key P-224", want: bad(400, "badPublicKey", "P-224"),
			send: func(f *fixture) *response {
				k := ecKey(elliptic.P224())
				return f.keyChangeWith(func(kc *keyChange) { kc.signer, kc.hdr["jwk"] = k, ecJWK("P-224", &k.PublicKey) })
			}},
		{name: "key change/new key is another account's",
			want: want{status: http.StatusConflict, typ: "malformed", has: []string{"in use"}},
			send: func(f *fixture) *response {
				return f.keyChangeWith(func(kc *keyChange) { kc.signer, kc.hdr["jwk"] = f.b.key, f.b.jwk() })
			}},
		{name: "key change/duplicate member in the inner payload", want: bad(400, "malformed", "repeats a member name"),
			send: func(f *fixture) *response {
				kc := f.newKeyChange()
				p := replaceOnce(mustJSON(kc.payload), `{`, `{"account":"`+f.b.kid+`",`)
				inner := signProtected(f.t, kc.signer, kc.alg, mustJSON(kc.hdr), p)
				url := f.a.base + "/key-change"
				return f.a.post(url, f.kidHeader(url), inner)
			}},
		{name: "key change/by a deactivated account", want: bad(401, "unauthorized", "deactivated"),
			send: func(f *fixture) *response {
				url := f.c.base + "/key-change"
				k := ecKey(elliptic.P256())
				inner := signJWS(f.t, k, "ES256", map[string]any{"alg": "ES256", "jwk": jwkOf(f.t, k.Public()), "url": url},
					mustJSON(map[string]any{"account": f.c.kid, "oldKey": f.c.jwk()}))
				return f.c.post(url, f.c.header(url), inner)
			}},
	}
}
