package va

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/acmera/acmera/pkg/acme"
	"github.com/acmera/acmera/pkg/problem"
)

// thumbprint stands in for base64url(JWK thumbprint) in key authorizations.
const thumbprint = "LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0"

// keyAuthFor is the key authorization for token (RFC 8555 §8.1).
func keyAuthFor(token string) string { return token + "." + thumbprint }

// loopback is the allow list of tests whose servers listen on loopback,
// which the network policy denies otherwise.
var loopback = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}

// newTestValidator builds a Validator with fast test timings that may reach
// loopback (the servers of these tests); fields set in cfg win.
func newTestValidator(t *testing.T, cfg Config) *Validator {
	t.Helper()
	if cfg.AllowNetworks == nil {
		cfg.AllowNetworks = loopback
	}
	return newStrictValidator(t, cfg)
}

// newStrictValidator is newTestValidator without the loopback default: the
// network policy of a cloud deployment plus cfg.AllowNetworks.
func newStrictValidator(t *testing.T, cfg Config) *Validator {
	t.Helper()
	if cfg.Timeout == 0 {
		cfg.Timeout = 2 * time.Second
	}
	if cfg.RetryDelay == 0 {
		cfg.RetryDelay = 10 * time.Millisecond
	}
	v, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return v
}

// validate runs one validation bounded by a test deadline.
func validate(t *testing.T, v *Validator, req Request) *problem.Problem {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	return v.Validate(ctx, req)
}

// wantProblem checks p against the expected type (empty = success) and
// substrings of the detail, and that no Go-internal text leaked into it.
func wantProblem(t *testing.T, p *problem.Problem, typ problem.Type, details ...string) {
	t.Helper()
	if typ == "" {
		if p != nil {
			t.Fatalf("Validate = %v, want success", p)
		}
		return
	}
	if p == nil {
		t.Fatalf("Validate = success, want %s", typ)
	}
	t.Logf("problem %s: %s", p.Type, p.Detail)
	if p.Type != typ {
		t.Fatalf("Validate type = %s (%s), want %s", p.Type, p.Detail, typ)
	}
	for _, d := range details {
		if !strings.Contains(p.Detail, d) {
			t.Errorf("detail %q does not contain %q", p.Detail, d)
		}
	}
	for _, leak := range []string{".go:", "dial tcp", "read udp", "*net.", "0xc0"} {
		if strings.Contains(p.Detail, leak) {
			t.Errorf("detail %q leaks internal text %q", p.Detail, leak)
		}
	}
	if p.Status == 0 {
		t.Errorf("problem has no HTTP status")
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
	}{
		{"resolver without port", Config{Resolvers: []string{"127.0.0.1"}}},
		{"negative attempts", Config{Attempts: -1}},
		{"negative timeout", Config{Timeout: -time.Second}},
		{"port out of range", Config{HTTP01Port: 70000}},
		{"negative tls port", Config{TLSALPN01Port: -1}},
		{"negative total timeout", Config{TotalTimeout: -time.Second}},
		{"allow list with host bits", Config{AllowNetworks: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/8")}}},
		{"IPv4-mapped allow list", Config{AllowNetworks: []netip.Prefix{netip.MustParsePrefix("::ffff:127.0.0.0/104")}}},
		{"invalid allow list entry", Config{AllowNetworks: []netip.Prefix{{}}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := New(tc.cfg); err == nil {
				t.Fatalf("New(%+v) succeeded, want error", tc.cfg)
			}
		})
	}
}

func TestNewDefaults(t *testing.T) {
	v, err := New(Config{})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	got := v.cfg
	if got.HTTP01Port != 80 || got.TLSALPN01Port != 443 || got.Timeout != 10*time.Second ||
		got.StepTimeout != 5*time.Second || got.TotalTimeout != 30*time.Second ||
		got.Attempts != 3 || got.RetryDelay != time.Second || len(got.AllowNetworks) != 0 {
		t.Fatalf("defaults = %+v", got)
	}
}

// TestValidateRejectsBadRequests checks requests that fail before any
// network traffic; the port is closed, so reaching the network would fail
// with a connection problem instead.
func TestValidateRejectsBadRequests(t *testing.T) {
	v := newTestValidator(t, Config{HTTP01Port: 1, TLSALPN01Port: 1, Attempts: 1})
	dnsID := acme.Identifier{Type: acme.IdentifierDNS, Value: "example.test"}
	ipID := acme.Identifier{Type: acme.IdentifierIP, Value: "127.0.0.1"}
	ka := keyAuthFor("tok")
	tests := []struct {
		name string
		req  Request
		typ  problem.Type
		want string
	}{
		{"dns-01 for IP", Request{ipID, acme.ChallengeDNS01, "tok", ka, nil}, problem.Malformed, "RFC 8738"},
		{"unknown challenge", Request{dnsID, "http-02", "tok", ka, nil}, problem.Malformed, "http-02"},
		{"unknown identifier type", Request{acme.Identifier{Type: "email", Value: "a@b"}, acme.ChallengeHTTP01, "tok", ka, nil},
			problem.UnsupportedIdentifier, "email"},
		{"wildcard name", Request{acme.Identifier{Type: acme.IdentifierDNS, Value: "*.example.test"}, acme.ChallengeDNS01, "tok", ka, nil},
			problem.Malformed, "*.example.test"},
		{"bad IP", Request{acme.Identifier{Type: acme.IdentifierIP, Value: "300.1.1.1"}, acme.ChallengeHTTP01, "tok", ka, nil},
			problem.Malformed, "300.1.1.1"},
		{"token with slash", Request{dnsID, acme.ChallengeHTTP01, "../x", "../x." + thumbprint, nil}, problem.Malformed, "token"},
		{"key auth for another token", Request{dnsID, acme.ChallengeHTTP01, "tok", keyAuthFor("other"), nil}, problem.Malformed, "key authorization"},
		{"empty key auth", Request{dnsID, acme.ChallengeTLSALPN01, "tok", "", nil}, problem.Malformed, "key authorization"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			wantProblem(t, validate(t, v, tc.req), tc.typ, tc.want)
		})
	}
}

func TestValidateStopsWhenContextEnds(t *testing.T) {
	v := newTestValidator(t, Config{HTTP01Port: 1, Attempts: 5, RetryDelay: 10 * time.Second})
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	p := v.Validate(ctx, Request{
		Identifier: acme.Identifier{Type: acme.IdentifierIP, Value: "127.0.0.1"},
		Type:       acme.ChallengeHTTP01, Token: "tok", KeyAuthorization: keyAuthFor("tok"),
	})
	if p == nil || p.Type != problem.Connection {
		t.Fatalf("Validate = %v, want connection problem", p)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("Validate took %v after the context ended", d)
	}
}

// wantNoneOf checks that detail contains none of the strings.
func wantNoneOf(t *testing.T, detail string, strs ...string) {
	t.Helper()
	for _, s := range strs {
		if strings.Contains(detail, s) {
			t.Errorf("detail %q contains %q", detail, s)
		}
	}
}
