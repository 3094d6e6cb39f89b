package wfe_test

import (
	"encoding/json"
	"net/http"
	"testing"

	acmefn "github.com/acmera/acmera/functions/acme"
	"github.com/acmera/acmera/pkg/policy"
)

// An account may order under any listed profile (here through newOrder's
// "profile" member), but not under one that requires EAB unless it was
// bound with an EAB key: unauthorized, naming the profile.
func TestProfileUseRule(t *testing.T) {
	pol, err := policy.Parse([]byte(`{"profiles":{"acme":{"allowAnyName":true},"other":{"allowAnyName":true},"restricted":{"allowAnyName":true,"requireEAB":true}}}`))
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, func(p *acmefn.Parts) { p.Policy = pol })
	c := newRawClient(t, e)
	c.register()
	order := func(profile string) *response {
		return c.do(c.base+"/new-order", map[string]any{"profile": profile,
			"identifiers": []map[string]string{{"type": "dns", "value": "a.example"}}})
	}
	for _, p := range []string{"acme", "other"} {
		r := order(p)
		if r.status != http.StatusCreated {
			t.Fatalf("profile %s: %d %s", p, r.status, r.body)
		}
		// The order echoes its profile (draft-ietf-acme-profiles §4).
		var o struct{ Profile string }
		if err := json.Unmarshal(r.body, &o); err != nil || o.Profile != p {
			t.Errorf("order of profile %s echoes profile %q (%v)", p, o.Profile, err)
		}
	}
	expect(t, order("restricted"), http.StatusForbidden, "unauthorized", `may not use profile "restricted": it requires an account bound with an external account key`)
}
