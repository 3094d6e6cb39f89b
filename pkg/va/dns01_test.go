package va

import (
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/acmera/acmera/pkg/acme"
	"github.com/acmera/acmera/pkg/problem"
)

// dnsToken is the token every dns-01 test uses.
const dnsToken = "dnstok"

// expectedTXT is base64url(SHA-256(key authorization)), computed here
// independently of the code under test (RFC 8555 §8.4).
func expectedTXT() string {
	sum := sha256.Sum256([]byte(keyAuthFor(dnsToken)))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// dns01Zone fills d with the names the dns-01 tests ask about.
func dns01Zone(t *testing.T, d *testDNS) {
	want := expectedTXT()
	d.add(t,
		`_acme-challenge.ok.test. 60 IN TXT "`+want+`"`,
		`_acme-challenge.multi.test. 60 IN TXT "stale-value"`,
		`_acme-challenge.multi.test. 60 IN TXT "`+want+`"`,
		`_acme-challenge.split.test. 60 IN TXT "`+want[:20]+`" "`+want[20:]+`"`,
		`_acme-challenge.cname.test. 60 IN CNAME _acme-challenge.ok.test.`,
		`_acme-challenge.chain.test. 60 IN CNAME a.delegated.test.`,
		`a.delegated.test. 60 IN CNAME b.delegated.test.`,
		`b.delegated.test. 60 IN TXT "`+want+`"`,
		`_acme-challenge.loop.test. 60 IN CNAME loop.other.test.`,
		`loop.other.test. 60 IN CNAME _acme-challenge.loop.test.`,
		`_acme-challenge.dangling.test. 60 IN CNAME gone.other.test.`,
		`_acme-challenge.wrong.test. 60 IN TXT "not-the-digest"`,
		`_acme-challenge.two.test. 60 IN TXT "one"`,
		`_acme-challenge.two.test. 60 IN TXT "two"`,
		`_acme-challenge.empty.test. 60 IN A 127.0.0.1`,
		`_acme-challenge.trunc.test. 60 IN TXT "`+want+`"`,
		`_acme-challenge.self.test. 60 IN CNAME _acme-challenge.self.test.`,
		`_acme-challenge.big.test. 60 IN TXT "one"`,
		// The expected value, padded past the limit: never compared.
		`_acme-challenge.big.test. 60 IN TXT "`+want+`" "`+strings.Repeat("x", 250)+`" "`+strings.Repeat("x", 250)+
			`" "`+strings.Repeat("x", 250)+`" "`+strings.Repeat("x", 250)+`"`,
	)
	addCNAMEChain(t, d, "long8.test", 8)
	addCNAMEChain(t, d, "long9.test", 9)
	for i := range 101 {
		d.add(t, fmt.Sprintf(`_acme-challenge.many.test. 60 IN TXT "stale-%d"`, i))
	}
	d.add(t, `_acme-challenge.many.test. 60 IN TXT "`+want+`"`)
	d.mu.Lock()
	defer d.mu.Unlock()
	d.servfail["_acme-challenge.servfail.test."] = true
	d.truncate["_acme-challenge.trunc.test."] = true
}

// addCNAMEChain puts a chain of n CNAMEs from _acme-challenge.{name} to the
// expected TXT record into d.
func addCNAMEChain(t *testing.T, d *testDNS, name string, n int) {
	t.Helper()
	from := "_acme-challenge." + name + "."
	for i := range n {
		to := fmt.Sprintf("hop%d.%s.", i, name)
		d.add(t, from+" 60 IN CNAME "+to)
		from = to
	}
	d.add(t, from+` 60 IN TXT "`+expectedTXT()+`"`)
}

// TestDNS01DetailQuotesNoRecord checks that a wrong TXT record's content
// and the expected digest stay out of the problem.
func TestDNS01DetailQuotesNoRecord(t *testing.T) {
	d := startDNS(t, true)
	d.add(t, `_acme-challenge.secret.test. 60 IN TXT "internal-secret-value"`)
	v := newTestValidator(t, Config{Resolvers: []string{d.addr}})
	p := validate(t, v, Request{
		Identifier: acme.Identifier{Type: acme.IdentifierDNS, Value: "secret.test"},
		Type:       acme.ChallengeDNS01, Token: dnsToken, KeyAuthorization: keyAuthFor(dnsToken),
	})
	wantProblem(t, p, problem.IncorrectResponse, "1 record seen")
	for _, s := range []string{"internal-secret-value", expectedTXT()} {
		if strings.Contains(p.Detail, s) {
			t.Errorf("detail %q quotes %q", p.Detail, s)
		}
	}
}

func TestDNS01(t *testing.T) {
	tests := []struct {
		name string
		host string
		typ  problem.Type
		want []string
	}{
		{"match", "ok.test", "", nil},
		{"one of several matches", "multi.test", "", nil},
		{"split character strings", "split.test", "", nil},
		{"CNAME followed", "cname.test", "", nil},
		{"CNAME chain followed", "chain.test", "", nil},
		{"truncated UDP answer retried over TCP", "trunc.test", "", nil},
		{"CNAME loop", "loop.test", problem.DNS, []string{"_acme-challenge.loop.test: CNAME loop"}},
		{"CNAME to itself", "self.test", problem.DNS, []string{"_acme-challenge.self.test: CNAME loop"}},
		{"CNAME chain of 8", "long8.test", "", nil},
		{"CNAME chain of 9", "long9.test", problem.DNS, []string{"CNAME chain longer than 8"}},
		{"dangling CNAME", "dangling.test", problem.DNS, []string{"NXDOMAIN at the end of a CNAME chain"}},
		{"wrong TXT", "wrong.test", problem.IncorrectResponse, []string{"no TXT record matched the expected digest; 1 record seen"}},
		{"two wrong TXT", "two.test", problem.IncorrectResponse, []string{"no TXT record matched the expected digest; 2 records seen"}},
		{"no TXT", "empty.test", problem.IncorrectResponse, []string{"no TXT records found"}},
		{"oversized TXT ignored", "big.test", problem.IncorrectResponse, []string{"2 records seen (1 over 1020 bytes, ignored)"}},
		{"too many TXT", "many.test", problem.IncorrectResponse, []string{"more than 100 TXT records"}},
		{"NXDOMAIN", "nx.test", problem.DNS, []string{"DNS TXT lookup for _acme-challenge.nx.test: NXDOMAIN"}},
		{"SERVFAIL retried", "servfail.test", problem.DNS, []string{"_acme-challenge.servfail.test: 3 attempts: SERVFAIL"}},
	}
	// A recursive resolver sends whole CNAME chains; an authoritative-style
	// server sends one hop and the validator must ask again.
	for _, flatten := range []bool{true, false} {
		d := startDNS(t, flatten)
		dns01Zone(t, d)
		v := newTestValidator(t, Config{Resolvers: []string{d.addr}, Attempts: 3})
		mode := map[bool]string{true: "recursive", false: "authoritative"}[flatten]
		for _, tc := range tests {
			t.Run(mode+"/"+tc.name, func(t *testing.T) {
				p := validate(t, v, Request{
					Identifier: acme.Identifier{Type: acme.IdentifierDNS, Value: tc.host},
					Type:       acme.ChallengeDNS01, Token: dnsToken, KeyAuthorization: keyAuthFor(dnsToken),
				})
				wantProblem(t, p, tc.typ, tc.want...)
			})
		}
		t.Run(mode+"/query counts", func(t *testing.T) {
			if n := d.count("_acme-challenge.servfail.test.", "TXT", "udp"); n != 3 {
				t.Errorf("SERVFAIL name queried %d times, want 3 (one per attempt)", n)
			}
			if n := d.count("_acme-challenge.trunc.test.", "TXT", "tcp"); n != 1 {
				t.Errorf("truncated name queried %d times over TCP, want 1", n)
			}
			if n := d.count("_acme-challenge.wrong.test.", "TXT", "udp"); n != 1 {
				t.Errorf("wrong TXT queried %d times, want 1 (wrong content is not retried)", n)
			}
		})
	}
}

// TestDNS01ResolverFailover checks that a dead first resolver is skipped and
// that a resolver that never answers ends in a timeout problem.
func TestDNS01ResolverFailover(t *testing.T) {
	d := startDNS(t, true)
	dns01Zone(t, d)
	silent, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("net.ListenPacket: %v", err)
	}
	t.Cleanup(func() { silent.Close() })
	req := Request{
		Identifier: acme.Identifier{Type: acme.IdentifierDNS, Value: "ok.test"},
		Type:       acme.ChallengeDNS01, Token: dnsToken, KeyAuthorization: keyAuthFor(dnsToken),
	}
	tests := []struct {
		name      string
		resolvers []string
		typ       problem.Type
		want      []string
	}{
		{"silent then good", []string{silent.LocalAddr().String(), d.addr}, "", nil},
		{"only silent", []string{silent.LocalAddr().String()}, problem.DNS, []string{"2 attempts: timeout"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := newTestValidator(t, Config{Resolvers: tc.resolvers, Attempts: 2, Timeout: 600 * time.Millisecond})
			wantProblem(t, validate(t, v, req), tc.typ, tc.want...)
		})
	}
}
