package taskauth_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/acmera/acmera/pkg/taskauth"
	"github.com/acmera/acmera/scripts/fakegcp/tasksfake"
)

const (
	audience = "https://validator.example/tasks"
	sa       = "tasks@p1.iam.gserviceaccount.com"
)

// fakes holds two independent key holders: the trusted one and another.
type fakes struct {
	trusted, other *tasksfake.Server
}

// getFakes builds two independent signers for one test.
func getFakes(t *testing.T) fakes {
	t.Helper()
	var f fakes
	for _, p := range []**tasksfake.Server{&f.trusted, &f.other} {
		s, err := tasksfake.New(context.Background(), tasksfake.Config{Workers: 1})
		if err != nil {
			t.Fatalf("tasksfake.New: %v", err)
		}
		t.Cleanup(s.Close)
		*p = s
	}
	return f
}

// jwksServer serves h and counts fetches.
func jwksServer(t *testing.T, h http.Handler) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

func mint(t *testing.T, f *tasksfake.Server, edit func(map[string]any)) string {
	t.Helper()
	c := f.OIDCClaims(sa, audience)
	if edit != nil {
		edit(c)
	}
	tok, err := f.MintToken(c)
	if err != nil {
		t.Fatalf("MintToken: %v", err)
	}
	return tok
}

// signWith signs claims with key under kid and alg, bypassing the fake.
func signWith(t *testing.T, alg jose.SignatureAlgorithm, key any, kid string, claims map[string]any) string {
	t.Helper()
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: jose.JSONWebKey{Key: key, KeyID: kid}}, nil)
	if err != nil {
		t.Fatalf("jose.NewSigner: %v", err)
	}
	tok, err := jwt.Signed(s).Claims(claims).Serialize()
	if err != nil {
		t.Fatalf("Serialize: %v", err)
	}
	return tok
}

// refusalCases are the tokens every verifier must refuse, with the status.
func refusalCases(t *testing.T, f fakes) []struct {
	name, auth string
	want       int
} {
	t.Helper()
	good := mint(t, f.trusted, nil)
	parts := strings.Split(good, ".")
	sig := []byte(parts[2])
	sig[10] ^= 0x01
	tampered := parts[0] + "." + parts[1] + "." + string(sig)
	otherKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	claims := f.trusted.OIDCClaims(sa, audience)
	return []struct {
		name, auth string
		want       int
	}{
		{"valid", "Bearer " + good, http.StatusOK},
		{"lower-case scheme", "bearer " + good, http.StatusOK},
		{"no token", "", http.StatusUnauthorized},
		{"basic auth", "Basic dXNlcjpwYXNz", http.StatusUnauthorized},
		{"garbage", "Bearer not.a.jwt", http.StatusUnauthorized},
		{"other audience", "Bearer " + mint(t, f.trusted, func(c map[string]any) { c["aud"] = "https://evil.example" }), http.StatusForbidden},
		{"other service account", "Bearer " + mint(t, f.trusted, func(c map[string]any) { c["email"] = "intruder@p2.iam.gserviceaccount.com" }), http.StatusForbidden},
		{"email not verified", "Bearer " + mint(t, f.trusted, func(c map[string]any) { c["email_verified"] = false }), http.StatusForbidden},
		{"expired", "Bearer " + mint(t, f.trusted, func(c map[string]any) {
			c["iat"] = time.Now().Add(-3 * time.Hour).Unix()
			c["exp"] = time.Now().Add(-2 * time.Hour).Unix()
		}), http.StatusUnauthorized},
		{"issued in the future", "Bearer " + mint(t, f.trusted, func(c map[string]any) { c["iat"] = time.Now().Add(time.Hour).Unix() }), http.StatusUnauthorized},
		{"no exp", "Bearer " + mint(t, f.trusted, func(c map[string]any) { delete(c, "exp") }), http.StatusUnauthorized},
		{"wrong issuer", "Bearer " + mint(t, f.trusted, func(c map[string]any) { c["iss"] = "https://evil.example" }), http.StatusUnauthorized},
		{"bad signature", "Bearer " + tampered, http.StatusUnauthorized},
		{"unknown key", "Bearer " + mint(t, f.other, nil), http.StatusUnauthorized},
		{"other key, same kid", "Bearer " + signWith(t, jose.RS256, otherKey, f.trusted.KeyID(), claims), http.StatusUnauthorized},
		{"HS256", "Bearer " + signWith(t, jose.HS256, []byte("0123456789abcdef0123456789abcdef"), f.trusted.KeyID(), claims), http.StatusUnauthorized},
		{"PS256", "Bearer " + signWith(t, jose.PS256, otherKey, f.trusted.KeyID(), claims), http.StatusUnauthorized},
	}
}

func runCases(t *testing.T, v taskauth.Verifier, f fakes) {
	t.Helper()
	for _, tc := range refusalCases(t, f) {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, audience, nil)
			if tc.auth != "" {
				r.Header.Set("Authorization", tc.auth)
			}
			err := v.Verify(context.Background(), r)
			if got := taskauth.Status(err); got != tc.want {
				t.Errorf("Status = %d (%v), want %d", got, err, tc.want)
			}
		})
	}
}

func TestVerifyJWKS(t *testing.T) {
	f := getFakes(t)
	srv, _ := jwksServer(t, f.trusted.JWKSHandler())
	v, err := taskauth.New(context.Background(), taskauth.Config{Audience: audience, ServiceAccount: sa, JWKSURL: srv.URL})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	runCases(t, v, f)
}

// jwksTransport answers every request (Google's certs URL included) with
// the trusted fake's key set, so the idtoken path runs with no network.
type jwksTransport struct{ h http.Handler }

func (j jwksTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	rec := httptest.NewRecorder()
	j.h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/jwks", nil))
	return rec.Result(), nil
}

func TestVerifyGoogleValidator(t *testing.T) {
	f := getFakes(t)
	hc := &http.Client{Transport: jwksTransport{h: f.trusted.JWKSHandler()}}
	v, err := taskauth.New(context.Background(), taskauth.Config{Audience: audience, ServiceAccount: sa, HTTPClient: hc})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	runCases(t, v, f)
}

func TestJWKSRefreshIsBounded(t *testing.T) {
	f := getFakes(t)
	var serveOther atomic.Bool
	srv, fetches := jwksServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if serveOther.Load() {
			f.other.JWKSHandler().ServeHTTP(w, r)
			return
		}
		f.trusted.JWKSHandler().ServeHTTP(w, r)
	}))
	now := time.Now()
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	v, err := taskauth.New(context.Background(), taskauth.Config{
		Audience: audience, ServiceAccount: sa, JWKSURL: srv.URL, MinRefresh: time.Minute, Now: clock,
	})
	if err != nil {
		t.Fatal(err)
	}
	verify := func(tok string) int {
		r := httptest.NewRequest(http.MethodPost, audience, nil)
		r.Header.Set("Authorization", "Bearer "+tok)
		return taskauth.Status(v.Verify(context.Background(), r))
	}
	if got := verify(mint(t, f.trusted, nil)); got != http.StatusOK {
		t.Fatalf("trusted token: %d", got)
	}
	serveOther.Store(true) // key rotation
	rotated := mint(t, f.other, nil)
	for range 5 {
		if got := verify(rotated); got != http.StatusUnauthorized {
			t.Fatalf("rotated key within MinRefresh: %d, want 401", got)
		}
	}
	if n := fetches.Load(); n != 1 {
		t.Errorf("%d JWKS fetches within MinRefresh, want 1", n)
	}
	mu.Lock()
	now = now.Add(2 * time.Minute)
	mu.Unlock()
	if got := verify(rotated); got != http.StatusOK {
		t.Errorf("rotated key after MinRefresh: %d, want 200", got)
	}
	if n := fetches.Load(); n != 2 {
		t.Errorf("%d JWKS fetches, want 2", n)
	}
}

func TestKeysUnavailable(t *testing.T) {
	f := getFakes(t)
	srv := httptest.NewServer(http.NotFoundHandler())
	defer srv.Close()
	v, err := taskauth.New(context.Background(), taskauth.Config{Audience: audience, ServiceAccount: sa, JWKSURL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest(http.MethodPost, audience, nil)
	r.Header.Set("Authorization", "Bearer "+mint(t, f.trusted, nil))
	if got := taskauth.Status(v.Verify(context.Background(), r)); got != http.StatusServiceUnavailable {
		t.Errorf("Status = %d, want 503", got)
	}
}

func TestNewNeedsAudienceAndAccount(t *testing.T) {
	for _, cfg := range []taskauth.Config{{Audience: audience}, {ServiceAccount: sa}} {
		if _, err := taskauth.New(context.Background(), cfg); err == nil {
			t.Errorf("New(%+v) succeeded", cfg)
		}
	}
}

func TestMiddleware(t *testing.T) {
	f := getFakes(t)
	srv, _ := jwksServer(t, f.trusted.JWKSHandler())
	v, err := taskauth.New(context.Background(), taskauth.Config{Audience: audience, ServiceAccount: sa, JWKSURL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	var logged strings.Builder
	log := slog.New(slog.NewJSONHandler(&logged, nil))
	h := taskauth.Middleware(v, log, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	}))
	wrongAccount := mint(t, f.trusted, func(c map[string]any) { c["email"] = "x@y" })
	wrongAudience := mint(t, f.trusted, func(c map[string]any) { c["aud"] = "https://elsewhere.example" })
	tests := []struct {
		name, auth, challenge string
		want                  int
		reason                string // logged; "" for an accepted call, which logs nothing
	}{
		{"accepted", "Bearer " + mint(t, f.trusted, nil), "", http.StatusNoContent, ""},
		{"no token", "", `Bearer error="invalid_token"`, http.StatusUnauthorized, "taskauth: no bearer token"},
		{"garbage", "Bearer not-a-jwt-but-a-secret-value", `Bearer error="invalid_token"`, http.StatusUnauthorized, "taskauth: malformed or non-RS256 token"},
		{"wrong account", "Bearer " + wrongAccount, `Bearer error="insufficient_scope"`, http.StatusForbidden, `taskauth: service account \"x@y\" is not allowed`},
		{"wrong audience", "Bearer " + wrongAudience, `Bearer error="insufficient_scope"`, http.StatusForbidden, `is not ours`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			logged.Reset()
			r := httptest.NewRequest(http.MethodPost, audience, nil)
			if tc.auth != "" {
				r.Header.Set("Authorization", tc.auth)
			}
			r.Header.Set("X-CloudTasks-TaskName", "validate-abc")
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, r)
			if rec.Code != tc.want || rec.Header().Get("WWW-Authenticate") != tc.challenge {
				t.Errorf("got %d %q, want %d %q", rec.Code, rec.Header().Get("WWW-Authenticate"), tc.want, tc.challenge)
			}
			line := logged.String()
			if tc.reason == "" {
				if line != "" {
					t.Errorf("an accepted call logged %q", line)
				}
				return
			}
			for _, want := range []string{`"msg":"task call refused"`, `"status":` + strconv.Itoa(tc.want), tc.reason, `"task":"validate-abc"`} {
				if !strings.Contains(line, want) {
					t.Errorf("log %q lacks %q", line, want)
				}
			}
			if tok := strings.TrimPrefix(tc.auth, "Bearer "); tok != "" {
				for _, part := range append(strings.Split(tok, "."), tok) {
					if len(part) >= 8 && strings.Contains(line, part) {
						t.Errorf("log %q contains (part of) the token", line)
					}
				}
			}
			if strings.Contains(rec.Body.String(), "taskauth") {
				t.Errorf("the reason reached the caller: %q", rec.Body.String())
			}
		})
	}
}
