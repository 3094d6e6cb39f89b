package main

import (
	"context"
	"flag"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/acmera/acmera/pkg/acme"
	"github.com/acmera/acmera/pkg/core"
	"github.com/acmera/acmera/pkg/problem"
	"github.com/acmera/acmera/pkg/store"
)

func TestParseInterspersed(t *testing.T) {
	tests := []struct {
		args    []string
		pos     []string
		reason  string
		asJSON  bool
		wantErr bool
	}{
		{[]string{"abc", "--reason", "superseded"}, []string{"abc"}, "superseded", false, false},
		{[]string{"--reason", "keyCompromise", "abc", "--json"}, []string{"abc"}, "keyCompromise", true, false},
		{[]string{"a", "b"}, []string{"a", "b"}, "", false, false},
		{[]string{"--nope"}, nil, "", false, true},
	}
	for _, tc := range tests {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		reason := fs.String("reason", "", "")
		asJSON := fs.Bool("json", false, "")
		pos, err := parseInterspersed(fs, tc.args)
		if (err != nil) != tc.wantErr || !slices.Equal(pos, tc.pos) || *reason != tc.reason || *asJSON != tc.asJSON {
			t.Errorf("parseInterspersed(%q) = %q, %v, reason %q json %v", tc.args, pos, err, *reason, *asJSON)
		}
	}
}

func TestNormSerial(t *testing.T) {
	for in, want := range map[string]string{"00AB:cd": "abcd", "0": "0", "": "", "1f": "1f", "000": "0"} {
		if got := normSerial(in); got != want {
			t.Errorf("normSerial(%q) = %q, want %q", in, got, want)
		}
	}
}

// The socket's query form of a filter reads back as the same filter.
func TestFilterQueryRoundTrip(t *testing.T) {
	now := time.Date(2030, 1, 2, 3, 4, 5, 6, time.UTC)
	for _, f := range []store.CertificateFilter{
		{Limit: 10},
		{AccountID: "acct", Serial: "ab", Name: "x.example", Revoked: true, Limit: 1},
		{Now: now, ExpiringBefore: now.Add(48 * time.Hour), Limit: store.MaxListLimit},
	} {
		got, err := filterFromQuery(filterQuery(f), time.Now())
		if err != nil || got != f {
			t.Errorf("round trip of %+v = %+v, %v", f, got, err)
		}
	}
	if _, err := filterFromQuery(filterQuery(store.CertificateFilter{Limit: 0}), time.Now()); err == nil {
		t.Error("limit 0 accepted")
	}
}

// Without a server the commands use the bbolt file; revocation and
// deactivation of unknown objects fail naming them, bad flags fail.
func TestAdminCommandsOffline(t *testing.T) {
	env := eabEnvFunc(t.TempDir())
	for _, args := range [][]string{{"admin", "certs", "--json"}, {"admin", "accounts"}, {"admin", "stuck", "--json"},
		{"admin", "certs", "--expiring-within", "48h", "--revoked", "--name", "x.example", "--limit", "5"}} {
		if out, err := runCLI(t, env, args...); err != nil || out != "" {
			t.Errorf("%q on an empty store = %q, %v; want nothing", args, out, err)
		}
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"admin"}, "missing subcommand"},
		{[]string{"admin", "frob"}, "unknown subcommand"},
		{[]string{"admin", "certs", "--limit", "0"}, "--limit 0"},
		{[]string{"admin", "certs", "extra"}, "unexpected arguments"},
		{[]string{"admin", "revoke", "--reason", "superseded"}, "exactly one SERIAL"},
		{[]string{"admin", "revoke", "ab", "--reason", "cACompromise"}, "want one of"},
		{[]string{"admin", "revoke", "ab", "--reason", "superseded"}, "certificate not found"},
		{[]string{"admin", "deactivate"}, "exactly one ACCOUNT_ID"},
		{[]string{"admin", "deactivate", "nope"}, "not found"},
	} {
		if _, err := runCLI(t, env, tc.args...); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want an error containing %q", tc.args, err, tc.want)
		}
	}
}

func TestAdminActor(t *testing.T) {
	if got := adminActor(func(k string) string { return map[string]string{"ACMERA_ADMIN_ACTOR": "alice"}[k] }); got != "alice" {
		t.Errorf("adminActor = %q, want alice", got)
	}
	if got := adminActor(func(string) string { return "" }); !strings.HasPrefix(got, "os:") {
		t.Errorf("adminActor = %q, want the OS user", got)
	}
}

// pageLister is a store.Lister of fixed rows for the page's tests.
type pageLister struct {
	certs  []*core.Certificate
	orders []*core.Order
}

func (l pageLister) ListCertificates(_ context.Context, f store.CertificateFilter) ([]*core.Certificate, error) {
	var out []*core.Certificate
	for _, c := range l.certs {
		if f.Match(c) {
			out = append(out, c)
		}
	}
	return out, nil
}
func (l pageLister) ListAccounts(context.Context, int) ([]*core.Account, error) { return nil, nil }
func (l pageLister) ListInvalidOrders(context.Context, int) ([]*core.Order, error) {
	return l.orders, nil
}

// The page escapes what clients chose (a problem's detail quotes their
// input), carries no script and sends its restrictive headers.
func TestAdminPageEscapes(t *testing.T) {
	evil := `<script>alert(1)</script>`
	l := pageLister{
		certs: []*core.Certificate{{ID: "c1", Serial: "abc123", AccountID: "acct1", Status: core.StatusValid,
			Chain: []byte("-----BEGIN CERTIFICATE-----\nsecret\n-----END CERTIFICATE-----\n"), NotAfter: time.Now().Add(time.Hour)}},
		orders: []*core.Order{{ID: "o1", AccountID: "acct1", Identifiers: []acme.Identifier{{Type: "dns", Value: "x.example"}},
			Error: problem.New(problem.Connection, "fetching %s", evil)}},
	}
	srv := httptest.NewServer(loopbackHostOnly(adminPageHandler(l, slog.New(slog.NewTextHandler(io.Discard, nil)))))
	defer srv.Close()
	res, err := http.Get(srv.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	body := string(b)
	if res.StatusCode != 200 || !strings.Contains(res.Header.Get("Content-Security-Policy"), "default-src 'none'") {
		t.Fatalf("GET /: %s, CSP %q", res.Status, res.Header.Get("Content-Security-Policy"))
	}
	for _, want := range []string{"abc123", "acct1", "x.example", "&lt;script&gt;alert(1)&lt;/script&gt;", "urn:ietf:params:acme:error:connection"} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if strings.Contains(body, "<script") || strings.Contains(body, "secret") {
		t.Error("page carries a script or the chain")
	}
	for path, want := range map[string]int{"/other": 404, "/admin/certificates?limit=1": 404} {
		if res, err := http.Get(srv.URL + path); err != nil || res.StatusCode != want {
			t.Errorf("GET %s: %v %v, want %d (the page serves nothing else)", path, res.Status, err, want)
		}
	}
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/", nil)
	req.Host = "evil.example"
	if res, err := http.DefaultClient.Do(req); err != nil || res.StatusCode != http.StatusMisdirectedRequest {
		t.Errorf("GET / with Host evil.example: %v, want 421", err)
	}
}
