package policy

import (
	"strings"
	"testing"
	"time"

	"github.com/acmera/acmera/pkg/acme"
	"github.com/acmera/acmera/pkg/core"
	"github.com/acmera/acmera/pkg/problem"
)

func dns(v string) acme.Identifier { return acme.Identifier{Type: acme.IdentifierDNS, Value: v} }
func ip(v string) acme.Identifier  { return acme.Identifier{Type: acme.IdentifierIP, Value: v} }

func TestNormalize(t *testing.T) {
	cases := []struct {
		in   acme.Identifier
		want string
		typ  problem.Type
	}{
		{dns("WWW.Example.COM"), "www.example.com", ""},
		{dns("*.example.com"), "*.example.com", ""},
		{dns("a.*.example.com"), "", problem.Malformed},
		{dns("example.com."), "", problem.Malformed},
		{dns("-x.example"), "", problem.Malformed},
		{dns("under_score.example"), "", problem.Malformed},
		{dns(strings.Repeat("a", 64) + ".example"), "", problem.Malformed},
		{dns("192.0.2.1"), "", problem.Malformed},
		{dns("\u212a.example"), "", problem.Malformed}, // KELVIN SIGN: strings.ToLower gives "k"
		{dns("\u0130.example"), "", problem.Malformed}, // strings.ToLower gives "i"
		{dns("*." + strings.Repeat(strings.Repeat("a", 63)+".", 3) + strings.Repeat("b", 61)), "", problem.RejectedIdentifier},
		{ip("2001:DB8::1"), "2001:db8::1", ""},
		{ip("::ffff:192.0.2.1"), "192.0.2.1", ""},
		{ip("fe80::1%eth0"), "", problem.Malformed},
		{ip("example.com"), "", problem.Malformed},
		{acme.Identifier{Type: "email", Value: "a@b"}, "", problem.UnsupportedIdentifier},
	}
	for _, tc := range cases {
		t.Run(tc.in.Type+":"+tc.in.Value, func(t *testing.T) {
			got, p := Normalize(tc.in)
			if tc.typ != "" {
				if p == nil || p.Type != tc.typ || p.Identifier == nil {
					t.Fatalf("got %v, want %s naming the identifier", p, tc.typ)
				}
				return
			}
			if p != nil || got.Value != tc.want {
				t.Fatalf("got %v %v, want %s", got, p, tc.want)
			}
		})
	}
}

func TestProfileChecks(t *testing.T) {
	pol, err := Parse([]byte(`{"profiles":{
		"acme":{"dnsSuffixes":["team-a.internal"],"ipRanges":["10.1.0.0/16"],"defaultLifetime":"12h","maxLifetime":"48h"},
		"wild":{"dnsSuffixes":["corp.example"],"allowWildcards":true,"challenges":["http-01","dns-01"]}}}`))
	if err != nil {
		t.Fatal(err)
	}
	a, w := pol.Profile("acme"), pol.Profile("wild")
	if time.Duration(a.DefaultLifetime) != 12*time.Hour || time.Duration(w.DefaultLifetime) != 24*time.Hour {
		t.Fatalf("lifetimes: %v %v", a.DefaultLifetime, w.DefaultLifetime)
	}
	cases := []struct {
		pr   *Profile
		id   acme.Identifier
		want problem.Type
	}{
		{a, dns("team-a.internal"), ""},
		{a, dns("db.team-a.internal"), ""},
		{a, dns("evilteam-a.internal"), problem.RejectedIdentifier},
		{a, dns("team-b.internal"), problem.RejectedIdentifier},
		{a, dns("*.team-a.internal"), problem.RejectedIdentifier},
		{a, ip("10.1.2.3"), ""},
		{a, ip("10.2.0.1"), problem.RejectedIdentifier},
		{w, dns("*.corp.example"), ""},
		{w, ip("10.1.2.3"), problem.RejectedIdentifier},
	}
	for _, tc := range cases {
		t.Run(tc.id.Value, func(t *testing.T) {
			p := tc.pr.CheckIdentifier(tc.id)
			if (p == nil) != (tc.want == "") || (p != nil && p.Type != tc.want) {
				t.Fatalf("got %v, want %q", p, tc.want)
			}
		})
	}
	if got := w.ChallengesFor(dns("*.corp.example"), true); len(got) != 1 || got[0] != acme.ChallengeDNS01 {
		t.Fatalf("wildcard challenges: %v", got)
	}
	if got := a.ChallengesFor(ip("10.1.2.3"), false); len(got) != 2 {
		t.Fatalf("IP challenges (no dns-01): %v", got)
	}
}

func TestParseErrors(t *testing.T) {
	for name, js := range map[string]string{
		"no default":      `{"profiles":{"other":{"allowAnyName":true}}}`,
		"allows nothing":  `{"profiles":{"acme":{}}}`,
		"bad duration":    `{"profiles":{"acme":{"allowAnyName":true,"maxLifetime":"forever"}}}`,
		"default > max":   `{"profiles":{"acme":{"allowAnyName":true,"defaultLifetime":"72h","maxLifetime":"24h"}}}`,
		"bad challenge":   `{"profiles":{"acme":{"allowAnyName":true,"challenges":["email-reply-00"]}}}`,
		"bad CIDR":        `{"profiles":{"acme":{"ipRanges":["10.0.0.0/33"]}}}`,
		"unknown field":   `{"profiles":{"acme":{"allowAnyName":true,"colour":"red"}}}`,
		"bad name":        `{"profiles":{"acme":{"allowAnyName":true},"Bad Name":{"allowAnyName":true}}}`,
		"wildcard suffix": `{"profiles":{"acme":{"dnsSuffixes":["*.x.example"]}}}`,
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := Parse([]byte(js)); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}

// A refused character is quoted as the character, not as its first UTF-8
// byte (which showed 'Ã' for 'ü'); a U-label is told to use its A-label.
func TestCharacterDetails(t *testing.T) {
	for _, tc := range []struct{ in, has string }{
		{"bücher.example", `"bücher.example" contains the non-ASCII character 'ü'; send an internationalized name in its A-label ("xn--") form`},
		{"BÜCHER.example", `"bÜcher.example" contains the non-ASCII character 'Ü'`},
		{"日本.example", `contains the non-ASCII character '日'`},
		{"under_score.example", `contains the invalid character '_'`},
		{"bad\xffbyte.example", `"bad\xffbyte.example" is not valid UTF-8`},
	} {
		_, p := Normalize(dns(tc.in))
		if p == nil || p.Type != problem.Malformed || p.Status != 400 || !strings.Contains(p.Detail, tc.has) {
			t.Errorf("%q: %v, want malformed with %q", tc.in, p, tc.has)
			continue
		}
		if strings.Contains(p.Detail, "Ã") || strings.Contains(p.Detail, "\\u00") {
			t.Errorf("%q: detail %q quotes bytes", tc.in, p.Detail)
		}
	}
	if _, p := Normalize(dns("xn--bcher-kva.example")); p != nil {
		t.Errorf("the A-label of bücher.example: %v", p)
	}
}

// maxIdentifiers above the limit stops the start, naming the profile and
// the setting; the limit itself is accepted.
func TestMaxIdentifiersLimit(t *testing.T) {
	_, err := Parse([]byte(`{"profiles":{"acme":{"allowAnyName":true},"big":{"allowAnyName":true,"maxIdentifiers":101}}}`))
	if err == nil || err.Error() != `policy: profile "big": maxIdentifiers 101 exceeds the limit of 100 identifiers per order` {
		t.Fatalf("maxIdentifiers 101: %v", err)
	}
	p, err := Parse([]byte(`{"profiles":{"acme":{"allowAnyName":true,"maxIdentifiers":100}}}`))
	if err != nil || p.Profile("acme").MaxIdentifiers != 100 {
		t.Fatalf("maxIdentifiers 100: %v", err)
	}
}

// Every account may use every profile, except one that requires EAB,
// which only an account bound with an EAB key may use.
func TestAllowedFor(t *testing.T) {
	open, eab := &Profile{}, &Profile{RequireEAB: true}
	plain, bound := &core.Account{ID: "a"}, &core.Account{ID: "b", EABKeyID: "kid-1"}
	if !open.AllowedFor(plain) || !open.AllowedFor(bound) {
		t.Fatal("a profile without requireEAB refused an account")
	}
	if eab.AllowedFor(plain) || !eab.AllowedFor(bound) {
		t.Fatal("requireEAB: want only the bound account allowed")
	}
}

func TestALabels(t *testing.T) {
	for _, tc := range []struct {
		in string
		ok bool
	}{
		{"xn--bcher-kva.example", true},
		{"xn--ls8h.example", true},
		{"xn--zz.example", false},   // does not decode
		{"xn--a.example", false},    // decodes to a disallowed rune
		{"xn--abc-.example", false}, // ends in a hyphen
		{"a.xn--9ca.example", true},
	} {
		_, p := Normalize(dns(tc.in))
		if (p == nil) != tc.ok {
			t.Errorf("%q: %v, want accepted %v", tc.in, p, tc.ok)
		}
		if p != nil && tc.ok == false && (p.Type != problem.Malformed || !strings.Contains(p.Detail, tc.in)) {
			t.Errorf("%q: %v, want malformed naming it", tc.in, p)
		}
	}
}
