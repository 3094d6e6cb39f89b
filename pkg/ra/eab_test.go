package ra

import (
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/acmera/acmera/pkg/acme"
	"github.com/acmera/acmera/pkg/core"
	"github.com/acmera/acmera/pkg/problem"
	"github.com/acmera/acmera/pkg/store"
)

var eabSecret = []byte("0123456789abcdef0123456789abcdef")

func (f *fixture) eabKey(t *testing.T, change func(*core.EABKey)) *core.EABKey {
	t.Helper()
	k := &core.EABKey{KID: "kid-" + core.NewID(), Profile: "acme", HMAC: eabSecret, CreatedAt: f.now}
	if change != nil {
		change(k)
	}
	if err := f.store.CreateEABKey(t.Context(), k); err != nil {
		t.Fatal(err)
	}
	return k
}

// binding MACs a stand-in signing input with secret.
func binding(kid string, secret []byte) *EABBinding {
	in := []byte("protected.payload")
	m := hmac.New(sha256.New, secret)
	m.Write(in)
	return &EABBinding{KID: kid, Alg: "HS256", SigningInput: in, MAC: m.Sum(nil)}
}

func eabAccountReq(eab *EABBinding) NewAccountRequest {
	return NewAccountRequest{Profile: "acme", Key: []byte(`{}`), Thumbprint: core.NewID(), EAB: eab}
}

func wantProblem(t *testing.T, err error, typ problem.Type, status int, detail string) {
	t.Helper()
	p, ok := problem.Of(err)
	if !ok || p.Type != typ || p.Status != status || !strings.Contains(p.Detail, detail) {
		t.Fatalf("error %v, want %s %d containing %q", err, typ, status, detail)
	}
	if strings.Contains(p.Detail, string(eabSecret)) {
		t.Fatalf("detail %q shows the secret", p.Detail)
	}
}

func TestNewAccountEABRefusals(t *testing.T) {
	f := newFixture(t, 0)
	f.ra.policy.Profile("acme").RequireEAB = true
	used := f.eabKey(t, nil)
	if _, _, err := f.ra.NewAccount(t.Context(), eabAccountReq(binding(used.KID, eabSecret))); err != nil {
		t.Fatalf("first use: %v", err)
	}
	revoked := f.eabKey(t, func(k *core.EABKey) { k.Reusable = true })
	if _, err := f.store.RevokeEABKey(t.Context(), revoked.KID, f.now); err != nil {
		t.Fatal(err)
	}
	expired := f.eabKey(t, func(k *core.EABKey) { k.Expires = f.now.Add(-time.Second) })
	other := f.eabKey(t, func(k *core.EABKey) { k.Profile = "other" })
	good := f.eabKey(t, nil)
	hs384 := binding(good.KID, eabSecret)
	hs384.Alg = "HS384" // the MAC is HS256's
	rs := binding(good.KID, eabSecret)
	rs.Alg = "RS256"
	for _, tc := range []struct {
		name   string
		eab    *EABBinding
		typ    problem.Type
		status int
		detail string
	}{
		{"missing", nil, problem.ExternalAccountRequired, 401, `profile "acme" requires an external account binding`},
		{"unknown kid", binding("kid-nope", eabSecret), problem.Unauthorized, 403, `no EAB key "kid-nope"`},
		{"wrong MAC", binding(good.KID, []byte("another secret")), problem.Unauthorized, 403, "MAC does not verify"},
		{"wrong alg for MAC", hs384, problem.Unauthorized, 403, "MAC does not verify"},
		{"not a MAC", rs, problem.Malformed, 400, "is not a MAC"},
		{"other profile", binding(other.KID, eabSecret), problem.Unauthorized, 403, `is not for profile "acme"`},
		{"expired", binding(expired.KID, eabSecret), problem.Unauthorized, 403, "expired"},
		{"revoked", binding(revoked.KID, eabSecret), problem.Unauthorized, 403, "was revoked"},
		{"used up", binding(used.KID, eabSecret), problem.Unauthorized, 403, "single-use and already bound"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := eabAccountReq(tc.eab)
			_, _, err := f.ra.NewAccount(t.Context(), req)
			wantProblem(t, err, tc.typ, tc.status, tc.detail)
			if _, err := f.store.GetAccountByKey(t.Context(), req.Thumbprint); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("an account was stored: %v", err)
			}
		})
	}
	for kid, uses := range map[string]int{used.KID: 1, revoked.KID: 0, expired.KID: 0, good.KID: 0} {
		if k, _ := f.store.GetEABKey(t.Context(), kid); k.Uses != uses {
			t.Errorf("key %s: Uses = %d, want %d", kid, k.Uses, uses)
		}
	}
}

// A known account key gets its account and binds nothing, with or
// without a binding; an optional binding on a profile without requireEAB
// is verified and recorded.
func TestNewAccountEABExistingAndOptional(t *testing.T) {
	f := newFixture(t, 0)
	k := f.eabKey(t, nil)
	req := eabAccountReq(binding(k.KID, eabSecret))
	a, created, err := f.ra.NewAccount(t.Context(), req)
	if err != nil || !created || a.EABKeyID != k.KID {
		t.Fatalf("optional binding: %+v, %v, %v", a, created, err)
	}
	again, created, err := f.ra.NewAccount(t.Context(), req)
	if err != nil || created || again.ID != a.ID {
		t.Fatalf("same key again: %+v, %v, %v; want the existing account", again, created, err)
	}
	if got, _ := f.store.GetEABKey(t.Context(), k.KID); got.Uses != 1 {
		t.Errorf("Uses = %d, want 1", got.Uses)
	}
	// A bad binding is refused even where EAB is optional.
	_, _, err = f.ra.NewAccount(t.Context(), eabAccountReq(binding(k.KID, []byte("x"))))
	wantProblem(t, err, problem.Unauthorized, 403, "MAC does not verify")
	// requireEAB with a known key and no binding: the existing account.
	f.ra.policy.Profile("acme").RequireEAB = true
	req.EAB = nil
	if got, _, err := f.ra.NewAccount(t.Context(), req); err != nil || got.ID != a.ID {
		t.Fatalf("requireEAB, known key: %+v, %v", got, err)
	}
}

func TestNewOrderEABNarrowing(t *testing.T) {
	f := newFixture(t, 0)
	k := f.eabKey(t, func(k *core.EABKey) {
		k.Reusable, k.Allow, k.Challenges, k.MaxLifetime = true, []string{"*.team-a.test", "10.0.0.0/8"}, []string{"http-01"}, 2*time.Hour
	})
	acct, _, err := f.ra.NewAccount(t.Context(), eabAccountReq(binding(k.KID, eabSecret)))
	if err != nil {
		t.Fatal(err)
	}
	dns := func(v string) acme.Identifier { return acme.Identifier{Type: acme.IdentifierDNS, Value: v} }
	o, err := f.ra.NewOrder(t.Context(), acct, NewOrderRequest{Profile: "acme", Identifiers: []acme.Identifier{dns("x.team-a.test"), {Type: "ip", Value: "10.1.1.1"}}})
	if err != nil {
		t.Fatalf("allowed order: %v", err)
	}
	if o.LifetimeCap != 2*time.Hour {
		t.Errorf("LifetimeCap = %v, want the key's 2h", o.LifetimeCap)
	}
	for _, id := range o.AuthzIDs {
		az, _ := f.store.GetAuthorization(t.Context(), id)
		if len(az.Challenges) != 1 || az.Challenges[0].Type != "http-01" {
			t.Errorf("authz %s offers %+v, want http-01 only", az.Identifier.Value, az.Challenges)
		}
	}

	_, err = f.ra.NewOrder(t.Context(), acct, NewOrderRequest{Profile: "acme", Identifiers: []acme.Identifier{dns("x.team-b.test")}})
	wantProblem(t, err, problem.RejectedIdentifier, 400, k.KID)
	p, _ := problem.Of(err)
	if len(p.Subproblems) != 1 || p.Subproblems[0].Type != problem.RejectedIdentifier || *p.Subproblems[0].Identifier != dns("x.team-b.test") {
		t.Errorf("subproblems %+v, want one rejectedIdentifier for x.team-b.test", p.Subproblems)
	}
	// A wildcard needs dns-01, which the key does not offer.
	_, err = f.ra.NewOrder(t.Context(), acct, NewOrderRequest{Profile: "acme", Identifiers: []acme.Identifier{dns("*.team-a.test"), dns("a.team-b.test")}})
	wantProblem(t, err, problem.RejectedIdentifier, 400, "2 of the order's identifiers were refused")
	if p, _ := problem.Of(err); len(p.Subproblems) != 2 || !strings.Contains(p.Subproblems[0].Detail, "no challenge type") {
		t.Errorf("subproblems %+v", p.Subproblems)
	}
	_, err = f.ra.NewOrder(t.Context(), acct, NewOrderRequest{Profile: "acme", Identifiers: []acme.Identifier{dns("y.team-a.test")}, NotAfter: f.now.Add(3 * time.Hour)})
	wantProblem(t, err, problem.Malformed, 400, "maximum of 2h0m0s set by EAB key")

	if _, err := f.store.RevokeEABKey(t.Context(), k.KID, f.now); err != nil {
		t.Fatal(err)
	}
	_, err = f.ra.NewOrder(t.Context(), acct, NewOrderRequest{Profile: "acme", Identifiers: []acme.Identifier{dns("x.team-a.test")}})
	wantProblem(t, err, problem.Unauthorized, 403, "EAB key \""+k.KID+"\" that bound this account was revoked")
}
