package va

import (
	"bytes"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/acmera/acmera/pkg/acme"
	"github.com/acmera/acmera/pkg/problem"
)

// secret is what the servers behind a refused or followed redirect answer:
// it must never reach a problem detail or a log line.
const secret = "s3cr3t-internal-payload"

func TestNetPolicyAllowed(t *testing.T) {
	strict := newStrictValidator(t, Config{})
	one := newStrictValidator(t, Config{AllowNetworks: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}})
	tests := []struct {
		addr          string
		strict, oneOK bool // allowed with no allow list; with 127.0.0.1/32
	}{
		{"127.0.0.1", false, true},
		{"127.0.0.2", false, false},
		{"127.255.255.254", false, false},
		{"::ffff:127.0.0.1", false, true},
		{"::1", false, false},
		{"169.254.169.254", false, false},
		{"::ffff:169.254.169.254", false, false},
		{"169.254.1.1", false, false},
		{"fe80::1", false, false},
		{"fe80::1%eth0", false, false},
		{"fd20:ce::254", false, false},
		{"0.0.0.0", false, false},
		{"0.1.2.3", false, false},
		{"::", false, false},
		{"224.0.0.1", false, false},
		{"239.255.255.250", false, false},
		{"ff02::1", false, false},
		{"255.255.255.255", false, false},
		{"10.0.0.1", true, true},
		{"172.16.0.1", true, true},
		{"192.168.1.1", true, true},
		{"100.64.0.1", true, true},
		{"8.8.8.8", true, true},
		{"fd00::1", true, true},
		{"fd20:ce::253", true, true},
		{"2001:db8::1", true, true},
		{"::ffff:10.0.0.1", true, true},
	}
	for _, tc := range tests {
		ip := netip.MustParseAddr(tc.addr)
		if got := strict.allowed(ip); got != tc.strict {
			t.Errorf("no allow list: allowed(%s) = %v, want %v", ip, got, tc.strict)
		}
		if got := one.allowed(ip); got != tc.oneOK {
			t.Errorf("allow 127.0.0.1/32: allowed(%s) = %v, want %v", ip, got, tc.oneOK)
		}
	}
	for name, want := range map[string]bool{
		"metadata.google.internal": true, "METADATA.google.internal.": true, "metadata": true, "metadata.": true,
		"metadata.google.internal.example.com": false, "web.test": false,
	} {
		if got := deniedName(name); got != want {
			t.Errorf("deniedName(%q) = %v, want %v", name, got, want)
		}
	}
}

func TestReopened(t *testing.T) {
	in := []netip.Prefix{
		netip.MustParsePrefix("127.0.0.1/32"), netip.MustParsePrefix("10.0.0.0/8"),
		netip.MustParsePrefix("0.0.0.0/0"), netip.MustParsePrefix("2001:db8::/32"), netip.MustParsePrefix("fe80::/64"),
	}
	got := fmt.Sprint(Reopened(in))
	if want := "[127.0.0.1/32 0.0.0.0/0 fe80::/64]"; got != want {
		t.Fatalf("Reopened = %s, want %s", got, want)
	}
	if d := DeniedNetworks(); len(d) == 0 || &d[0] == &deniedNetworks[0] {
		t.Fatalf("DeniedNetworks must return a copy of the deny list")
	}
}

// countingListener counts the connections it accepts.
type countingListener struct {
	net.Listener
	n atomic.Int64
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.n.Add(1)
	}
	return c, err
}

// startCounted serves h on l (wrapped to count connections) until the test ends.
func startCounted(t *testing.T, l net.Listener, h http.Handler) *countingListener {
	t.Helper()
	cl := &countingListener{Listener: l}
	srv := httptest.NewUnstartedServer(h)
	srv.Listener.Close()
	srv.Listener = cl
	srv.Start()
	t.Cleanup(srv.Close)
	return cl
}

// listenPair opens TCP listeners on 127.0.0.1 and 127.0.0.2 with the same
// port, so that a name can be rebound from one to the other.
func listenPair(t *testing.T) (net.Listener, net.Listener) {
	t.Helper()
	for range 20 {
		a, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("net.Listen: %v", err)
		}
		b, err := net.Listen("tcp", "127.0.0.2:"+strconv.Itoa(port(t, a.Addr().String())))
		if err == nil {
			return a, b
		}
		a.Close()
	}
	t.Skip("no port free on both 127.0.0.1 and 127.0.0.2")
	return nil, nil
}

// secretHandler answers every request with the secret, 200 or (under
// /missing) 404.
func secretHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/missing") {
			w.WriteHeader(http.StatusNotFound)
		}
		fmt.Fprint(w, secret)
	})
}

// logBuffer is a Logger writing text lines to a buffer.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func (b *logBuffer) logger() *slog.Logger { return slog.New(slog.NewTextHandler(b, nil)) }

// TestPolicyRefusesWithoutConnecting runs the cloud policy (no allow list)
// against a server on loopback: nothing may reach it, and names of the
// metadata server are refused before any lookup.
func TestPolicyRefusesWithoutConnecting(t *testing.T) {
	d := startDNS(t, true)
	d.add(t, "web.test. 60 IN A 127.0.0.1", "mapped.test. 60 IN AAAA ::ffff:127.0.0.1",
		"metadata.google.internal. 60 IN A 127.0.0.1", "link.test. 60 IN A 169.254.169.254")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("net.Listen: %v", err)
	}
	var base string
	srv := startCounted(t, l, challengeMux(&base))
	p := port(t, l.Addr().String())
	var logs logBuffer
	v := newStrictValidator(t, Config{Resolvers: []string{d.addr}, HTTP01Port: p, TLSALPN01Port: p, Logger: logs.logger()})
	dnsID := func(s string) acme.Identifier { return acme.Identifier{Type: acme.IdentifierDNS, Value: s} }
	ipID := func(s string) acme.Identifier { return acme.Identifier{Type: acme.IdentifierIP, Value: s} }
	tests := []struct {
		name string
		id   acme.Identifier
		typ  string
		want string
	}{
		{"loopback address", ipID("127.0.0.1"), acme.ChallengeHTTP01, "127.0.0.1 is an address the validator may not reach"},
		{"IPv4-mapped loopback", ipID("::ffff:127.0.0.1"), acme.ChallengeHTTP01, "127.0.0.1 is an address the validator may not reach"},
		{"name on loopback", dnsID("web.test"), acme.ChallengeHTTP01, "web.test resolves only to addresses the validator may not reach"},
		{"name on mapped loopback", dnsID("mapped.test"), acme.ChallengeHTTP01, "mapped.test resolves only to addresses"},
		{"name on link-local", dnsID("link.test"), acme.ChallengeHTTP01, "link.test resolves only to addresses"},
		{"tls-alpn-01 on loopback", dnsID("web.test"), acme.ChallengeTLSALPN01, "web.test resolves only to addresses"},
		{"metadata address", ipID("169.254.169.254"), acme.ChallengeHTTP01, "169.254.169.254 is an address the validator may not reach"},
		{"metadata address, tls-alpn-01", ipID("169.254.169.254"), acme.ChallengeTLSALPN01, "169.254.169.254 is an address"},
		{"metadata IPv6 address", ipID("fd20:ce::254"), acme.ChallengeHTTP01, "fd20:ce::254 is an address"},
		{"link-local IPv6", ipID("fe80::1"), acme.ChallengeHTTP01, "fe80::1 is an address"},
		{"unspecified", ipID("0.0.0.0"), acme.ChallengeHTTP01, "0.0.0.0 is an address"},
		{"unspecified IPv6", ipID("::"), acme.ChallengeHTTP01, ":: is an address"},
		{"multicast", ipID("224.0.0.1"), acme.ChallengeHTTP01, "224.0.0.1 is an address"},
		{"broadcast", ipID("255.255.255.255"), acme.ChallengeTLSALPN01, "255.255.255.255 is an address"},
		{"metadata name", dnsID("metadata.google.internal"), acme.ChallengeHTTP01, "metadata.google.internal is a name the validator may not reach"},
		{"metadata name, upper case", dnsID("METADATA.Google.Internal."), acme.ChallengeTLSALPN01, "metadata.google.internal is a name"},
		{"short metadata name", dnsID("metadata"), acme.ChallengeHTTP01, "metadata is a name the validator may not reach"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pr := validate(t, v, Request{Identifier: tc.id, Type: tc.typ, Token: "ok", KeyAuthorization: keyAuthFor("ok")})
			wantProblem(t, pr, problem.Connection, tc.want)
			if !strings.Contains(pr.Detail, ": "+tc.want) || strings.Contains(pr.Detail, "attempts") {
				t.Errorf("detail %q: want one attempt (a refusal is not retried)", pr.Detail)
			}
		})
	}
	if n := srv.n.Load(); n != 0 {
		t.Errorf("the loopback server accepted %d connections, want 0", n)
	}
	for _, q := range []string{"A", "AAAA"} {
		if n := d.count("metadata.google.internal.", q, "udp"); n != 0 {
			t.Errorf("metadata.google.internal was looked up (%s, %d times), want refused before resolving", q, n)
		}
	}
	out := logs.String()
	for _, want := range []string{"validation refused by the network policy", "denied=[127.0.0.1]", "host=web.test", "level=WARN"} {
		if !strings.Contains(out, want) {
			t.Errorf("log does not contain %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, keyAuthFor("ok")) || strings.Contains(out, "acme-challenge") {
		t.Errorf("log contains the key authorization or the challenge URL:\n%s", out)
	}
}

// redirectMux answers on the allowed address: each token redirects
// somewhere else (to p, the shared port).
func redirectMux(p int) http.Handler {
	ps := strconv.Itoa(p)
	targets := map[string]string{
		"toname":      "http://secret.test:" + ps + "/x",
		"tonamemiss":  "http://secret.test:" + ps + "/missing",
		"toliteral":   "http://127.0.0.2:" + ps + "/x",
		"tomapped":    "http://[::ffff:127.0.0.2]:" + ps + "/x",
		"tometa":      "http://metadata.google.internal/computeMetadata/v1/",
		"tolinklocal": "http://169.254.169.254/latest/meta-data/",
		"tozoned":     "http://[fe80::1%25lo]:" + ps + "/x",
		"tonx":        "http://nx-secret.test:" + ps + "/x",
		"again":       "http://rebind.test:" + ps + "/.well-known/acme-challenge/ok",
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok := strings.TrimPrefix(r.URL.Path, "/.well-known/acme-challenge/")
		if to, ok := targets[tok]; ok {
			http.Redirect(w, r, to, http.StatusFound)
			return
		}
		fmt.Fprint(w, keyAuthFor(tok))
	})
}

// TestRedirectToDeniedAddress reopens only 127.0.0.1/32: redirects from
// there to 127.0.0.2 (by name, literal or mapped literal), to the metadata
// server or to a scoped address are refused; the server on 127.0.0.2 never
// sees a connection, and nothing of it or of the redirect target reaches
// the problem.
func TestRedirectToDeniedAddress(t *testing.T) {
	a, b := listenPair(t)
	p := port(t, a.Addr().String())
	allowed := startCounted(t, a, redirectMux(p))
	denied := startCounted(t, b, secretHandler())
	d := startDNS(t, true)
	d.add(t, "web.test. 60 IN A 127.0.0.1", "secret.test. 60 IN A 127.0.0.2", "metadata.google.internal. 60 IN A 127.0.0.2")
	var logs logBuffer
	v := newStrictValidator(t, Config{Resolvers: []string{d.addr}, HTTP01Port: p, Logger: logs.logger(),
		AllowNetworks: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}})
	for _, tok := range []string{"toname", "toliteral", "tomapped", "tometa", "tolinklocal", "tozoned"} {
		t.Run(tok, func(t *testing.T) {
			pr := validate(t, v, Request{Identifier: acme.Identifier{Type: acme.IdentifierDNS, Value: "web.test"},
				Type: acme.ChallengeHTTP01, Token: tok, KeyAuthorization: keyAuthFor(tok)})
			wantProblem(t, pr, problem.Connection, "a redirect to an address the validator may not reach")
			wantNoneOf(t, pr.Detail, secret, "secret.test", "127.0.0.2", "google.internal", "computeMetadata", "169.254", "fe80", "/x")
		})
	}
	if n := denied.n.Load(); n != 0 {
		t.Errorf("the server on 127.0.0.2 accepted %d connections, want 0", n)
	}
	if n := allowed.n.Load(); n == 0 {
		t.Errorf("the server on 127.0.0.1 was never reached")
	}
	if n := d.count("metadata.google.internal.", "A", "udp"); n != 0 {
		t.Errorf("metadata.google.internal was looked up %d times, want 0", n)
	}
	out := logs.String()
	for _, want := range []string{"denied=[127.0.0.2]", "host=secret.test", "level=WARN"} {
		if !strings.Contains(out, want) {
			t.Errorf("log does not contain %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, secret) || strings.Contains(out, thumbprint) {
		t.Errorf("log contains the response or the key authorization:\n%s", out)
	}
}

// TestRedirectDetailsQuoteNothing follows redirects to an allowed server
// that answers with a secret: the problem says what class of thing was seen,
// never the body, the target's name or its address.
func TestRedirectDetailsQuoteNothing(t *testing.T) {
	a, b := listenPair(t)
	p := port(t, a.Addr().String())
	startCounted(t, a, redirectMux(p))
	startCounted(t, b, secretHandler())
	d := startDNS(t, true)
	d.add(t, "web.test. 60 IN A 127.0.0.1", "secret.test. 60 IN A 127.0.0.2")
	var logs logBuffer
	v := newStrictValidator(t, Config{Resolvers: []string{d.addr}, HTTP01Port: p, Logger: logs.logger(), Attempts: 1,
		AllowNetworks: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32"), netip.MustParsePrefix("127.0.0.2/32")}})
	tests := []struct {
		tok  string
		typ  problem.Type
		want string
	}{
		{"toname", problem.IncorrectResponse, "the response after 1 redirect was not the key authorization"},
		{"tonamemiss", problem.Unauthorized, "the server answered HTTP 404 after 1 redirect, want 200"},
		{"tonx", problem.DNS, "a redirect to a name whose DNS lookup failed: NXDOMAIN"},
	}
	for _, tc := range tests {
		t.Run(tc.tok, func(t *testing.T) {
			pr := validate(t, v, Request{Identifier: acme.Identifier{Type: acme.IdentifierDNS, Value: "web.test"},
				Type: acme.ChallengeHTTP01, Token: tc.tok, KeyAuthorization: keyAuthFor(tc.tok)})
			wantProblem(t, pr, tc.typ, tc.want)
			wantNoneOf(t, pr.Detail, secret, "secret.test", "nx-secret", "127.0.0.2", "/x", "/missing")
		})
	}
	if out := logs.String(); strings.Contains(out, secret) || strings.Contains(out, thumbprint) {
		t.Errorf("log contains the response or the key authorization:\n%s", out)
	}
}

// TestDNSRebinding: a name that resolves first to an allowed address and
// then to a denied one. Each dial resolves once and connects to the address
// it checked, so the denied address is never dialled.
func TestDNSRebinding(t *testing.T) {
	a, b := listenPair(t)
	p := port(t, a.Addr().String())
	allowed := startCounted(t, a, redirectMux(p))
	denied := startCounted(t, b, secretHandler())
	d := startDNS(t, true)
	d.mu.Lock()
	d.rebind["rebind.test."] = []string{"127.0.0.1", "127.0.0.2"}
	d.mu.Unlock()
	d.add(t, "mixed.test. 60 IN A 127.0.0.2", "mixed.test. 60 IN A 127.0.0.1", "late.test. 60 IN A 127.0.0.2")
	var logs logBuffer
	v := newStrictValidator(t, Config{Resolvers: []string{d.addr}, HTTP01Port: p, TLSALPN01Port: p, Logger: logs.logger(),
		AllowNetworks: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}})
	dnsID := func(s string) acme.Identifier { return acme.Identifier{Type: acme.IdentifierDNS, Value: s} }

	t.Run("rebound between redirect hops", func(t *testing.T) {
		pr := validate(t, v, Request{Identifier: dnsID("rebind.test"), Type: acme.ChallengeHTTP01, Token: "again", KeyAuthorization: keyAuthFor("again")})
		wantProblem(t, pr, problem.Connection, "a redirect to an address the validator may not reach")
		if n := d.count("rebind.test.", "A", "udp"); n != 2 {
			t.Errorf("rebind.test resolved %d times, want 2 (once per connection)", n)
		}
	})
	t.Run("denied and allowed in one answer", func(t *testing.T) {
		pr := validate(t, v, Request{Identifier: dnsID("mixed.test"), Type: acme.ChallengeHTTP01, Token: "ok", KeyAuthorization: keyAuthFor("ok")})
		wantProblem(t, pr, "")
	})
	t.Run("tls-alpn-01", func(t *testing.T) {
		pr := validate(t, v, Request{Identifier: dnsID("late.test"), Type: acme.ChallengeTLSALPN01, Token: "ok", KeyAuthorization: keyAuthFor("ok")})
		wantProblem(t, pr, problem.Connection, "late.test resolves only to addresses the validator may not reach")
	})
	if n := denied.n.Load(); n != 0 {
		t.Errorf("the server on 127.0.0.2 accepted %d connections, want 0", n)
	}
	if n := allowed.n.Load(); n != 2 {
		t.Errorf("the server on 127.0.0.1 accepted %d connections, want 2", n)
	}
	if out := logs.String(); !strings.Contains(out, "validation skips addresses the network policy denies") || !strings.Contains(out, "host=mixed.test") {
		t.Errorf("log does not record the skipped address of mixed.test:\n%s", out)
	}
}

// TestAllowListReopens validates on loopback once the allow list reopens it.
func TestAllowListReopens(t *testing.T) {
	var base string
	srv := httptest.NewServer(challengeMux(&base))
	t.Cleanup(srv.Close)
	req := Request{Identifier: acme.Identifier{Type: acme.IdentifierIP, Value: "127.0.0.1"},
		Type: acme.ChallengeHTTP01, Token: "ok", KeyAuthorization: keyAuthFor("ok")}
	p := port(t, srv.Listener.Addr().String())
	wantProblem(t, validate(t, newStrictValidator(t, Config{HTTP01Port: p}), req), problem.Connection, "may not reach")
	v := newStrictValidator(t, Config{HTTP01Port: p, AllowNetworks: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}})
	wantProblem(t, validate(t, v, req), "")
}
