package wfe_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

const urn = "urn:ietf:params:acme:error:"

// expect checks the status, problem type and that the detail names what
// was wrong.
func expect(t *testing.T, r *response, status int, typ, detailHas string) {
	t.Helper()
	if r.status != status || r.problem.Type != urn+typ {
		t.Fatalf("got %d %s (%q), want %d %s", r.status, r.problem.Type, r.problem.Detail, status, typ)
	}
	if !strings.Contains(r.problem.Detail, detailHas) {
		t.Fatalf("detail %q does not mention %q", r.problem.Detail, detailHas)
	}
	if r.header.Get("Replay-Nonce") == "" {
		t.Fatal("error response without Replay-Nonce")
	}
	if strings.Contains(r.problem.Detail, ".go") || strings.Contains(r.problem.Detail, "bbolt") {
		t.Fatalf("detail leaks internals: %q", r.problem.Detail)
	}
}

func TestJWSFraming(t *testing.T) {
	e := newEnv(t)
	c := newRawClient(t, e)
	c.register()
	url := c.base + "/new-order"
	order := []byte(`{"identifiers":[{"type":"dns","value":"a.example"}]}`)
	good := func() map[string]any { return c.header(url) }
	cases := []struct {
		name     string
		send     func() *response
		status   int
		typ, has string
	}{
		{"content type", func() *response { return c.postRaw(url, "application/json", c.sign(good(), order)) }, 415, "malformed", "Content-Type"},
		{"too large", func() *response { return c.postRaw(url, "application/jose+json", make([]byte, 70<<10)) }, 413, "malformed", "larger"},
		{"not json", func() *response { return c.postRaw(url, "application/jose+json", []byte("a.b.c")) }, 400, "malformed", "flattened"},
		{"alg none", func() *response { h := good(); h["alg"] = "none"; return c.post(url, h, order) }, 400, "badSignatureAlgorithm", "none"},
		{"alg none, empty signature", func() *response {
			h := good()
			h["alg"] = "none"
			var m map[string]string
			json.Unmarshal(c.sign(h, order), &m)
			m["signature"] = ""
			body, _ := json.Marshal(m)
			return c.postRaw(url, "application/jose+json", body)
		}, 400, "badSignatureAlgorithm", "none"},
		{"alg HS256", func() *response { h := good(); h["alg"] = "HS256"; return c.post(url, h, order) }, 400, "badSignatureAlgorithm", "HS256"},
		{"alg RS256 with EC key", func() *response { h := good(); h["alg"] = "RS256"; return c.post(url, h, order) }, 400, "badSignatureAlgorithm", "key type"},
		{"no nonce", func() *response { h := good(); delete(h, "nonce"); return c.post(url, h, order) }, 400, "badNonce", "no nonce"},
		{"forged nonce", func() *response {
			h := good()
			h["nonce"] = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
			return c.post(url, h, order)
		}, 400, "badNonce", "nonce"},
		{"wrong url", func() *response { h := good(); h["url"] = c.base + "/new-account"; return c.post(url, h, order) }, 403, "unauthorized", "url"},
		{"no url", func() *response { h := good(); delete(h, "url"); return c.post(url, h, order) }, 400, "malformed", "url"},
		{"jwk and kid", func() *response { h := good(); h["jwk"] = c.jwk(); return c.post(url, h, order) }, 400, "malformed", "exactly one"},
		{"jwk on newOrder", func() *response { h := good(); delete(h, "kid"); h["jwk"] = c.jwk(); return c.post(url, h, order) }, 400, "malformed", "kid"},
		{"unknown kid", func() *response { h := good(); h["kid"] = c.base + "/account/nope"; return c.post(url, h, order) }, 400, "accountDoesNotExist", "nope"},
		{"foreign kid", func() *response {
			h := good()
			h["kid"] = "https://evil.example/acme/acme/account/x"
			return c.post(url, h, order)
		}, 400, "malformed", "kid"},
		{"bad signature", func() *response {
			body := c.sign(good(), order)
			var m map[string]string
			json.Unmarshal(body, &m)
			m["payload"] = b64([]byte(`{"identifiers":[{"type":"dns","value":"b.example"}]}`))
			body, _ = json.Marshal(m)
			return c.postRaw(url, "application/jose+json", body)
		}, 400, "malformed", "signature"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			expect(t, tc.send(), tc.status, tc.typ, tc.has)
		})
	}
	t.Run("replayed nonce", func(t *testing.T) {
		h := good()
		if r := c.post(url, h, order); r.status != http.StatusCreated {
			t.Fatalf("first use: %d %s", r.status, r.body)
		}
		expect(t, c.post(url, h, order), 400, "badNonce", "already used")
	})
	t.Run("used nonce respelled in its spare bits", func(t *testing.T) {
		h := good()
		if r := c.post(url, h, order); r.status != http.StatusCreated {
			t.Fatalf("first use: %d %s", r.status, r.body)
		}
		const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
		n := h["nonce"].(string)
		h["nonce"] = n[:len(n)-1] + string(alphabet[strings.IndexByte(alphabet, n[len(n)-1])^1])
		expect(t, c.post(url, h, order), 400, "badNonce", "nonce")
	})
	t.Run("kid on newAccount", func(t *testing.T) {
		expect(t, c.do(c.base+"/new-account", map[string]any{}), 400, "malformed", "jwk")
	})
	t.Run("GET on a POST resource", func(t *testing.T) {
		res, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusMethodNotAllowed || res.Header.Get("Content-Type") != "application/problem+json" {
			t.Fatalf("GET new-order: %d %s", res.StatusCode, res.Header.Get("Content-Type"))
		}
	})
	t.Run("unknown profile", func(t *testing.T) {
		res, err := http.Get(e.srv.URL + "/acme/nope/directory")
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusNotFound {
			t.Fatalf("unknown profile: %d", res.StatusCode)
		}
	})
}

func TestAccountBadInput(t *testing.T) {
	e := newEnv(t)
	c := newRawClient(t, e)
	na := c.base + "/new-account"
	expect(t, c.do(na, map[string]any{"contact": []string{"tel:+1555"}}), 400, "unsupportedContact", "tel:")
	expect(t, c.do(na, map[string]any{"contact": []string{"mailto:not-an-address"}}), 400, "invalidContact", "not-an-address")
	expect(t, c.do(na, map[string]any{"contact": []string{"mailto:a@b.example?subject=x"}}), 400, "invalidContact", "header")
	expect(t, c.do(na, map[string]any{"contact": []string{"mailto: a b@c.example"}}), 400, "invalidContact", "a b@c.example")
	expect(t, c.do(na, map[string]any{"onlyReturnExisting": true}), 400, "accountDoesNotExist", "key")
	expect(t, c.do(na, []byte("[1,2]")), 400, "malformed", "newAccount")

	// Weak and unsupported account keys: TestWeakAccountKeys.
	c.register()
	// Nothing was written by the refused requests: the first real
	// registration created the account (201 above), and a second returns it.
	kid := c.kid
	c.kid = ""
	r := c.do(na, map[string]any{})
	c.kid = kid
	if r.status != http.StatusOK || r.header.Get("Location") != c.kid {
		t.Fatalf("existing account: %d %s", r.status, r.header.Get("Location"))
	}
	expect(t, c.do(c.kid, map[string]any{"status": "valid"}), 400, "malformed", "deactivated")
	expect(t, c.do(c.kid, map[string]any{"contact": []string{"xmpp:a@b"}}), 400, "unsupportedContact", "xmpp")

	other := newRawClient(t, e)
	other.register()
	expect(t, other.do(c.kid, nil), 403, "unauthorized", "another account")

	if r := c.do(c.kid, map[string]any{"status": "deactivated"}); r.status != http.StatusOK {
		t.Fatalf("deactivate: %d %s", r.status, r.body)
	}
	expect(t, c.do(c.base+"/new-order", map[string]any{"identifiers": []map[string]string{{"type": "dns", "value": "a.example"}}}), 401, "unauthorized", "deactivated")
	c.kid = "" // newAccount with the deactivated account's key (RFC 8555 §7.3.6)
	expect(t, c.do(na, map[string]any{"onlyReturnExisting": true}), 401, "unauthorized", "deactivated")
	expect(t, c.do(na, map[string]any{}), 401, "unauthorized", "deactivated")
}

func TestOrderBadInput(t *testing.T) {
	e := newEnv(t)
	c := newRawClient(t, e)
	c.register()
	no := c.base + "/new-order"
	ids := func(pairs ...string) map[string]any {
		var l []map[string]string
		for i := 0; i < len(pairs); i += 2 {
			l = append(l, map[string]string{"type": pairs[i], "value": pairs[i+1]})
		}
		return map[string]any{"identifiers": l}
	}
	expect(t, c.do(no, ids()), 400, "malformed", "no identifiers")
	expect(t, c.do(no, ids("email", "a@b.example")), 400, "unsupportedIdentifier", "email")
	expect(t, c.do(no, ids("dns", "bad_name.example")), 400, "malformed", "bad_name.example")
	expect(t, c.do(no, ids("dns", "bücher.example")), 400, "malformed", `"bücher.example" contains the non-ASCII character 'ü'`)
	expect(t, c.do(no, ids("ip", "300.1.1.1")), 400, "malformed", "300.1.1.1")
	expect(t, c.do(no, ids("dns", "10.0.0.1")), 400, "malformed", "ip")
	expect(t, c.do(no, ids("dns", "\u212a.example")), 400, "malformed", "non-ASCII character")
	dup := []byte(`{"identifiers":[{"type":"dns","value":"a.example","Value":"b.example"}]}`)
	expect(t, c.post(no, c.header(no), dup), 400, "malformed", "repeats a member name")
	r := c.do(no, ids("dns", "ok.example", "dns", "-bad.example", "email", "x@y.example"))
	expect(t, r, 400, "compound", "2 identifiers")
	if len(r.problem.Subproblems) != 2 || r.problem.Subproblems[0].Identifier["value"] != "-bad.example" {
		t.Fatalf("subproblems: %+v", r.problem.Subproblems)
	}
	expect(t, c.do(no, map[string]any{"identifiers": []map[string]string{{"type": "dns", "value": "a.example"}}, "notAfter": "tomorrow"}), 400, "malformed", "notAfter")
	expect(t, c.do(no, map[string]any{"identifiers": []map[string]string{{"type": "dns", "value": "a.example"}}, "notAfter": "2099-01-01T00:00:00Z"}), 400, "malformed", "maximum")

	// None of the refused orders was stored.
	list := c.do(c.kid+"/orders", nil)
	if list.status != 200 || !strings.Contains(string(list.body), `"orders":[]`) {
		t.Fatalf("orders after refusals: %d %s", list.status, list.body)
	}

	ok := c.do(no, ids("dns", "a.example"))
	if ok.status != http.StatusCreated {
		t.Fatalf("new-order: %d %s", ok.status, ok.body)
	}
	orderURL := ok.header.Get("Location")
	var o struct {
		Finalize       string   `json:"finalize"`
		Authorizations []string `json:"authorizations"`
	}
	json.Unmarshal(ok.body, &o)
	expect(t, c.do(orderURL, map[string]any{}), 400, "malformed", "POST-as-GET")
	expect(t, c.do(c.base+"/order/unknown", nil), 404, "malformed", "not found")
	other := newRawClient(t, e)
	other.register()
	expect(t, other.do(orderURL, nil), 403, "unauthorized", "another account")
	expect(t, other.do(o.Authorizations[0], nil), 403, "unauthorized", "another account")

	csr := func(key any, names ...string) map[string]string {
		der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{}, DNSNames: names}, key)
		if err != nil {
			t.Fatal(err)
		}
		return map[string]string{"csr": b64(der)}
	}
	certKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	expect(t, c.do(o.Finalize, csr(certKey, "a.example")), 403, "orderNotReady", "pending")
	expect(t, c.do(o.Finalize, map[string]string{"csr": "!!!"}), 400, "badCSR", "base64url")
	expect(t, c.do(o.Authorizations[0], map[string]string{"status": "valid"}), 400, "malformed", "deactivated")
	expect(t, c.do(o.Authorizations[0]+"x", nil), 404, "malformed", "not found")
}

func TestRevokeBadInput(t *testing.T) {
	e := newEnv(t)
	c := newRawClient(t, e)
	c.register()
	rv := c.base + "/revoke-cert"
	expect(t, c.do(rv, map[string]any{"certificate": "!!"}), 400, "malformed", "base64url")
	expect(t, c.do(rv, map[string]any{"certificate": b64([]byte("junk"))}), 400, "malformed", "parsed")
	expect(t, c.do(rv, map[string]any{"certificate": b64(e.rootDER), "reason": 7}), 400, "badRevocationReason", "7")
	expect(t, c.do(rv, map[string]any{"certificate": b64(e.rootDER)}), 404, "malformed", "not found")
}
