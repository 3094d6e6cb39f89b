package wfe_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/json"
	"errors"
	"hash"
	"maps"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/crypto/acme"

	acmefn "github.com/acmera/acmera/functions/acme"
	"github.com/acmera/acmera/pkg/core"
	"github.com/acmera/acmera/pkg/policy"
	"github.com/acmera/acmera/pkg/store/bolt"
)

var eabSecret = []byte("0123456789abcdef0123456789abcdef")

// eabEnv is an env whose default profile requires EAB and whose "open"
// profile does not, over a store the test can read.
func eabEnv(t *testing.T) (*env, *bolt.Store) {
	t.Helper()
	dir := t.TempDir()
	st, err := bolt.Open(filepath.Join(dir, "acmera.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	pol, err := policy.Parse([]byte(`{"profiles":{"acme":{"allowAnyName":true,"requireEAB":true},"open":{"allowAnyName":true}}}`))
	if err != nil {
		t.Fatal(err)
	}
	return newEnvOn(t, dir, st, func(p *acmefn.Parts) { p.Policy = pol }), st
}

func mkEABKey(t *testing.T, st *bolt.Store, change func(*core.EABKey)) *core.EABKey {
	t.Helper()
	k := &core.EABKey{KID: "kid-" + core.NewID(), Profile: "acme", HMAC: eabSecret, CreatedAt: time.Now()}
	if change != nil {
		change(k)
	}
	if err := st.CreateEABKey(t.Context(), k); err != nil {
		t.Fatal(err)
	}
	return k
}

// eabParts are the parts of a binding a test may break.
type eabParts struct {
	hdr     map[string]any
	payload []byte
	secret  []byte
	hash    func() hash.Hash
}

func (c *rawClient) eabParts(kid, url string) *eabParts {
	jwk, _ := json.Marshal(c.jwk())
	return &eabParts{hdr: map[string]any{"alg": "HS256", "kid": kid, "url": url}, payload: jwk, secret: eabSecret, hash: sha256.New}
}

func (p *eabParts) jws() json.RawMessage {
	ph, _ := json.Marshal(p.hdr)
	input := b64(ph) + "." + b64(p.payload)
	m := hmac.New(p.hash, p.secret)
	m.Write([]byte(input))
	b, _ := json.Marshal(map[string]string{"protected": b64(ph), "payload": b64(p.payload), "signature": b64(m.Sum(nil))})
	return b
}

func TestNewAccountEAB(t *testing.T) {
	e, st := eabEnv(t)
	used := mkEABKey(t, st, nil)
	revoked := mkEABKey(t, st, func(k *core.EABKey) { k.Reusable = true })
	if _, err := st.RevokeEABKey(t.Context(), revoked.KID, time.Now()); err != nil {
		t.Fatal(err)
	}
	expired := mkEABKey(t, st, func(k *core.EABKey) { k.Expires = time.Now().Add(-time.Minute) })
	other := mkEABKey(t, st, func(k *core.EABKey) { k.Profile = "open" })
	good := mkEABKey(t, st, nil)

	first := newRawClient(t, e)
	url := first.base + "/new-account"
	r := first.do(url, map[string]any{"termsOfServiceAgreed": true, "externalAccountBinding": first.eabParts(used.KID, url).jws()})
	if r.status != http.StatusCreated {
		t.Fatalf("first use: %d %s", r.status, r.body)
	}
	otherKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	otherJWK, _ := json.Marshal((&rawClient{key: otherKey}).jwk())
	for _, tc := range []struct {
		name   string
		change func(p *eabParts)
		none   bool
		status int
		typ    string
		detail string
	}{
		{"missing", nil, true, 401, "externalAccountRequired", "requires an external account binding"},
		{"wrong MAC", func(p *eabParts) { p.secret = []byte("not the secret") }, false, 403, "unauthorized", "MAC does not verify"},
		{"HS512 header, HS256 MAC", func(p *eabParts) { p.hdr["alg"] = "HS512" }, false, 403, "unauthorized", "MAC does not verify"},
		{"unknown kid", func(p *eabParts) { p.hdr["kid"] = "kid-unknown" }, false, 403, "unauthorized", `no EAB key "kid-unknown"`},
		{"other profile", func(p *eabParts) { p.hdr["kid"] = other.KID }, false, 403, "unauthorized", `is not for profile "acme"`},
		{"expired", func(p *eabParts) { p.hdr["kid"] = expired.KID }, false, 403, "unauthorized", "expired"},
		{"revoked", func(p *eabParts) { p.hdr["kid"] = revoked.KID }, false, 403, "unauthorized", "was revoked"},
		{"used up", func(p *eabParts) { p.hdr["kid"] = used.KID }, false, 403, "unauthorized", "already bound an account"},
		{"asymmetric alg", func(p *eabParts) { p.hdr["alg"] = "ES256" }, false, 400, "malformed", "use HS256, HS384 or HS512"},
		{"alg none", func(p *eabParts) { p.hdr["alg"] = "none" }, false, 400, "malformed", "use HS256, HS384 or HS512"},
		{"no kid", func(p *eabParts) { delete(p.hdr, "kid") }, false, 400, "malformed", "kid"},
		{"nonce", func(p *eabParts) { p.hdr["nonce"] = "abc" }, false, 400, "malformed", "must not carry a nonce"},
		{"other url", func(p *eabParts) { p.hdr["url"] = e.srv.URL + "/acme/open/new-account" }, false, 400, "malformed", "url must equal"},
		{"other key", func(p *eabParts) { p.payload = otherJWK }, false, 400, "malformed", "not the key that signs"},
		{"payload not a JWK", func(p *eabParts) { p.payload = []byte(`{"a":1}`) }, false, 400, "malformed", "public key as a JWK"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newRawClient(t, e)
			before, _ := st.Snapshot(t.Context())
			payload := map[string]any{"termsOfServiceAgreed": true}
			if !tc.none {
				p := c.eabParts(good.KID, url)
				tc.change(p)
				payload["externalAccountBinding"] = p.jws()
			}
			expect(t, c.do(url, payload), tc.status, tc.typ, tc.detail)
			after, _ := st.Snapshot(t.Context())
			if !maps.EqualFunc(before, after, func(a, b []byte) bool { return string(a) == string(b) }) {
				t.Error("the refused request changed the store")
			}
		})
	}
	t.Run("not a JWS", func(t *testing.T) {
		c := newRawClient(t, e)
		expect(t, c.do(url, map[string]any{"externalAccountBinding": "x"}), 400, "malformed", "externalAccountBinding")
	})
	t.Run("HS512 and an optional binding on an open profile", func(t *testing.T) {
		c := newRawClient(t, e)
		p := c.eabParts(good.KID, url)
		p.hdr["alg"], p.hash = "HS512", sha512.New
		if r := c.do(url, map[string]any{"externalAccountBinding": p.jws()}); r.status != http.StatusCreated {
			t.Fatalf("HS512: %d %s", r.status, r.body)
		}
		open := mkEABKey(t, st, func(k *core.EABKey) { k.Profile = "open" })
		c = newRawClient(t, e)
		c.base = e.srv.URL + "/acme/open"
		openURL := c.base + "/new-account"
		if r := c.do(openURL, map[string]any{"externalAccountBinding": c.eabParts(open.KID, openURL).jws()}); r.status != http.StatusCreated {
			t.Fatalf("optional binding: %d %s", r.status, r.body)
		}
		a, err := st.GetAccountByKey(t.Context(), c.thumbprint())
		if err != nil || a.EABKeyID != open.KID {
			t.Fatalf("account %+v, %v; want bound to %s", a, err, open.KID)
		}
	})
}

// golang.org/x/crypto/acme registers with an EAB key (its
// ExternalAccountBinding), and an account of a requireEAB profile orders.
func TestNewAccountEABXCrypto(t *testing.T) {
	e, st := eabEnv(t)
	k := mkEABKey(t, st, func(k *core.EABKey) { k.Allow = []string{"*.team-a.test"} })
	c := e.client(t)
	ctx := t.Context()
	if _, err := c.Register(ctx, &acme.Account{}, acme.AcceptTOS); err == nil {
		t.Fatal("registered without EAB")
	}
	a, err := c.Register(ctx, &acme.Account{ExternalAccountBinding: &acme.ExternalAccountBinding{KID: k.KID, Key: eabSecret}}, acme.AcceptTOS)
	if err != nil {
		t.Fatalf("Register with EAB: %v", err)
	}
	if a.Status != acme.StatusValid {
		t.Fatalf("account %+v", a)
	}
	if _, err := c.AuthorizeOrder(ctx, []acme.AuthzID{{Type: "dns", Value: "x.team-a.test"}}); err != nil {
		t.Fatalf("allowed order: %v", err)
	}
	_, err = c.AuthorizeOrder(ctx, []acme.AuthzID{{Type: "dns", Value: "x.team-b.test"}})
	var ae *acme.Error
	if !errors.As(err, &ae) || ae.ProblemType != urn+"rejectedIdentifier" || len(ae.Subproblems) != 1 ||
		ae.Subproblems[0].Identifier == nil || ae.Subproblems[0].Identifier.Value != "x.team-b.test" {
		t.Fatalf("refused order: %v, want rejectedIdentifier with a subproblem for x.team-b.test", err)
	}
}
