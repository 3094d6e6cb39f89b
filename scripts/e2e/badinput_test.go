package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/acme"

	"github.com/acmera/acmera/scripts/internal/e2eutil"
)

// wantACMEError checks an x/crypto/acme error: HTTP status, problem type,
// and a detail naming what was wrong.
func wantACMEError(t *testing.T, err error, status int, typ string, mention ...string) {
	t.Helper()
	var ae *acme.Error
	if !errors.As(err, &ae) {
		t.Errorf("error %v (%T), want an ACME problem %s", err, err, typ)
		return
	}
	if ae.StatusCode != status || ae.ProblemType != typ {
		t.Errorf("got %d %s (%q), want %d %s", ae.StatusCode, ae.ProblemType, ae.Detail, status, typ)
		return
	}
	for _, m := range mention {
		if !strings.Contains(strings.ToLower(ae.Detail), strings.ToLower(m)) {
			t.Errorf("detail %q does not mention %q", ae.Detail, m)
		}
	}
}

// TestBadJWS sends hand-made JWS requests that break RFC 8555 §6.2-§6.5:
// each gets the right problem, status and a detail naming the fault.
func TestBadJWS(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := e2eutil.TestContext(t, 60*time.Second)
	cl := e.newClient(ctx, t)
	raw := newRawClient(ctx, t, e.Srv)
	acct := string(cl.KID)
	good := signer{key: keyOf(t, cl.Key), kid: acct}
	order, _ := json.Marshal(map[string]any{"identifiers": []map[string]string{{"type": "dns", "value": "bad.e2e.test"}}})
	slash := strings.LastIndex(acct, "/")
	unknownKID := acct[:slash+1] + "AAAAAAAAAAAAAAAAAAAAAA"
	tests := []struct {
		name    string
		send    func(t *testing.T) reply
		status  int
		typ     string
		mention []string
	}{
		{"url differs from the request URL", func(t *testing.T) reply {
			wrong := raw.url(t, "newAccount")
			return raw.post(ctx, t, raw.url(t, "newOrder"), good.sign(t, wrong, raw.nonce(ctx, t), order))
		}, 403, probUnauthorized, []string{"url", raw.url(t, "newAccount")}},
		{"unknown kid", func(t *testing.T) reply {
			return raw.signed(ctx, t, raw.url(t, "newOrder"), signer{key: good.key, kid: unknownKID}, order)
		}, 400, probAccountDoesNotExist, []string{"account"}},
		{"alg HS256", func(t *testing.T) reply {
			return raw.signed(ctx, t, raw.url(t, "newOrder"), signer{key: good.key, kid: acct, alg: "HS256"}, order)
		}, 400, probBadSigAlg, []string{"HS256"}},
		{"alg none", func(t *testing.T) reply {
			return raw.signed(ctx, t, raw.url(t, "newOrder"), signer{key: good.key, kid: acct, alg: "none"}, order)
		}, 400, probBadSigAlg, []string{"none"}},
		{"alg none with a signature", func(t *testing.T) reply {
			jws := signer{key: good.key, kid: acct, alg: "none"}.sign(t, raw.url(t, "newOrder"), raw.nonce(ctx, t), order)
			return raw.post(ctx, t, raw.url(t, "newOrder"), withSignature(t, jws, "c2lnbmF0dXJl"))
		}, 400, probBadSigAlg, []string{"none"}},
		{"alg none on newAccount", func(t *testing.T) reply {
			return raw.signed(ctx, t, raw.url(t, "newAccount"), signer{key: newKey(t), alg: "none"}, []byte(`{"termsOfServiceAgreed":true}`))
		}, 400, probBadSigAlg, []string{"none"}},
		{"replayed nonce", func(t *testing.T) reply {
			n := raw.nonce(ctx, t)
			if r := raw.post(ctx, t, acct, good.sign(t, acct, n, nil)); r.Status != 200 {
				t.Fatalf("first use of a nonce: %d %s", r.Status, r.Body)
			}
			return raw.post(ctx, t, acct, good.sign(t, acct, n, nil))
		}, 400, probBadNonce, []string{"nonce"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.send(t).want(t, tt.status, tt.typ, tt.mention...)
		})
	}
	// None of the refused newOrder requests may have created an order:
	// a POST-as-GET of the account still works and nothing else changed.
	if r := raw.signed(ctx, t, acct, good, nil); r.Status != 200 {
		t.Errorf("account POST-as-GET after the bad requests: %d %s", r.Status, r.Body)
	}
}

// withSignature replaces the signature member of a flattened JWS.
func withSignature(t *testing.T, jws []byte, sig string) []byte {
	t.Helper()
	var m map[string]string
	if err := json.Unmarshal(jws, &m); err != nil {
		t.Fatalf("json.Unmarshal: %v", err)
	}
	m["signature"] = sig
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatalf("json.Marshal: %v", err)
	}
	return b
}

// TestBadRequests drives x/crypto/acme into RFC 8555 error paths: each
// gets the right problem, and the refused request leaves no state behind.
func TestBadRequests(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := e2eutil.TestContext(t, 90*time.Second)
	cl := e.newClient(ctx, t)

	t.Run("unsupported contact", func(t *testing.T) {
		c := &acme.Client{Key: newKey(t), DirectoryURL: e.Srv.DirURL, HTTPClient: e.Srv.HTTPClient()}
		_, err := c.Register(ctx, &acme.Account{Contact: []string{"tel:+15555550100"}}, acme.AcceptTOS)
		wantACMEError(t, err, 400, probUnsupportedCont, "tel")
		if _, err := c.GetReg(ctx, ""); !errors.Is(err, acme.ErrNoAccount) {
			t.Errorf("GetReg after the refused newAccount: %v, want accountDoesNotExist", err)
		}
	})
	t.Run("finalize before ready", func(t *testing.T) {
		ids := acme.DomainIDs("notready.e2e.test")
		o, err := cl.AuthorizeOrder(ctx, ids)
		if err != nil {
			t.Fatalf("AuthorizeOrder: %v", err)
		}
		_, _, err = cl.CreateOrderCert(ctx, o.FinalizeURL, csrFor(t, newKey(t), ids), true)
		wantACMEError(t, err, 403, probOrderNotReady, "pending")
		if o, err := cl.GetOrder(ctx, o.URI); err != nil || o.Status != acme.StatusPending {
			t.Errorf("order after the refused finalize: %+v, %v; want pending", o, err)
		}
	})
	t.Run("CSR with an extra name", func(t *testing.T) {
		ids := acme.DomainIDs("csr.e2e.test")
		o := e.authorize(ctx, t, cl, ids, always("http-01"))
		key := newKey(t)
		extra := slices.Concat(ids, acme.DomainIDs("extra.e2e.test"))
		_, _, err := cl.CreateOrderCert(ctx, o.FinalizeURL, csrFor(t, key, extra), true)
		wantACMEError(t, err, 400, probBadCSR, "extra.e2e.test")
		if o, err := cl.GetOrder(ctx, o.URI); err != nil || o.Status != acme.StatusReady {
			t.Fatalf("order after the refused CSR: %+v, %v; want still ready", o, err)
		}
		chain, _, err := cl.CreateOrderCert(ctx, o.FinalizeURL, csrFor(t, key, ids), true)
		if err != nil {
			t.Fatalf("finalize with the right CSR after a bad one: %v", err)
		}
		verifyChain(t, e.Srv.Root, chain, ids, key.Public())
	})
	t.Run("CSR signed with the account key", func(t *testing.T) {
		ids := acme.DomainIDs("acctkey.e2e.test")
		o := e.authorize(ctx, t, cl, ids, always("dns-01"))
		_, _, err := cl.CreateOrderCert(ctx, o.FinalizeURL, csrFor(t, cl.Key, ids), true)
		var ae *acme.Error
		if !errors.As(err, &ae) || ae.StatusCode != 400 || (ae.ProblemType != probBadCSR && ae.ProblemType != probNS+"badPublicKey") {
			t.Errorf("CSR with the account key: %v, want 400 badCSR or badPublicKey", err)
		}
	})
	t.Run("revocation reason 7", func(t *testing.T) {
		chain, _ := e.issue(ctx, t, cl, acme.DomainIDs("reason.e2e.test"), always("http-01"))
		err := cl.RevokeCert(ctx, nil, chain[0], acme.CRLReasonCode(7))
		wantACMEError(t, err, 400, probBadRevocation, "reason")
		if err := cl.RevokeCert(ctx, nil, chain[0], acme.CRLReasonCessationOfOperation); err != nil {
			t.Errorf("revocation with a valid reason after the refused one: %v", err)
		}
	})
	t.Run("http-01 with a wrong body", func(t *testing.T) {
		wrongBody(ctx, t, e, cl)
	})
}

// wrongBody answers http-01 with the wrong key authorization: the
// authorization, challenge and order become invalid, and the challenge's
// problem names the identifier (RFC 8555 §7.1.6, §8.3).
func wrongBody(ctx context.Context, t *testing.T, e *env, cl *acme.Client) {
	const name = "wrong.e2e.test"
	o, err := cl.AuthorizeOrder(ctx, acme.DomainIDs(name))
	if err != nil {
		t.Fatalf("AuthorizeOrder: %v", err)
	}
	z, err := cl.GetAuthorization(ctx, o.AuthzURLs[0])
	if err != nil {
		t.Fatalf("GetAuthorization: %v", err)
	}
	ch := findChallenge(t, z, "http-01")
	e.HTTP01.Set(ch.Token, "this-is-not-the-key-authorization")
	if _, err := cl.Accept(ctx, ch); err != nil {
		t.Fatalf("Accept: %v", err)
	}
	if _, err := cl.WaitAuthorization(ctx, z.URI); err == nil {
		t.Fatalf("WaitAuthorization succeeded with a wrong body")
	}
	if e.HTTP01.Hits(ch.Token) == 0 {
		t.Errorf("the server never fetched the challenge")
	}
	z, err = cl.GetAuthorization(ctx, z.URI)
	if err != nil || z.Status != acme.StatusInvalid {
		t.Fatalf("authorization: %+v, %v; want invalid", z, err)
	}
	got := findChallenge(t, z, "http-01")
	if got.Status != acme.StatusInvalid || got.Error == nil {
		t.Fatalf("challenge: status %s, error %v; want invalid with a problem", got.Status, got.Error)
	}
	var ae *acme.Error
	if !errors.As(got.Error, &ae) || (ae.ProblemType != probIncorrectResponse && ae.ProblemType != probUnauthorized) {
		t.Errorf("challenge problem %v, want incorrectResponse or unauthorized", got.Error)
	} else if !strings.Contains(ae.Detail, name) {
		t.Errorf("challenge problem detail %q does not name %s", ae.Detail, name)
	}
	if o, err := cl.GetOrder(ctx, o.URI); err != nil || o.Status != acme.StatusInvalid {
		t.Errorf("order after the failed validation: %+v, %v; want invalid", o, err)
	}
}
