package main

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/acmera/acmera/pkg/acme"
	"github.com/acmera/acmera/pkg/config"
	"github.com/acmera/acmera/pkg/va"
)

const thumbprint = "LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0"

// TestNewValidator checks the network policy each mode gets, against an
// http-01 responder on loopback, and what each says at start.
func TestNewValidator(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "tok."+thumbprint)
	}))
	t.Cleanup(srv.Close)
	_, ps, _ := net.SplitHostPort(srv.Listener.Addr().String())
	p, _ := strconv.Atoi(ps)
	loopback := []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	tests := []struct {
		name     string
		embedded bool
		networks []netip.Prefix
		valid    bool
		logs     []string // substrings of the start-up log
		quiet    []string // substrings it must not have
	}{
		{"cloud", false, nil, false, nil, []string{"level=WARN", "loopback"}},
		{"cloud reopening loopback", false, loopback, true,
			[]string{"level=WARN", "ACMERA_VALIDATION_NETWORKS reopens", "setting=ACMERA_VALIDATION_NETWORKS", "ranges=[127.0.0.0/8]"}, nil},
		{"cloud with an entry that changes nothing", false, []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}, false,
			[]string{"level=INFO", "change nothing"}, []string{"level=WARN"}},
		{"embedded", true, nil, true, []string{"level=INFO", "embedded default: validation may reach loopback", "allowed=\"[127.0.0.0/8 ::1/128]\""},
			[]string{"level=WARN"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			log := slog.New(slog.NewTextHandler(&buf, nil))
			v, err := newValidator(config.Common{HTTP01Port: p, ValidationNetworks: tc.networks}, tc.embedded, log)
			if err != nil {
				t.Fatalf("newValidator: %v", err)
			}
			start := buf.String()
			for _, s := range tc.logs {
				if !strings.Contains(start, s) {
					t.Errorf("start-up log does not contain %q:\n%s", s, start)
				}
			}
			for _, s := range tc.quiet {
				if strings.Contains(start, s) {
					t.Errorf("start-up log contains %q:\n%s", s, start)
				}
			}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			prob := v.Validate(ctx, va.Request{Identifier: acme.Identifier{Type: acme.IdentifierIP, Value: "127.0.0.1"},
				Type: acme.ChallengeHTTP01, Token: "tok", KeyAuthorization: "tok." + thumbprint})
			if tc.valid && prob != nil {
				t.Fatalf("Validate = %v, want valid", prob)
			}
			if !tc.valid && (prob == nil || !strings.Contains(prob.Detail, "may not reach")) {
				t.Fatalf("Validate = %v, want refused by the network policy", prob)
			}
		})
	}
}
