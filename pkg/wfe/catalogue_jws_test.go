package wfe_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"slices"
	"strings"
)

// orderPayload is the newOrder payload the JWS cases carry: accepted, it
// would create an order, which the store snapshot would show.
var orderPayload = []byte(`{"identifiers":[{"type":"dns","value":"jws.example"}]}`)

func (f *fixture) newOrderURL() string { return f.a.base + "/new-order" }

// jose posts body to newOrder as application/jose+json.
func (f *fixture) jose(body []byte) *response {
	return f.a.postRaw(f.newOrderURL(), "application/jose+json", body)
}

// goodOrderJWS is A's correct newOrder request.
func (f *fixture) goodOrderJWS() []byte { return f.a.sign(f.kidHeader(f.newOrderURL()), orderPayload) }

// orderWith sends A's newOrder with its protected header changed by fn.
func (f *fixture) orderWith(fn func(h map[string]any)) *response {
	h := f.kidHeader(f.newOrderURL())
	fn(h)
	return f.a.post(f.newOrderURL(), h, orderPayload)
}

// orderSignedAs sends A's newOrder header with alg, signed by signProtected.
func (f *fixture) orderSignedAs(alg string) *response {
	h := f.kidHeader(f.newOrderURL())
	h["alg"] = alg
	return f.jose(signJWS(f.t, f.a.key, alg, h, orderPayload))
}

// protectedJSON is A's newOrder protected header as JSON text without the
// closing brace, for cases that append members by hand.
func (f *fixture) protectedJSON() string {
	b := mustJSON(f.kidHeader(f.newOrderURL()))
	return string(b[:len(b)-1])
}

// jwsCases break the flattened JWS serialization (RFC 7515 §7.2.2, RFC
// 8555 §6.2) and its JSON.
func jwsCases() []hostile {
	return []hostile{
		{name: "jws/not JSON (compact serialization)", want: bad(400, "malformed", "flattened"),
			send: func(f *fixture) *response { return f.jose([]byte("eyJhbGciOiJFUzI1NiJ9.e30.c2ln")) }},
		{name: "jws/empty body", want: bad(400, "malformed", "flattened"),
			send: func(f *fixture) *response { return f.jose(nil) }},
		{name: "jws/JSON array", want: bad(400, "malformed", "flattened"),
			send: func(f *fixture) *response { return f.jose([]byte(`[{"protected":"e30"}]`)) }},
		{name: "jws/flattened without protected", want: bad(400, "malformed", "protected"),
			send: func(f *fixture) *response {
				return f.jose(mutate(f.goodOrderJWS(), func(m map[string]any) { delete(m, "protected") }))
			}},
		{name: "jws/flattened without payload", want: bad(400, "malformed", "payload"),
			send: func(f *fixture) *response {
				return f.jose(mutate(f.goodOrderJWS(), func(m map[string]any) { delete(m, "payload") }))
			}},
		{name: "jws/flattened without signature", want: bad(400, "malformed", "signature"),
			send: func(f *fixture) *response {
				return f.jose(mutate(f.goodOrderJWS(), func(m map[string]any) { delete(m, "signature") }))
			}},
		{name: "jws/member of the wrong type", want: bad(400, "malformed", "JWS"),
			send: func(f *fixture) *response {
				return f.jose(mutate(f.goodOrderJWS(), func(m map[string]any) { m["payload"] = 42 }))
			}},
		{name: "jws/general serialization, one signature", want: bad(400, "malformed", "one signature"),
			send: func(f *fixture) *response {
				return f.jose(mutate(f.goodOrderJWS(), func(m map[string]any) {
					m["signatures"] = []any{map[string]any{"protected": m["protected"], "signature": m["signature"]}}
					delete(m, "protected")
					delete(m, "signature")
				}))
			}},
		{name: "jws/general serialization, two signatures", want: bad(400, "malformed", "one signature"),
			send: func(f *fixture) *response {
				other := f.b.sign(f.b.header(f.newOrderURL()), orderPayload)
				var o map[string]any
				json.Unmarshal(other, &o)
				return f.jose(mutate(f.goodOrderJWS(), func(m map[string]any) {
					m["signatures"] = []any{
						map[string]any{"protected": m["protected"], "signature": m["signature"]},
						map[string]any{"protected": o["protected"], "signature": o["signature"]},
					}
					delete(m, "protected")
					delete(m, "signature")
				}))
			}},
		{name: "jws/unprotected header", want: bad(400, "malformed", "unprotected header"),
			send: func(f *fixture) *response {
				return f.jose(mutate(f.goodOrderJWS(), func(m map[string]any) {
					m["header"] = map[string]any{"kid": f.b.kid}
				}))
			}},
		{name: "jws/duplicate member in the body", firestore: true, want: bad(400, "malformed", "repeat"),
			send: func(f *fixture) *response {
				body := f.goodOrderJWS()
				return f.jose(replaceOnce(body, `{`, `{"payload":"`+b64([]byte(`{"identifiers":[]}`))+`",`))
			}},
		{name: "jws/duplicate member in the protected header", firestore: true, want: bad(400, "malformed", "repeat"),
			send: func(f *fixture) *response {
				protected := f.protectedJSON() + `,"url":"` + f.a.base + `/new-account"}`
				return f.jose(signProtected(f.t, f.a.key, "ES256", []byte(protected), orderPayload))
			}},
		{name: "jws/duplicate member in the payload", firestore: true, want: bad(400, "malformed", "repeats a member name"),
			send: func(f *fixture) *response {
				p := `{"identifiers":[{"type":"dns","value":"a.example"}],"identifiers":[{"type":"dns","value":"b.example"}]}`
				return f.a.post(f.newOrderURL(), f.kidHeader(f.newOrderURL()), []byte(p))
			}},
		{name: "jws/duplicate member in the payload, other case", want: bad(400, "malformed", "repeats a member name"),
			send: func(f *fixture) *response {
				p := `{"identifiers":[{"type":"dns","value":"a.example","Value":"b.example"}]}`
				return f.a.post(f.newOrderURL(), f.kidHeader(f.newOrderURL()), []byte(p))
			}},
		{name: "jws/b64 false", want: bad(400, "malformed", "b64"),
			send: func(f *fixture) *response {
				return f.orderWith(func(h map[string]any) { h["b64"] = false; h["crit"] = []string{"b64"} })
			}},
		{name: "jws/crit", want: bad(400, "malformed", "crit"),
			send: func(f *fixture) *response {
				return f.orderWith(func(h map[string]any) { h["crit"] = []string{"exp"}; h["exp"] = 1 })
			}},
	}
}

// jwsAlgCases break the JWS algorithm (RFC 8555 §6.2, RFC 7518 §3.1).
func jwsAlgCases() []hostile {
	return []hostile{
		{name: "jws/alg none", firestore: true, want: bad(400, "badSignatureAlgorithm", "none"),
			send: func(f *fixture) *response {
				h := f.kidHeader(f.newOrderURL())
				h["alg"] = "none"
				return f.jose(mutate(f.a.sign(h, orderPayload), func(m map[string]any) { m["signature"] = "" }))
			}},
		{name: "jws/alg none with a signature", want: bad(400, "badSignatureAlgorithm", "none"),
			send: func(f *fixture) *response { return f.orderSignedAs("none") }},
		// RFC 8555 §6.2: the problem "MUST include an "algorithms" field
		// with an array of supported "alg" values".
		{name: "jws/alg HS256", want: bad(400, "badSignatureAlgorithm", "HS256"),
			send:  func(f *fixture) *response { return f.orderSignedAs("HS256") },
			check: listsAlgorithms},
		{name: "jws/alg RS1", want: bad(400, "badSignatureAlgorithm", "RS1"),
			send: func(f *fixture) *response { return f.orderSignedAs("RS1") }},
		{name: "jws/alg missing", want: bad(400, "badSignatureAlgorithm", `""`),
			send: func(f *fixture) *response { return f.orderWith(func(h map[string]any) { delete(h, "alg") }) }},
		{name: "jws/alg RS256 with an EC key", want: bad(400, "badSignatureAlgorithm", "RS256"),
			send: func(f *fixture) *response { return f.orderSignedAs("RS256") }},
		// RFC 7518 §3.4: ES384 is ECDSA on P-384; a P-256 key cannot
		// make it, which checkKeyAlg promises to name as such.
		{name: "jws/alg ES384 with a P-256 key", want: bad(400, "badSignatureAlgorithm", "ES384"),
			send: func(f *fixture) *response { return f.orderSignedAs("ES384") }},
	}
}

// jwsKeyCases break the key reference, url, signature and HTTP framing
// (RFC 8555 §6.2-§6.4).
func jwsKeyCases() []hostile {
	return []hostile{
		{name: "jws/jwk and kid", want: bad(400, "malformed", "exactly one"),
			send: func(f *fixture) *response { return f.orderWith(func(h map[string]any) { h["jwk"] = f.a.jwk() }) }},
		{name: "jws/neither jwk nor kid", want: bad(400, "malformed", "exactly one"),
			send: func(f *fixture) *response { return f.orderWith(func(h map[string]any) { delete(h, "kid") }) }},
		{name: "jws/jwk where an account is required", want: bad(400, "malformed", "kid"),
			send: func(f *fixture) *response {
				return f.orderWith(func(h map[string]any) { delete(h, "kid"); h["jwk"] = f.a.jwk() })
			}},
		{name: "jws/kid on newAccount", want: bad(400, "malformed", "jwk"),
			send: func(f *fixture) *response { return f.a.do(f.a.base+"/new-account", map[string]any{}) }},
		{name: "jws/kid of another account", want: bad(400, "malformed", "signature"),
			send: func(f *fixture) *response { return f.orderWith(func(h map[string]any) { h["kid"] = f.b.kid }) }},
		{name: "jws/kid that does not exist", want: bad(400, "accountDoesNotExist", "nope"),
			send: func(f *fixture) *response {
				return f.orderWith(func(h map[string]any) { h["kid"] = f.a.base + "/account/nope" })
			}},
		{name: "jws/kid of another server", want: bad(400, "malformed", "kid"),
			send: func(f *fixture) *response {
				return f.orderWith(func(h map[string]any) {
					h["kid"] = "https://evil.example/acme/acme/account/" + lastSegment(f.a.kid)
				})
			}},
		{name: "jws/kid of a deactivated account", firestore: true, want: bad(401, "unauthorized", "deactivated"),
			send: func(f *fixture) *response {
				return f.c.post(f.newOrderURL(), f.c.header(f.newOrderURL()), orderPayload)
			}},
		{name: "jws/url of another resource", firestore: true, want: bad(403, "unauthorized", "url"),
			send: func(f *fixture) *response {
				return f.orderWith(func(h map[string]any) { h["url"] = f.a.base + "/new-account" })
			}},
		{name: "jws/url missing", want: bad(400, "malformed", "url"),
			send: func(f *fixture) *response { return f.orderWith(func(h map[string]any) { delete(h, "url") }) }},
		{name: "jws/url of another host", want: bad(403, "unauthorized", "url"),
			send: func(f *fixture) *response {
				return f.orderWith(func(h map[string]any) { h["url"] = "https://evil.example/acme/acme/new-order" })
			}},
		{name: "jws/bad signature (payload swapped)", want: bad(400, "malformed", "signature"),
			send: func(f *fixture) *response {
				return f.jose(mutate(f.goodOrderJWS(), func(m map[string]any) {
					m["payload"] = b64([]byte(`{"identifiers":[{"type":"dns","value":"other.example"}]}`))
				}))
			}},
		{name: "jws/signature by another key", want: bad(400, "malformed", "signature"),
			send: func(f *fixture) *response {
				other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
				return f.jose(signJWS(f.t, other, "ES256", f.kidHeader(f.newOrderURL()), orderPayload))
			}},
		{name: "jws/signature truncated", want: bad(400, "malformed", "signature"),
			send: func(f *fixture) *response {
				return f.jose(mutate(f.goodOrderJWS(), func(m map[string]any) {
					s := m["signature"].(string)
					m["signature"] = s[:len(s)-4]
				}))
			}},
		{name: "jws/signature with altered spare bits", want: bad(400, "malformed", "signature"),
			send: func(f *fixture) *response {
				return f.jose(mutate(f.goodOrderJWS(), func(m map[string]any) {
					m["signature"] = alterSpareBits(m["signature"].(string))
				}))
			}},
		{name: "jws/protected header not base64url", want: bad(400, "malformed", "protected header"),
			send: func(f *fixture) *response {
				return f.jose(mutate(f.goodOrderJWS(), func(m map[string]any) { m["protected"] = "e30=" + "!" }))
			}},
		{name: "jws/protected header not an object", want: bad(400, "malformed", "protected header"),
			send: func(f *fixture) *response {
				return f.jose(signProtected(f.t, f.a.key, "ES256", []byte(`["alg","ES256"]`), orderPayload))
			}},
		{name: "jws/payload not JSON", want: bad(400, "malformed", "newOrder"),
			send: func(f *fixture) *response {
				return f.a.post(f.newOrderURL(), f.kidHeader(f.newOrderURL()), []byte("identifiers=a.example"))
			}},
		{name: "jws/oversized body", want: bad(413, "malformed", "larger"),
			send: func(f *fixture) *response {
				big := `{"identifiers":[{"type":"dns","value":"a.example"}],"pad":"` + strings.Repeat("A", 70<<10) + `"}`
				return f.a.post(f.newOrderURL(), f.kidHeader(f.newOrderURL()), []byte(big))
			}},
		{name: "jws/Content-Type application/json", want: bad(415, "malformed", "Content-Type"),
			send: func(f *fixture) *response {
				return f.a.postRaw(f.newOrderURL(), "application/json", f.goodOrderJWS())
			}},
		{name: "jws/Content-Type missing", want: bad(415, "malformed", "Content-Type"),
			send: func(f *fixture) *response { return f.a.postRaw(f.newOrderURL(), "", f.goodOrderJWS()) }},
	}
}

// listsAlgorithms checks the algorithms member of a badSignatureAlgorithm
// problem: present, with ES256 (which RFC 8555 §6.2 makes mandatory) and
// none of the refused ones.
func listsAlgorithms(f *fixture, r *response) {
	var p struct{ Algorithms []string }
	json.Unmarshal(r.body, &p)
	if !slices.Contains(p.Algorithms, "ES256") || slices.Contains(p.Algorithms, "none") || slices.Contains(p.Algorithms, "HS256") {
		f.t.Errorf("badSignatureAlgorithm problem lists algorithms %q; want the accepted ones, with ES256 (%s)", p.Algorithms, r.body)
	}
}

// alterSpareBits flips the lowest bit of the last character of unpadded
// base64url text whose length leaves spare bits there: the text still
// decodes, leniently, to the same bytes, but is not their canonical
// encoding (RFC 4648 §3.5).
func alterSpareBits(s string) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	i := strings.IndexByte(alphabet, s[len(s)-1])
	return s[:len(s)-1] + string(alphabet[i^1])
}
