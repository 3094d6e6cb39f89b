package wfe_test

import (
	"net/http"
	"net/netip"
	"strconv"
	"testing"

	acmefn "github.com/acmera/acmera/functions/acme"
	"github.com/acmera/acmera/pkg/policy"
)

// registerFrom creates an account for a fresh key, with X-Forwarded-For
// set to xff when not empty.
func registerFrom(t *testing.T, e *env, xff string) *response {
	t.Helper()
	c := newRawClient(t, e)
	if xff != "" {
		c.extra = http.Header{"X-Forwarded-For": {xff}}
	}
	return c.do(c.base+"/new-account", map[string]any{"termsOfServiceAgreed": true})
}

// wantRateLimited checks a 429 rateLimited answer with Retry-After: the
// seconds until the limit's window, a full UTC hour on the wall clock,
// ends (pkg/ra's tests check the exact value on a fixed clock).
func wantRateLimited(t *testing.T, r *response, detailHas string) {
	t.Helper()
	expect(t, r, http.StatusTooManyRequests, "rateLimited", detailHas)
	ra := r.header.Get("Retry-After")
	if secs, err := strconv.Atoi(ra); err != nil || secs < 1 || secs > 3600 {
		t.Fatalf("Retry-After %q, want 1 to 3600 seconds, to the end of the hour", ra)
	}
}

// newAccount is limited per client address; with no trusted proxy the
// client is the TCP peer, whatever X-Forwarded-For says.
func TestNewAccountRateLimit(t *testing.T) {
	e := newEnv(t, func(p *acmefn.Parts) { p.NewAccountsPerHour = 2 })
	for i := 0; i < 2; i++ {
		if r := registerFrom(t, e, ""); r.status != http.StatusCreated {
			t.Fatalf("account %d: %d %s", i, r.status, r.body)
		}
	}
	wantRateLimited(t, registerFrom(t, e, ""), "ACMERA_NEW_ACCOUNT_RATE exceeded: 2 accounts may be created from 127.0.0.1 per hour")
	wantRateLimited(t, registerFrom(t, e, "198.51.100.1"), "from 127.0.0.1")
}

// Behind a trusted proxy, the client is the address the proxy put in
// X-Forwarded-For (the nearest one not itself a trusted proxy).
func TestNewAccountRateLimitBehindProxy(t *testing.T) {
	e := newEnv(t, func(p *acmefn.Parts) {
		p.NewAccountsPerHour = 1
		p.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("10.0.0.0/8")}
	})
	if r := registerFrom(t, e, "198.51.100.1"); r.status != http.StatusCreated {
		t.Fatalf("first account: %d %s", r.status, r.body)
	}
	wantRateLimited(t, registerFrom(t, e, "198.51.100.1"), "from 198.51.100.1")
	// A spoofed entry left of the proxy's does not make a new client.
	wantRateLimited(t, registerFrom(t, e, "203.0.113.9, 198.51.100.1, 10.0.0.5"), "from 198.51.100.1")
	if r := registerFrom(t, e, "198.51.100.2"); r.status != http.StatusCreated {
		t.Fatalf("another client: %d %s", r.status, r.body)
	}
}

// The new-order limit of a profile is rateLimited with Retry-After too.
func TestNewOrderRateLimit(t *testing.T) {
	pol, err := policy.Parse([]byte(`{"profiles":{"acme":{"allowAnyName":true,"maxOrdersPerHour":1}}}`))
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, func(p *acmefn.Parts) { p.Policy = pol })
	c := newRawClient(t, e)
	c.register()
	order := map[string]any{"identifiers": []map[string]string{{"type": "dns", "value": "a.example"}}}
	if r := c.do(c.base+"/new-order", order); r.status != http.StatusCreated {
		t.Fatalf("first order: %d %s", r.status, r.body)
	}
	wantRateLimited(t, c.do(c.base+"/new-order", order), "maxOrdersPerHour exceeded: this account may place 1 new orders per hour")
}
