package policy

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/acmera/acmera/pkg/acme"
	"github.com/acmera/acmera/pkg/core"
	"github.com/acmera/acmera/pkg/problem"
)

func TestParseAllow(t *testing.T) {
	got, err := ParseAllow([]string{"Host.Example.", "*.Team-A.test", "10.1.2.3/8", "192.0.2.7", "2001:db8::/32"})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"host.example", "*.team-a.test", "10.0.0.0/8", "192.0.2.7", "2001:db8::/32"}
	if !slices.Equal(got, want) {
		t.Fatalf("ParseAllow = %v, want %v", got, want)
	}
	for _, bad := range []string{"", "*.", "a..b", "under_score.example", "10.0.0.0/33", "*.*.x.example"} {
		if _, err := ParseAllow([]string{bad}); err == nil {
			t.Errorf("ParseAllow(%q) accepted", bad)
		}
	}
	if _, err := ParseChallenges([]string{"http-01", "email-reply-00"}); err == nil {
		t.Error("ParseChallenges accepted an unknown type")
	}
}

func TestNarrowingIdentifiers(t *testing.T) {
	n, err := NewNarrowing(&core.EABKey{KID: "k1", Allow: []string{"host.example", "*.team-a.test", "10.0.0.0/8", "192.0.2.7"}})
	if err != nil {
		t.Fatal(err)
	}
	dns := func(v string) acme.Identifier { return acme.Identifier{Type: acme.IdentifierDNS, Value: v} }
	ip := func(v string) acme.Identifier { return acme.Identifier{Type: acme.IdentifierIP, Value: v} }
	for _, tc := range []struct {
		id   acme.Identifier
		want bool
	}{
		{dns("host.example"), true},
		{dns("a.host.example"), false}, // exact names allow no names below
		{dns("*.host.example"), false},
		{dns("x.team-a.test"), true},
		{dns("a.b.team-a.test"), true},
		{dns("*.team-a.test"), true}, // wildcard directly below the zone
		{dns("*.x.team-a.test"), true},
		{dns("team-a.test"), false}, // the zone itself is not below it
		{dns("x.team-b.test"), false},
		{dns("xteam-a.test"), false},
		{ip("10.200.0.1"), true},
		{ip("11.0.0.1"), false},
		{ip("192.0.2.7"), true},
		{ip("192.0.2.8"), false},
		{ip("::1"), false},
	} {
		p := n.CheckIdentifier(tc.id)
		if (p == nil) != tc.want {
			t.Errorf("%v: allowed=%v, want %v (%v)", tc.id, p == nil, tc.want, p)
		}
		if p != nil && (p.Type != problem.RejectedIdentifier || p.Identifier == nil || *p.Identifier != tc.id) {
			t.Errorf("%v: problem %+v, want rejectedIdentifier naming it", tc.id, p)
		}
	}
	var none *Narrowing
	if none.CheckIdentifier(dns("any.example")) != nil {
		t.Error("nil narrowing refused a name")
	}
	open, _ := NewNarrowing(&core.EABKey{KID: "k2"})
	if open.CheckIdentifier(ip("1.2.3.4")) != nil {
		t.Error("a key without an allow list refused an identifier")
	}
}

func TestNarrowingChallengesAndLifetime(t *testing.T) {
	n, err := NewNarrowing(&core.EABKey{KID: "k1", Challenges: []string{"http-01", "dns-01"}, MaxLifetime: 48 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	all := []string{"http-01", "dns-01", "tls-alpn-01"}
	if got := n.Challenges(all); !slices.Equal(got, []string{"http-01", "dns-01"}) {
		t.Errorf("Challenges = %v", got)
	}
	if got := n.Challenges([]string{"tls-alpn-01"}); len(got) != 0 {
		t.Errorf("Challenges(tls-alpn-01) = %v, want none", got)
	}
	var none *Narrowing
	if got := none.Challenges(all); !slices.Equal(got, all) {
		t.Errorf("nil narrowing: Challenges = %v", got)
	}
	if p := n.CheckLifetime(48 * time.Hour); p != nil {
		t.Errorf("CheckLifetime(max) = %v", p)
	}
	p := n.CheckLifetime(49 * time.Hour)
	if p == nil || p.Type != problem.Malformed || !strings.Contains(p.Detail, "48h0m0s") || !strings.Contains(p.Detail, `"k1"`) {
		t.Errorf("CheckLifetime(49h) = %v, want malformed naming the limit and key", p)
	}
}
