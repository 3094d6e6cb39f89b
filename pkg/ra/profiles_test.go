package ra

import (
	"strings"
	"testing"

	"github.com/acmera/acmera/pkg/acme"
	"github.com/acmera/acmera/pkg/core"
	"github.com/acmera/acmera/pkg/problem"
)

// NewOrder applies policy.Profile.AllowedFor: a profile that requires EAB
// is refused to an unbound account (403 unauthorized naming the profile)
// and allowed to a bound one.
func TestNewOrderProfileUseRule(t *testing.T) {
	f := newFixture(t, 0)
	f.ra.policy.Profile("acme").RequireEAB = true
	req := NewOrderRequest{Profile: "acme", Identifiers: []acme.Identifier{{Type: "dns", Value: "a.example"}}}
	_, err := f.ra.NewOrder(t.Context(), f.acct, req)
	p, ok := problem.Of(err)
	if !ok || p.Type != problem.Unauthorized || p.Status != 403 || !strings.Contains(p.Detail, `may not use profile "acme"`) {
		t.Fatalf("unbound account: %v, want 403 unauthorized naming the profile", err)
	}
	if err := f.store.CreateEABKey(t.Context(), &core.EABKey{KID: "eab-key-1", Profile: "acme", HMAC: []byte("k"), Reusable: true}); err != nil {
		t.Fatal(err)
	}
	bound := *f.acct
	bound.EABKeyID = "eab-key-1"
	if _, err := f.ra.NewOrder(t.Context(), &bound, req); err != nil {
		t.Fatalf("bound account: %v", err)
	}
}
