package e2ecloud

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/acmera/acmera/scripts/internal/e2eutil"
)

// TestAdminPageOnCloudRun: the ACME function serves the read-only admin
// page at /admin only to an allow-listed service account's Google ID
// token for the configured audience: no token is 401, another account's
// or another audience's token is 403, and neither leaks the page; the
// allowed token gets the page naming a certificate just issued.
func TestAdminPageOnCloudRun(t *testing.T) {
	t.Parallel()
	needEmulator(t)
	gcp := startFakeGCP(t)
	const admin, aud = "pki-ops@acmera-test.iam.gserviceaccount.com", "https://acme.acmera.test"
	s := newStack(t, gcp.gcpEndpoints, "ACMERA_ADMIN_ALLOW="+admin, "ACMERA_ADMIN_AUDIENCE="+aud)
	ctx := e2eutil.TestContext(t, time.Minute)
	cl, err := newClient(s.DirURL, nil)
	mustf(t, err, "newClient")
	mustf(t, register(ctx, cl), "register")
	is, err := s.issue(ctx, cl, gcp.Roots(t), []string{"admin-page.example.test"}, "http-01")
	mustf(t, err, "issue")

	token := func(email, audience string) string {
		t.Helper()
		res, err := e2eutil.HTTPClient(nil).Get(gcp.HTTP + "/token?" + url.Values{"email": {email}, "audience": {audience}}.Encode())
		mustf(t, err, "GET /token")
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		if res.StatusCode != http.StatusOK {
			t.Fatalf("GET /token: %s %s", res.Status, b)
		}
		return string(b)
	}
	get := func(bearer string) (int, string) {
		t.Helper()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.ACME.URL()+"admin", nil)
		if bearer != "" {
			req.Header.Set("Authorization", "Bearer "+bearer)
		}
		res, err := e2eutil.HTTPClient(nil).Do(req)
		mustf(t, err, "GET /admin")
		defer res.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(res.Body, 1<<20))
		return res.StatusCode, string(b)
	}
	name, serial := "admin-page.example.test", is.Leaf.SerialNumber.Text(16)
	for _, tc := range []struct {
		name   string
		bearer string
		want   int
	}{
		{"no token", "", http.StatusUnauthorized},
		{"garbage", "not.a.token", http.StatusUnauthorized},
		{"another service account", token("someone@acmera-test.iam.gserviceaccount.com", aud), http.StatusForbidden},
		{"another audience", token(admin, "https://elsewhere.test"), http.StatusForbidden},
	} {
		st, body := get(tc.bearer)
		if st != tc.want || strings.Contains(body, name) {
			t.Errorf("%s: %d (page shown: %v), want %d and nothing of the page", tc.name, st, strings.Contains(body, name), tc.want)
		}
	}
	st, body := get(token(admin, aud))
	if st != http.StatusOK || !strings.Contains(body, name) || !strings.Contains(strings.ToLower(body), serial) {
		t.Errorf("allow-listed account: %d, page names the certificate %v / serial %v", st, strings.Contains(body, name), strings.Contains(strings.ToLower(body), serial))
	}
}
