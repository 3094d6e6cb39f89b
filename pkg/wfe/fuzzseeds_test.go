package wfe

import (
	"encoding/base64"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/go-jose/go-jose/v4"

	"github.com/acmera/acmera/pkg/internal/fuzzcorpus"
)

// TestWriteFuzzSeeds regenerates testdata/fuzz/{FuzzVerifyJWS,
// FuzzVerifySignedHeader,FuzzDecodePayload} when ACMERA_WRITE_FUZZ_SEEDS=1.
// The JWS seeds are signed with the fixed fuzz keys and carry a nonce of
// the fixed nonce key, so the valid ones verify on every run.
func TestWriteFuzzSeeds(t *testing.T) {
	if os.Getenv("ACMERA_WRITE_FUZZ_SEEDS") != "1" {
		t.Skip("set ACMERA_WRITE_FUZZ_SEEDS=1 to regenerate the seed corpus")
	}
	keys := newFuzzKeys(t)
	n := fuzzNonces(t).Issue()
	write := func(target, name string, vals ...any) {
		if err := fuzzcorpus.Write(target, name, vals...); err != nil {
			t.Fatal(err)
		}
	}
	for _, s := range signedHeaderSeeds(keys, n) {
		write("FuzzVerifySignedHeader", s.name, uint8(s.mode), s.ed, []byte(s.hdr), []byte(s.payload))
	}
	for _, s := range jwsSeeds(keys, n) {
		write("FuzzVerifyJWS", s.name, uint8(s.mode), s.body)
	}
	for _, s := range payloadSeeds() {
		write("FuzzDecodePayload", s.name, s.kind, []byte(s.payload))
	}
}

type headerSeed struct {
	name         string
	mode         keyMode
	ed           bool
	hdr, payload string
}

func signedHeaderSeeds(keys fuzzKeys, n string) []headerSeed {
	edJWK, _ := (&jose.JSONWebKey{Key: keys.ed.Public()}).MarshalJSON()
	ecJWK, _ := (&jose.JSONWebKey{Key: keys.ec.Public()}).MarshalJSON()
	ecPriv, _ := (&jose.JSONWebKey{Key: keys.ec}).MarshalJSON()
	kid := func(alg, extra string) string {
		return `{"alg":"` + alg + `","kid":"` + fuzzKID + `","nonce":"` + n + `","url":"` + fuzzURL + `"` + extra + `}`
	}
	jwk := func(alg, key, extra string) string {
		return `{"alg":"` + alg + `","jwk":` + key + `,"nonce":"` + n + `","url":"` + fuzzURL + `"` + extra + `}`
	}
	order := `{"identifiers":[{"type":"dns","value":"a.example"}]}`
	return []headerSeed{
		{"valid-kid", byKID, false, kid("ES256", ""), order},
		{"valid-kid-post-as-get", byKID, false, kid("ES256", ""), ""},
		{"valid-jwk-eddsa", byJWK, true, jwk("EdDSA", string(edJWK), ""), `{"termsOfServiceAgreed":true}`},
		{"valid-jwk-es256", byJWK, false, jwk("ES256", string(ecJWK), ""), `{}`},
		{"valid-either-jwk", byEither, true, jwk("EdDSA", string(edJWK), ""), `{"certificate":"MIIB"}`},
		{"kid-for-jwk-resource", byJWK, false, kid("ES256", ""), `{}`},
		{"jwk-for-kid-resource", byKID, true, jwk("EdDSA", string(edJWK), ""), `{}`},
		{"jwk-and-kid", byEither, true, jwk("EdDSA", string(edJWK), `,"kid":"`+fuzzKID+`"`), `{}`},
		{"kid-extra-path", byKID, false, `{"alg":"ES256","kid":"` + fuzzKID + `/orders","nonce":"` + n + `","url":"` + fuzzURL + `"}`, `{}`},
		{"kid-other-server", byKID, false, `{"alg":"ES256","kid":"https://evil.test/acme/acme/account/fuzz","nonce":"` + n + `","url":"` + fuzzURL + `"}`, `{}`},
		{"kid-unknown-account", byKID, false, `{"alg":"ES256","kid":"` + fuzzBase + `/acme/acme/account/nobody","nonce":"` + n + `","url":"` + fuzzURL + `"}`, `{}`},
		{"kid-escaped", byKID, false, `{"alg":"ES256","kid":"https:\/\/acmera.test\/acme\/acme\/account\/fu\u007az","nonce":"` + n + `","url":"` + fuzzURL + `"}`, `{}`},
		{"url-mismatch", byKID, false, `{"alg":"ES256","kid":"` + fuzzKID + `","nonce":"` + n + `","url":"` + fuzzBase + `/acme/acme/new-account"}`, `{}`},
		{"url-missing", byKID, false, `{"alg":"ES256","kid":"` + fuzzKID + `","nonce":"` + n + `"}`, `{}`},
		{"url-repeated", byKID, false, kid("ES256", `,"url":"`+fuzzURL+`"`), `{}`},
		{"nonce-missing", byKID, false, `{"alg":"ES256","kid":"` + fuzzKID + `","url":"` + fuzzURL + `"}`, `{}`},
		{"nonce-forged", byKID, false, `{"alg":"ES256","kid":"` + fuzzKID + `","nonce":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA","url":"` + fuzzURL + `"}`, `{}`},
		{"alg-none", byKID, false, kid("none", ""), `{}`},
		{"alg-hs256", byKID, false, kid("HS256", ""), `{}`},
		{"alg-es384-p256-key", byKID, false, kid("ES384", ""), `{}`},
		{"alg-rs256-ec-key", byKID, false, kid("RS256", ""), `{}`},
		{"alg-eddsa-ec-jwk", byJWK, true, jwk("EdDSA", string(ecJWK), ""), `{}`},
		{"alg-missing", byKID, false, `{"kid":"` + fuzzKID + `","nonce":"` + n + `","url":"` + fuzzURL + `"}`, `{}`},
		{"alg-not-string", byKID, false, `{"alg":256,"kid":"` + fuzzKID + `","nonce":"` + n + `","url":"` + fuzzURL + `"}`, `{}`},
		{"crit-b64-false", byJWK, true, jwk("EdDSA", string(edJWK), `,"b64":false,"crit":["b64"]`), `{}`},
		{"b64-true", byJWK, true, jwk("EdDSA", string(edJWK), `,"b64":true`), `{}`},
		{"crit-unknown", byKID, false, kid("ES256", `,"crit":["exp"],"exp":1`), `{}`},
		{"jwk-private", byJWK, false, jwk("ES256", string(ecPriv), ""), `{}`},
		{"jwk-string", byJWK, false, jwk("ES256", `"`+strings.ReplaceAll(string(ecJWK), `"`, `\"`)+`"`, ""), `{}`},
		{"jwk-empty-object", byJWK, false, jwk("ES256", `{}`, ""), `{}`},
		{"jwk-oct", byJWK, false, jwk("HS256", `{"kty":"oct","k":"c2VjcmV0"}`, ""), `{}`},
		{"header-array", byKID, false, `[` + kid("ES256", "") + `]`, `{}`},
		{"header-null", byKID, false, `null`, `{}`},
		{"header-empty", byKID, false, ``, `{}`},
		{"header-unknown-members", byKID, false, kid("ES256", `,"x5u":"https://evil.test","typ":"JWT","cty":"json","zip":"DEF"`), `{}`},
		{"header-nested-deep", byKID, false, kid("ES256", `,"x":`+strings.Repeat("[", 500)+strings.Repeat("]", 500)), `{}`},
		{"payload-not-json", byKID, false, kid("ES256", ""), "\xff\xfe"},
	}
}

type bodySeed struct {
	name string
	mode keyMode
	body []byte
}

func jwsSeeds(keys fuzzKeys, n string) []bodySeed {
	enc := base64.RawURLEncoding.EncodeToString
	hdr := `{"alg":"ES256","kid":"` + fuzzKID + `","nonce":"` + n + `","url":"` + fuzzURL + `"}`
	prot, pay := enc([]byte(hdr)), enc([]byte(`{"identifiers":[{"type":"dns","value":"a.example"}]}`))
	sig := enc(fuzzSign(keys, false, prot, pay))
	sig2 := enc(fuzzSign(keys, false, prot, pay))
	obj := func(members ...string) []byte { return []byte("{" + strings.Join(members, ",") + "}") }
	m := func(name, val string) string { return `"` + name + `":"` + val + `"` }
	var out []bodySeed
	// The valid requests, and a few header refusals, as whole bodies.
	asBody := map[string]bool{"crit-b64-false": true, "b64-true": true, "url-repeated": true, "jwk-and-kid": true, "alg-none": true}
	for _, s := range signedHeaderSeeds(keys, n) {
		if strings.HasPrefix(s.name, "valid-") || asBody[s.name] {
			out = append(out, bodySeed{s.name, s.mode, fuzzBody(keys, s.ed, []byte(s.hdr), []byte(s.payload))})
		}
	}
	out = append(out, []bodySeed{
		{"two-signatures", byKID, []byte(`{"payload":"` + pay + `","signatures":[{"protected":"` + prot + `","signature":"` + sig + `"},{"protected":"` + prot + `","signature":"` + sig2 + `"}]}`)},
		{"general-serialization", byKID, []byte(`{"payload":"` + pay + `","signatures":[{"protected":"` + prot + `","signature":"` + sig + `"}]}`)},
		{"unprotected-header", byKID, obj(m("protected", prot), m("payload", pay), m("signature", sig), `"header":{"kid":"x"}`)},
		{"repeated-payload", byKID, obj(m("protected", prot), m("payload", pay), m("signature", sig), m("payload", enc([]byte(`{}`))))},
		{"repeated-signature", byKID, obj(m("protected", prot), m("payload", pay), m("signature", sig), m("signature", sig2))},
		{"member-case", byKID, obj(`"Protected":"x"`, m("protected", prot), m("payload", pay), m("signature", sig))},
		{"member-escaped", byKID, obj(`"\u0070rotected":"`+prot+`"`, m("payload", pay), m("signature", sig))},
		{"value-escaped", byKID, obj(m("protected", strings.Replace(prot, "e", `\u0065`, 1)), m("payload", pay), m("signature", sig))},
		{"compact-serialization", byKID, []byte(prot + "." + pay + "." + sig)},
		{"payload-missing", byKID, obj(m("protected", prot), m("signature", sig))},
		{"protected-empty", byKID, obj(m("protected", ""), m("payload", pay), m("signature", sig))},
		{"signature-empty", byKID, obj(m("protected", prot), m("payload", pay), m("signature", ""))},
		{"signature-short", byKID, obj(m("protected", prot), m("payload", pay), m("signature", sig[:84]))},
		{"payload-padded", byKID, obj(m("protected", prot), m("payload", pay+"=="), m("signature", sig))},
		{"payload-noncanonical", byKID, obj(m("protected", prot), m("payload", "e31"), m("signature", sig))},
		{"payload-std-base64", byKID, obj(m("protected", prot), m("payload", base64.RawStdEncoding.EncodeToString([]byte(`{"x":"~~~"}`))), m("signature", sig))},
		{"payload-number", byKID, obj(m("protected", prot), `"payload":5`, m("signature", sig))},
		{"alg-none-unsecured", byJWK, obj(m("protected", enc([]byte(`{"alg":"none","nonce":"`+n+`","url":"`+fuzzURL+`"}`))), m("payload", enc([]byte(`{}`))), m("signature", ""))},
		{"huge-member", byKID, obj(m("protected", prot), m("payload", pay), m("signature", sig), m("x", strings.Repeat("A", fuzzMaxBody)))},
		{"many-members", byKID, obj(append([]string{m("protected", prot), m("payload", pay), m("signature", sig)}, manyMembers(70))...)},
		{"deep-nesting", byKID, obj(m("protected", prot), m("payload", pay), m("signature", sig), `"x":`+strings.Repeat(`[`, 1000)+strings.Repeat(`]`, 1000))},
		{"trailing-data", byKID, append(obj(m("protected", prot), m("payload", pay), m("signature", sig)), []byte(` {}`)...)},
		{"empty", byKID, nil},
		{"null", byKID, []byte(`null`)},
		{"array", byKID, []byte(`[]`)},
		{"empty-object", byJWK, []byte(`{}`)},
		{"invalid-utf8", byKID, obj(m("protected", prot), m("payload", pay), m("signature", sig), "\"x\":\"\xff\"")},
	}...)
	return out
}

type payloadSeed struct {
	name    string
	kind    uint8 // index in payloadKinds
	payload string
}

func payloadSeeds() []payloadSeed {
	kind := func(what string) uint8 {
		for i, k := range payloadKinds {
			if k.what == what {
				return uint8(i)
			}
		}
		panic(what)
	}
	eab, _ := json.Marshal(map[string]string{"protected": "e30", "payload": "e30", "signature": "AA"})
	return []payloadSeed{
		{"newaccount", kind("newAccount"), `{"contact":["mailto:ops@example.com"],"termsOfServiceAgreed":true}`},
		{"newaccount-eab", kind("newAccount"), `{"termsOfServiceAgreed":true,"externalAccountBinding":` + string(eab) + `}`},
		{"newaccount-only-existing-dup-case", kind("newAccount"), `{"onlyReturnExisting":false,"OnlyReturnExisting":true}`},
		{"newaccount-unknown-member", kind("newAccount"), `{"termsOfServiceAgreed":true,"x-extension":{"a":[1,2,3]}}`},
		{"account-update", kind("account update"), `{"contact":[]}`},
		{"account-deactivate-dup", kind("account update"), `{"status":"valid","status":"deactivated"}`},
		{"neworder", kind("newOrder"), `{"identifiers":[{"type":"dns","value":"a.example"},{"type":"ip","value":"192.0.2.1"}],"notAfter":"2025-01-02T00:00:00Z"}`},
		{"neworder-nested-dup", kind("newOrder"), `{"identifiers":[{"type":"dns","value":"a.example","value":"b.example"}]}`},
		{"neworder-identifiers-dup", kind("newOrder"), `{"identifiers":[],"identifiers":[{"type":"dns","value":"a.example"}]}`},
		{"neworder-identifiers-object", kind("newOrder"), `{"identifiers":{"type":"dns","value":"a.example"}}`},
		{"finalize", kind("finalize"), `{"csr":"MIIBAA"}`},
		{"finalize-dup-escaped", kind("finalize"), `{"csr":"MIIBAA","\u0063sr":"MIIBAB"}`},
		{"finalize-dup-kelvin", kind("finalize"), `{"csr":"MIIBAA","cs\u0280":"x","\u212a":"y","k":"z"}`},
		{"authz-deactivate", kind("authorization update"), `{"status":"deactivated"}`},
		{"challenge-empty", kind("challenge"), `{}`},
		{"challenge-dup", kind("challenge"), `{"keyAuthorization":"a","keyAuthorization":"b"}`},
		{"keychange", kind("keyChange"), `{"account":"` + fuzzKID + `","oldKey":{"kty":"EC","crv":"P-256","x":"AA","y":"AA"}}`},
		{"keychange-oldkey-dup", kind("keyChange"), `{"account":"` + fuzzKID + `","oldKey":{"kty":"EC","kty":"RSA"}}`},
		{"revoke", kind("revokeCert"), `{"certificate":"MIIBAA","reason":4}`},
		{"revoke-reason-huge", kind("revokeCert"), `{"certificate":"MIIBAA","reason":1e400}`},
		{"revoke-reason-string", kind("revokeCert"), `{"certificate":"MIIBAA","reason":"4"}`},
		{"null", kind("newOrder"), `null`},
		{"array", kind("challenge"), `[]`},
		{"trailing-data", kind("finalize"), `{"csr":"MIIBAA"} {"csr":"x"}`},
		{"bom", kind("finalize"), "\ufeff{\"csr\":\"MIIBAA\"}"},
		{"invalid-utf8", kind("newAccount"), "{\"contact\":[\"mailto:\xff@example.com\"]}"},
		{"deep-nesting", kind("challenge"), `{"a":` + strings.Repeat(`[`, 2000) + strings.Repeat(`]`, 2000) + `}`},
		{"empty", kind("finalize"), ``},
	}
}
